package krm

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// MaxLinks is the number of symbolic links the resolution of one link may
// follow, itself included: Linux's bound (MAXSYMLINKS). A link needing more
// is refused as a checkout would fail to open it (ELOOP).
const MaxLinks = 40

// MaxLinkSteps bounds the path elements the resolution of one link walks,
// those of the targets of the links it follows included: each costs a
// lookup in the tree, and 40 targets of 4 KiB each (PATH_MAX) would
// otherwise let one link cost 80,000 of them. Real links walk a few dozen.
const MaxLinkSteps = 4096

// MaxPackageLinkSteps bounds the path elements the resolution of all the
// links of one package walks together. MaxLinkSteps alone would let the
// 10,000 links a package may hold cost 40 million lookups, minutes of CPU
// in a push decision; real packages walk a few thousand. The links left
// once it is spent are errors (errLinksTooCostly).
const MaxPackageLinkSteps = 1 << 16

// errTooManyLinks is the resolution of a link that follows more than
// MaxLinks links, as a loop does.
var errTooManyLinks = fmt.Errorf("too many levels of symbolic links (more than %d)", MaxLinks)

// errTooManySteps is the resolution of a link that walks more than
// MaxLinkSteps path elements.
var errTooManySteps = fmt.Errorf("its way walks more than %d path elements", MaxLinkSteps)

// errLinksTooCostly is the resolution of a link once the package's links
// have walked MaxPackageLinkSteps path elements.
var errLinksTooCostly = fmt.Errorf("the package's symlinks are too costly to check: together they walk more than %d path elements", MaxPackageLinkSteps)

// linkEscape is the resolution of a link that leads outside the package.
type linkEscape struct {
	// target is the link's target; via is the last other link of the
	// chain followed before the way left the package ("" for none), and
	// viaTarget its target.
	target, via, viaTarget string
}

func (e *linkEscape) Error() string {
	if e.via == "" {
		return fmt.Sprintf("symlink points outside the package: %q", e.target)
	}
	return fmt.Sprintf("symlink points outside the package: %q, through the symlink %s to %q", e.target, e.via, e.viaTarget)
}

// dotDotMissing is the resolution of a link whose way applies ".." to an
// element that is not a directory of the tree.
type dotDotMissing struct {
	target, elem string
}

func (e *dotDotMissing) Error() string {
	return fmt.Sprintf("symlink to %q cannot be checked: it applies \"..\" to %s, which is not a directory of the package", e.target, e.elem)
}

// foreignTarget reports whether a link's text names something outside any
// tree whatever the links around it: an absolute path, a Windows drive or
// UNC path, or any backslash (Git for Windows checks links out with
// backslashes as separators, so `..\..\x` leaves the checkout there), NUL,
// or nothing.
func foreignTarget(target string) bool {
	return target == "" || path.IsAbs(target) || strings.ContainsRune(target, '\\') ||
		(len(target) > 1 && target[1] == ':') || strings.ContainsRune(target, 0)
}

// resolveLink returns where the symbolic link at p leads once the tree is
// checked out, as the operating system resolves it: each element of the
// path in turn, an element that is a link replaced by its target read from
// the link's directory, ".." applied to what the links before it resolved
// to (not to the text), at most MaxLinks links followed and MaxLinkSteps
// elements walked. budget is what is left of the package's
// MaxPackageLinkSteps: each element walked takes one from it, and none left
// is errLinksTooCostly.
//
// The package root is the root of fsys. Leaving it at any point is an
// *linkEscape error, even on a way that comes back in: the package is
// checked out under another name, or beside other files, than the ones a
// target could name. Elements that do not exist (a dangling link), or that
// are files where a directory is needed, are taken as written, and the
// link is kept; but ".." applied to such an element is an error
// (a *dotDotMissing error). A checkout fails on it on a case-sensitive file
// system, and on a case-insensitive one, or one that normalizes Unicode,
// the element may name another entry, a link to anywhere: without "..",
// whatever such an element names is below an entry of the package that
// is itself checked. The path returned is relative to the root, "." for
// the root itself.
func resolveLink(fsys fs.ReadLinkFS, p string, budget *int) (string, error) {
	if *budget <= 0 {
		return "", errLinksTooCostly
	}
	target, err := fsys.ReadLink(p)
	if err != nil {
		return "", err
	}
	if foreignTarget(target) {
		return "", &linkEscape{target: target}
	}
	// done holds the elements resolved from the root: directories of the
	// tree, then once missing is set, elements taken as written.
	done := strings.Split(path.Dir(p), "/")
	if done[0] == "." {
		done = done[:0]
	}
	missing := false
	todo := strings.Split(target, "/")
	var via, viaTarget string // the last link followed other than p
	links, steps := 1, 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		if steps++; steps > MaxLinkSteps {
			return "", errTooManySteps
		}
		if *budget--; *budget < 0 {
			return "", errLinksTooCostly
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			if missing {
				return "", &dotDotMissing{target: target, elem: path.Join(done...)}
			}
			if len(done) == 0 {
				return "", &linkEscape{target: target, via: via, viaTarget: viaTarget}
			}
			done = done[:len(done)-1]
			continue
		}
		if missing {
			done = append(done, elem)
			continue
		}
		cur := path.Join(append(done, elem)...)
		if !fs.ValidPath(cur) {
			// Not UTF-8: no entry of a package the loader accepts
			// has such a name (validName), so it names nothing.
			done, missing = append(done, elem), true
			continue
		}
		info, err := fsys.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			done, missing = append(done, elem), true
			continue
		case err != nil:
			return "", err
		case info.Mode()&fs.ModeSymlink != 0:
			if links++; links > MaxLinks {
				return "", errTooManyLinks
			}
			t, err := fsys.ReadLink(cur)
			if err != nil {
				return "", err
			}
			if foreignTarget(t) {
				return "", &linkEscape{target: target, via: cur, viaTarget: t}
			}
			via, viaTarget = cur, t
			// The target is read from the link's directory, which done
			// already is.
			todo = append(strings.Split(t, "/"), todo...)
			continue
		}
		done = append(done, elem)
		missing = !info.IsDir()
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}
