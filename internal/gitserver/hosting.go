package gitserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
)

// Hosting keeps the bare repositories of hosted Repositories below Root, at
// <Root>/<namespace>/<name>.git. Namespaces and names are RFC 1123 labels,
// checked by the API before they reach here, so a path never leaves Root.
type Hosting struct {
	Root string
	// Hook is the command line the hooks run, the hook's name appended:
	// the small forwarding binary, or `pkgserver hook`.
	Hook []string
}

// Path is the git directory of a hosted repository.
func (h *Hosting) Path(namespace, name string) string {
	return filepath.Join(h.Root, namespace, name+".git")
}

// hookNames are the hooks pkgserver installs: only those that do work, as
// each costs a process start on every push.
var hookNames = []string{"pre-receive", "post-receive"}

// Create makes the bare repository of a hosted Repository with its branch
// holding one empty commit, so that a clone has the branch to work from.
// A repository already there (registered before, then deleted from the
// index, which never touches git) is kept and adopted; its hooks are
// brought up to date.
func (h *Hosting) Create(ctx context.Context, namespace, name, branch string) error {
	dir := h.Path(namespace, name)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		// Not Refresh: a push to the repository may be under way.
		return h.update(ctx, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return err
	}
	// Built aside and renamed into place: a crash never leaves half a
	// repository where a hosted one is expected.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+name+".git.tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	steps := [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=" + branch, tmp},
		{"--git-dir=" + tmp, "config", "receive.fsckObjects", "true"},
		{"--git-dir=" + tmp, "config", "core.logAllRefUpdates", "always"},
		{"--git-dir=" + tmp, "config", "uploadpack.allowFilter", "true"},
		{"--git-dir=" + tmp, "config", "http.receivepack", "true"},
		// The server packs refs and objects after pushes, in the
		// background, instead of receive-pack before it answers.
		{"--git-dir=" + tmp, "config", "receive.autogc", "false"},
	}
	for _, args := range steps {
		if _, err := runGit(ctx, "", args...); err != nil {
			return err
		}
	}
	emptyTree, err := runGit(ctx, "", "--git-dir="+tmp, "hash-object", "-w", "-t", "tree", "/dev/null")
	if err != nil {
		return err
	}
	commit, err := runGit(ctx, "", "--git-dir="+tmp, "commit-tree", emptyTree, "-m", "Initialize repository")
	if err != nil {
		return err
	}
	if _, err := runGit(ctx, "", "--git-dir="+tmp, "update-ref", "refs/heads/"+branch, commit, ""); err != nil {
		return err
	}
	if err := h.InstallHooks(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("create hosted repository: %w", err)
	}
	return nil
}

// Refresh brings an existing hosted repository up to date when the server
// starts: it removes what pushes and upkeep interrupted by a crash left
// (see RemoveLeftovers), and updates its hooks and the configuration later
// versions of pkgserver set at creation. It must run only while nothing
// else uses the repository, as at the server's start.
func (h *Hosting) Refresh(ctx context.Context, gitDir string) error {
	if err := RemoveLeftovers(gitDir); err != nil {
		return err
	}
	return h.update(ctx, gitDir)
}

// RemoveLeftovers removes from a git directory what git processes killed
// with the server leave behind, which git itself never removes: the
// quarantines of pushes being received (objects/tmp_objdir-*, each with
// the pushed pack), packs being written (objects/pack/tmp_*), lock files
// of refs and of the repository's files (a stale refs/heads/x.lock would
// refuse every later push to x), and the aside copy of a repository being
// created (.<name>.git.tmp-* beside it). Only names that git and pkgserver
// create for their work under way are removed: nothing else is touched.
func RemoveLeftovers(gitDir string) error {
	var paths []string
	for _, pattern := range []string{
		filepath.Join(gitDir, "objects", "tmp_objdir-*"),
		filepath.Join(gitDir, "objects", "pack", "tmp_*"),
		filepath.Join(gitDir, "objects", "pack", ".tmp-*"),
		filepath.Join(gitDir, "*.lock"),
		filepath.Join(filepath.Dir(gitDir), "."+filepath.Base(gitDir)+".tmp-*"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return err
		}
		paths = append(paths, m...)
	}
	err := filepath.WalkDir(filepath.Join(gitDir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".lock") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove leftover %s: %w", p, err)
		}
	}
	return nil
}

// update brings the hooks and configuration of a hosted repository up to
// date.
func (h *Hosting) update(ctx context.Context, gitDir string) error {
	// The file, not the repository: git would check the directory's owner.
	if _, err := runGit(ctx, "", "config", "--file", filepath.Join(gitDir, "config"), "receive.autogc", "false"); err != nil {
		return err
	}
	return h.InstallHooks(gitDir)
}

// InstallHooks writes pkgserver's hooks into a git directory, replacing
// what was there under those names.
func (h *Hosting) InstallHooks(gitDir string) error {
	if len(h.Hook) == 1 {
		return LinkHooks(gitDir, h.Hook[0])
	}
	return InstallHookScripts(gitDir, h.Hook, hookNames)
}

// LinkHooks makes the pre-receive and post-receive hooks symbolic links to
// program, which tells the hooks apart by the name it is run as: git then
// starts the program itself, not a shell first.
func LinkHooks(gitDir, program string) error {
	dir := filepath.Join(gitDir, "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range hookNames {
		path := filepath.Join(dir, name)
		tmp := path + ".tmp"
		_ = os.Remove(tmp)
		if err := os.Symlink(program, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// InstallHookScripts writes the named hooks, each a shell script running
// command with a hook subcommand: the hook's name is inserted after the
// command's words and before any flags that follow them (words starting
// with "-"), so ["pkgserver","hook","--policy=p"] runs `pkgserver hook
// pre-receive --policy=p`.
func InstallHookScripts(gitDir string, command []string, names []string) error {
	if len(command) == 0 {
		return errors.New("no hook command")
	}
	dir := filepath.Join(gitDir, "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	split := len(command)
	for i, a := range command {
		if strings.HasPrefix(a, "-") {
			split = i
			break
		}
	}
	for _, name := range names {
		var b strings.Builder
		b.WriteString("#!/bin/sh\n# Installed by pkgserver: validates pushes and tells the server of them.\nexec")
		words := append(append(append([]string{}, command[:split]...), name), command[split:]...)
		for _, arg := range words {
			b.WriteString(" " + shellQuote(arg))
		}
		b.WriteString("\n")
		path := filepath.Join(dir, name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(b.String()), 0o755); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes a word for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runGit runs git with a clean environment and returns its output, trimmed.
func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(baseEnv(), "GIT_AUTHOR_NAME=pkgserver", "GIT_AUTHOR_EMAIL=pkgserver@localhost",
		"GIT_COMMITTER_NAME=pkgserver", "GIT_COMMITTER_EMAIL=pkgserver@localhost")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// baseEnv is the whole environment of git processes the host starts
// (gitrepo.CleanEnv): nothing of a client's environment is ever added but
// the protocol version, checked first.
func baseEnv() []string { return gitrepo.CleanEnv() }
