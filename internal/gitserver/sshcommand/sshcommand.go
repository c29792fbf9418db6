// Package sshcommand reads the command line an SSH client asks the git host
// to run. It is the one parser of that untrusted line, kept apart from the
// SSH server so that it builds, and is fuzzed, without the server's
// dependencies.
package sshcommand

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The services the git host runs.
const (
	UploadPack  = "git-upload-pack"
	ReceivePack = "git-receive-pack"
)

// ErrNotGit is the refusal of any command but the two git services.
var ErrNotGit = errors.New("this server runs git-upload-pack and git-receive-pack only")

// Parse reads what git clients send: `git-upload-pack '/ns/repo.git'` (the
// path single-quoted, as git quotes it, or bare). The path it returns is
// not empty and holds no quote, backslash, space or control character;
// whether it names a repository is the caller's to check.
func Parse(raw string) (service, path string, err error) {
	service, arg, ok := strings.Cut(strings.TrimSpace(raw), " ")
	if !ok || (service != UploadPack && service != ReceivePack) {
		return "", "", ErrNotGit
	}
	arg = strings.TrimSpace(arg)
	if len(arg) >= 2 && arg[0] == '\'' && arg[len(arg)-1] == '\'' {
		arg = arg[1 : len(arg)-1]
	}
	if arg == "" || !utf8.ValidString(arg) || strings.IndexFunc(arg, forbidden) >= 0 {
		return "", "", fmt.Errorf("invalid repository path %q", arg)
	}
	return service, arg, nil
}

// forbidden are the runes a path may not hold: those of shell quoting, and
// any space or control character.
func forbidden(r rune) bool {
	return r == '\'' || r == '"' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r)
}
