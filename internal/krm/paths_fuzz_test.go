package krm

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzValidName checks the names of directory entries the loader accepts:
// a name accepted is one element, which joined below a directory stays
// directly in it.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a.yaml", ".", "..", "a/b", "a\x00", "", "...", ".git", `a\b`, "Kptfile", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !validName(name) {
			return
		}
		if !fs.ValidPath(name) || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			t.Fatalf("validName(%q) accepts a name that is not one element", name)
		}
		if j := path.Join("dir", name); path.Dir(j) != "dir" || path.Base(j) != name {
			t.Fatalf("validName(%q): joined below dir it is %q", name, j)
		}
	})
}

// FuzzResolveLink resolves links of arbitrary trees (two links and a
// file): resolution never panics and ends, what it resolves to is a path
// inside the package, and when the operating system resolves the same tree
// checked out on disk, it agrees: a link resolveLink keeps never leads the
// OS outside the package.
func FuzzResolveLink(f *testing.F) {
	f.Add("passwd.yaml", "a/b/c/d/e/f/g/h/up/../../../../../../../../../etc/passwd",
		"a/b/c/d/e/f/g/h/up", "../../../../../../../..", "a/b/c/d/e/f/g/h/keep")
	f.Add("in.yaml", "out/pkg/Kptfile", "out", "..", "Kptfile")
	f.Add("l", "d/deep/../z.yaml", "d/deep", "../x/y", "x/y/z.yaml")
	f.Add("a", "b", "b", "a", "c")
	f.Add("l", "dir/f", "dir", "x", "x/f")
	f.Add("l", "missing/../up/x", "up", "..", "f")
	f.Add("l", "f/../../x", "m", "f", "f")
	f.Add("a/l", "../a/b/./c", "x", "/etc", "a/b/c")
	// One directory for every input's tree, without the links of the
	// temporary directory's own path.
	base, err := filepath.EvalSymlinks(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, link1, target1, link2, target2, file string) {
		paths := []string{link1, link2, file}
		for i, p := range paths {
			if !fs.ValidPath(p) || p == "." || len(p) > 100 || strings.ContainsAny(p, "\x00\\") {
				return
			}
			for _, q := range paths[:i] {
				if p == q || strings.HasPrefix(p, q+"/") || strings.HasPrefix(q, p+"/") {
					return // one path is another's or below it
				}
			}
		}
		if len(target1) > 200 || len(target2) > 200 {
			return
		}
		fsys := fstest.MapFS{link1: link(target1), link2: link(target2), file: {Data: []byte("x")}}
		got, err := resolveLink(fsys, link1, new(MaxPackageLinkSteps))
		if err != nil {
			var esc *linkEscape
			var dd *dotDotMissing
			if !errors.As(err, &esc) && !errors.As(err, &dd) && !errors.Is(err, errTooManyLinks) && !errors.Is(err, errTooManySteps) {
				t.Fatalf("resolveLink: unexpected error %v", err)
			}
			return
		}
		if got != "." {
			for _, elem := range strings.Split(got, "/") {
				if elem == "" || elem == "." || elem == ".." {
					t.Fatalf("resolveLink(%q) = %q, not a path inside the package", link1, got)
				}
			}
		}

		// Check the tree out at root/out/pkg, with files outside it, and
		// let the OS resolve the link.
		if strings.ContainsRune(target1+target2, 0) {
			return
		}
		root, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(root)
		pkg := filepath.Join(root, "out", "pkg")
		for _, p := range []string{filepath.Join(root, "secret"), filepath.Join(root, "out", "secret")} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range []struct{ p, target string }{{link1, target1}, {link2, target2}, {file, ""}} {
			full := filepath.Join(pkg, filepath.FromSlash(e.p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return // a path below a link: git would not check it out either
			}
			if e.p == file {
				err = os.WriteFile(full, []byte("x"), 0o644)
			} else {
				err = os.Symlink(e.target, full)
			}
			if err != nil {
				return
			}
		}
		real, err := filepath.EvalSymlinks(filepath.Join(pkg, filepath.FromSlash(link1)))
		if err != nil {
			return // dangling for the OS, or a loop
		}
		rel, err := filepath.Rel(pkg, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			t.Fatalf("resolveLink(%q) = %q, but the OS resolves it to %s, outside the package", link1, got, real)
		}
		if filepath.ToSlash(rel) != got {
			t.Fatalf("resolveLink(%q) = %q, but the OS resolves it to %q", link1, got, rel)
		}
	})
}
