package krm

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pkgserver/pkgserver/internal/result"
)

// chainFS is the package of a link chain that leaves it: a link eight
// directories down pointing eight levels up (the package root), and a link
// whose text stays inside the package only if read without following it.
func chainFS() fstest.MapFS {
	return fstest.MapFS{
		"Kptfile":                 file(kptfile),
		"a/b/c/d/e/f/g/h/up":      link("../../../../../../../.."),
		"passwd.yaml":             link("a/b/c/d/e/f/g/h/up/../../../../../../../../../etc/passwd"),
		"a/b/c/d/e/f/g/h/keep.md": file("x"),
	}
}

func TestResolveLink(t *testing.T) {
	loop := fstest.MapFS{"self": link("self"), "ping": link("pong"), "pong": link("ping")}
	deep := fstest.MapFS{"target.yaml": file("a: 1\n")}
	// l0 -> l1 -> ... -> l39 -> target.yaml: 40 links, the bound.
	for i := range MaxLinks {
		next := fmt.Sprintf("l%d", i+1)
		if i == MaxLinks-1 {
			next = "target.yaml"
		}
		deep[fmt.Sprintf("l%d", i)] = link(next)
	}
	tooDeep := fstest.MapFS{}
	for k, v := range deep {
		tooDeep[k] = v
	}
	tooDeep["m"] = link("l0")

	for _, tt := range []struct {
		name string
		fsys fstest.MapFS
		link string
		want string // the path resolved, or the error's text
	}{
		{"chain through a link to the root", chainFS(), "passwd.yaml",
			`symlink points outside the package: "a/b/c/d/e/f/g/h/up/../../../../../../../../../etc/passwd", through the symlink a/b/c/d/e/f/g/h/up to "../../../../../../../.."`},
		{"the link to the root stays inside", chainFS(), "a/b/c/d/e/f/g/h/up", "."},
		{"into the package through a link that leaves it", fstest.MapFS{
			"Kptfile": file(kptfile), "out": link(".."), "in.yaml": link("out/pkg/Kptfile")},
			"in.yaml", `symlink points outside the package: "out/pkg/Kptfile", through the symlink out to ".."`},
		{"dot-dot after a link applies to its target", fstest.MapFS{
			"x/y/z.yaml": file("a: 1\n"), "d/deep": link("../x/y"), "l": link("d/deep/../z.yaml")},
			"l", "x/z.yaml"},
		{"sibling", fstest.MapFS{"a/ok.yaml": file(""), "a/s": link("ok.yaml")}, "a/s", "a/ok.yaml"},
		{"up and back in", fstest.MapFS{"a/b/c": file(""), "a/l": link("../a/b/./c")}, "a/l", "a/b/c"},
		{"through a directory link", fstest.MapFS{"x/f": file(""), "dir": link("x"), "l": link("dir/f")}, "l", "x/f"},
		{"text leaves and comes back", fstest.MapFS{"f": file(""), "l": link("../pkg/f")}, "l",
			`symlink points outside the package: "../pkg/f"`},
		{"absolute", fstest.MapFS{"l": link("/etc/passwd")}, "l", `symlink points outside the package: "/etc/passwd"`},
		{"absolute through another", fstest.MapFS{"abs": link("/etc"), "l": link("abs/passwd")}, "l",
			`symlink points outside the package: "abs/passwd", through the symlink abs to "/etc"`},
		{"windows drive", fstest.MapFS{"l": link(`C:\Windows`)}, "l", `symlink points outside the package: "C:\\Windows"`},
		{"empty", fstest.MapFS{"l": link("")}, "l", `symlink points outside the package: ""`},
		{"dangling stays inside", fstest.MapFS{"l": link("missing/file.yaml")}, "l", "missing/file.yaml"},
		// ".." on what is not a directory fails a checkout, or on a
		// case-insensitive file system may follow another entry: refused.
		{"dangling leaves", fstest.MapFS{"l": link("missing/../../x")}, "l",
			`symlink to "missing/../../x" cannot be checked: it applies ".." to missing, which is not a directory of the package`},
		{"through a file", fstest.MapFS{"f": file(""), "l": link("f/../../x")}, "l",
			`symlink to "f/../../x" cannot be checked: it applies ".." to f, which is not a directory of the package`},
		{"case variant of a link", fstest.MapFS{"a/b/up": link("../.."), "f": file(""), "l": link("a/b/UP/../../f")}, "l",
			`symlink to "a/b/UP/../../f" cannot be checked: it applies ".." to a/b/UP, which is not a directory of the package`},
		{"below a missing directory", fstest.MapFS{"l": link("missing/x/./y")}, "l", "missing/x/y"},
		{"self loop", loop, "self", "too many levels of symbolic links (more than 40)"},
		{"two-link loop", loop, "ping", "too many levels of symbolic links (more than 40)"},
		{"forty links", deep, "l0", "target.yaml"},
		{"forty-one links", tooDeep, "m", "too many levels of symbolic links (more than 40)"},
		{"long way", fstest.MapFS{"a/f": file(""), "l": link(strings.Repeat("a/../", 2047) + "a/f")}, "l", "a/f"},
		{"too long a way", fstest.MapFS{"a/f": file(""), "l": link(strings.Repeat("a/../", 2048) + "a/f")}, "l",
			"its way walks more than 4096 path elements"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveLink(tt.fsys, tt.link, new(MaxPackageLinkSteps))
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("resolveLink(%q) = %s, want %s", tt.link, got, tt.want)
			}
		})
	}
}

