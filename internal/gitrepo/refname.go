package gitrepo

import (
	"errors"
	"fmt"
	"strings"
)

// ValidateRefName checks a full ref name (refs/heads/x) with git's own
// rules (git check-ref-format) and refuses control characters and
// non-UTF-8 bytes: ref names come from remote repositories and pushes, and
// end up in paths, logs and API objects.
func ValidateRefName(name string) error {
	if !strings.HasPrefix(name, "refs/") {
		return errors.New("ref name must start with refs/")
	}
	if len(name) > 1024 {
		return errors.New("ref name is longer than 1024 bytes")
	}
	if strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock") {
		return fmt.Errorf("ref name %q must not end with /, . or .lock", name)
	}
	for _, bad := range []string{"..", "//", "@{", "/."} {
		if strings.Contains(name, bad) {
			return fmt.Errorf("ref name %q must not contain %q", name, bad)
		}
	}
	if name == "@" {
		return errors.New(`ref name must not be "@"`)
	}
	for _, r := range name {
		switch {
		case r == '\uFFFD':
			return fmt.Errorf("ref name %q is not valid UTF-8", name)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("ref name %q contains a control character", name)
		case strings.ContainsRune(" ~^:?*[\\", r):
			return fmt.Errorf("ref name %q contains %q", name, r)
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".lock") {
			return fmt.Errorf("ref name %q has an invalid component %q", name, seg)
		}
	}
	return nil
}

// ValidatePathElement checks one name of a tree entry: a single path element
// without control characters, so that it can be joined into a path and sent
// to git line by line.
func ValidatePathElement(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid file name %q", name)
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return fmt.Errorf("invalid file name %q", name)
		}
	}
	return nil
}

// ValidateWritePathElement checks a name pkgserver writes into a tree, or
// onto a disk: a valid path element that no system takes for git's own
// directory — ".git" in any case, with the trailing dots or spaces Windows
// drops, its 8.3 short name "git~1", or with the characters HFS+ ignores —
// as git's fsck refuses them.
func ValidateWritePathElement(name string) error {
	if err := ValidatePathElement(name); err != nil {
		return err
	}
	folded := strings.Map(func(r rune) rune {
		switch r {
		case '\u200c', '\u200d', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e',
			'\u206a', '\u206b', '\u206c', '\u206d', '\u206e', '\u206f', '\ufeff':
			return -1 // ignored by HFS+
		}
		return r
	}, strings.ToLower(name))
	folded = strings.TrimRight(folded, ". ")
	if folded == ".git" || folded == "git~1" {
		return fmt.Errorf("the file name %q is reserved: it names git's own directory", name)
	}
	return nil
}