// TestLoadSymlinkChain loads the package of a chain of links: the link
// whose text stays inside but whose way leaves is an error, the link to
// the package root is kept.
func TestLoadSymlinkChain(t *testing.T) {
	pkg := Load(chainFS(), DefaultLimits())
	var errs []string
	for _, f := range pkg.Findings {
		if f.Severity == result.Error {
			errs = append(errs, f.File.Path+": "+f.Message)
		}
	}
	want := `passwd.yaml: symlink points outside the package: "a/b/c/d/e/f/g/h/up/../../../../../../../../../etc/passwd", through the symlink a/b/c/d/e/f/g/h/up to "../../../../../../../.."`
	if len(errs) != 1 || errs[0] != want {
		t.Fatalf("errors = %q, want [%q]", errs, want)
	}
	var files []string
	for _, f := range pkg.Files {
		files = append(files, f.Path)
	}
	if got := strings.Join(files, " "); got != "Kptfile a/b/c/d/e/f/g/h/keep.md a/b/c/d/e/f/g/h/up" {
		t.Errorf("files = %s", got)
	}
}

// TestLoadSymlinkLoop: a loop is an error, not a hang.
func TestLoadSymlinkLoop(t *testing.T) {
	pkg := Load(fstest.MapFS{"Kptfile": file(kptfile), "a.yaml": link("b.yaml"), "b.yaml": link("a.yaml")}, DefaultLimits())
	n := 0
	for _, f := range pkg.Findings {
		if f.Severity == result.Error {
			n++
			if !strings.Contains(f.Message, "too many levels of symbolic links") {
				t.Errorf("finding %+v", f)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d errors, want one per link of the loop: %+v", n, pkg.Findings)
	}
	if !errors.Is(escapes(fstest.MapFS{"l": link("l")}, "l", new(MaxPackageLinkSteps)), errTooManyLinks) {
		t.Error("a loop's error does not wrap errTooManyLinks")
	}
}

// TestLoadBackslashTarget: a target holding a backslash anywhere is refused,
// as Git for Windows checks `..\..\x` out as a link leaving the checkout.
func TestLoadBackslashTarget(t *testing.T) {
	for _, target := range []string{`..\..\..\Windows\win.ini`, `a\b.yaml`, `\x`} {
		pkg := Load(fstest.MapFS{"Kptfile": file(kptfile), "l.yaml": link(target)}, DefaultLimits())
		var errs []string
		for _, f := range pkg.Findings {
			if f.Severity == result.Error {
				errs = append(errs, f.Message)
			}
		}
		want := fmt.Sprintf("symlink points outside the package: %q", target)
		if len(errs) != 1 || errs[0] != want {
			t.Errorf("target %q: errors = %q, want [%q]", target, errs, want)
		}
	}
}

// lstatCounter counts the lookups made in a tree while resolving links.
type lstatCounter struct {
	fstest.MapFS
	n int
}

func (c *lstatCounter) Lstat(name string) (fs.FileInfo, error) {
	c.n++
	return c.MapFS.Lstat(name)
}

// TestLoadCostlyLinks loads a package of many links, each walking nearly
// MaxLinkSteps elements into and out of a deep directory: resolving them
// all would take millions of lookups. The package's links share one budget
// of MaxPackageLinkSteps; those beyond it are errors.
func TestLoadCostlyLinks(t *testing.T) {
	const deep = "d/1/2/3/4/5/6/7"
	fsys := fstest.MapFS{"Kptfile": file(kptfile), deep + "/f": file("x")}
	var b strings.Builder
	for range MaxLinkSteps/16 - 1 { // 16 elements each
		b.WriteString(deep + "/../../../../../../../../")
	}
	b.WriteString("Kptfile")
	const links = 200
	for i := range links {
		fsys[fmt.Sprintf("l%03d", i)] = link(b.String())
	}
	c := &lstatCounter{MapFS: fsys}
	pkg := Load(c, DefaultLimits())
	if c.n > MaxPackageLinkSteps+MaxLinkSteps {
		t.Errorf("%d lookups to resolve the links, want at most %d", c.n, MaxPackageLinkSteps+MaxLinkSteps)
	}
	costly := 0
	for _, f := range pkg.Findings {
		if f.Severity == result.Error {
			if !strings.Contains(f.Message, "too costly to check") {
				t.Fatalf("finding %+v", f)
			}
			costly++
		}
	}
	if costly == 0 || costly == links {
		t.Errorf("%d of %d links refused as too costly, want some but not all", costly, links)
	}
}
