package gitrepo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/krm"
)

// bigSize makes pkg/big.yaml larger than testLimits allow.
const bigSize = 100 << 10

func testLimits() krm.Limits {
	l := krm.DefaultLimits()
	l.FileBytes = 64 << 10
	return l
}

// treeRepo commits a package with nested directories, an executable, links
// and problems krm reports, and, outside it, entries a checkout cannot
// hold or that a file system must refuse to follow.
func treeRepo(t *testing.T) (*gittest.Repo, string) {
	t.Helper()
	r := gittest.New(t)
	files := gittest.Package("pkg", "v1")
	files["pkg/sub/deep/x.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: y\n"
	files["pkg/sub/a.b"] = "sorted before a directory named a in git, after it by name\n"
	files["pkg/sub/a/c.txt"] = "c\n"
	files["pkg/bad.yaml"] = "key: [unclosed\n"
	files["pkg/big.yaml"] = "x: " + strings.Repeat("y", bigSize) + "\n"
	files["pkg/nested/Kptfile"] = gittest.Kptfile("nested")
	files["pkg/run.sh"] = "#!/bin/sh\necho hi\n"
	files["README.md"] = "readme\n"
	r.Write(files)
	if err := os.Chmod(filepath.Join(r.Dir, "pkg/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.Git("add", "pkg/run.sh")
	r.Symlink("pkg/link.yaml", "config.yaml")
	r.Symlink("pkg/dirlink", "sub/deep")
	r.Symlink("edge/outside", "../../etc/passwd")
	r.Symlink("edge/absolute", "/etc/passwd")
	r.Symlink("edge/loop", "loop")
	r.Symlink("edge/up", "../pkg")
	r.Git("update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("a", 40)+",edge/submodule")
	return r, r.Commit("tree")
}

func TestTreeFS(t *testing.T) {
	ctx := context.Background()
	r, c := treeRepo(t)
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	pkgTree, err := b.TreeID(c, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Rev(c + ":pkg"); pkgTree != got {
		t.Errorf("TreeID(pkg) = %s, want %s", pkgTree, got)
	}
	for _, p := range []string{"", "."} {
		if id, err := b.TreeID(c, p); err != nil || id != r.Rev(c+"^{tree}") {
			t.Errorf("TreeID(%q) = %s, %v", p, id, err)
		}
	}
	for _, p := range []string{"nope", "pkg/Kptfile", "pkg/link.yaml"} {
		if _, err := b.TreeID(c, p); !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("TreeID(%q): %v, want ErrObjectNotFound", p, err)
		}
	}
	for _, p := range []string{"/pkg", "pkg/", "../pkg", "pkg/../pkg", "pkg\n"} {
		if _, err := b.TreeID(c, p); err == nil || errors.Is(err, ErrObjectNotFound) {
			t.Errorf("TreeID(%q): %v, want an invalid path", p, err)
		}
	}

	fsys, err := repo.TreeFS(b, pkgTree)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "Kptfile", "config.yaml", "sub/deep/x.yaml", "sub/a.b", "sub/a/c.txt",
		"run.sh", "link.yaml", "dirlink", "nested/Kptfile", "big.yaml"); err != nil {
		t.Fatal(err)
	}

	root, err := repo.TreeFS(b, c+":")
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]fs.FileMode{
		"pkg":                fs.ModeDir | 0o755,
		"pkg/Kptfile":        0o644,
		"pkg/run.sh":         0o755,
		"pkg/link.yaml":      fs.ModeSymlink | 0o777,
		"edge/submodule":     fs.ModeIrregular,
		"edge/outside":       fs.ModeSymlink | 0o777,
		"pkg/dirlink":        fs.ModeSymlink | 0o777,
		"edge/up/run.sh":     0o755, // a link on the way is followed
		"pkg/dirlink/x.yaml": 0o644,
	}
	for name, want := range modes {
		fi, err := fs.Lstat(root, name)
		if err != nil {
			t.Errorf("Lstat(%s): %v", name, err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("Lstat(%s).Mode() = %v, want %v", name, fi.Mode(), want)
		}
	}
	if fi, err := fs.Stat(root, "pkg/big.yaml"); err != nil || fi.Size() != int64(len("x: ")+bigSize+1) {
		t.Errorf("Stat(big.yaml) = %v, %v", fi, err)
	}
	if fi, err := fs.Lstat(root, "pkg/link.yaml"); err != nil || fi.Size() != int64(len("config.yaml")) {
		t.Errorf("Lstat(link.yaml) = %v, %v", fi, err)
	}
	if fi, err := fs.Stat(root, "pkg/dirlink"); err != nil || !fi.IsDir() || fi.Name() != "dirlink" {
		t.Errorf("Stat(dirlink) = %v, %v", fi, err)
	}
	if data, err := fs.ReadFile(root, "edge/up/dirlink/x.yaml"); err != nil || !strings.Contains(string(data), "kind: Secret") {
		t.Errorf("ReadFile through two links = %q, %v", data, err)
	}
	if target, err := fs.ReadLink(root, "edge/outside"); err != nil || target != "../../etc/passwd" {
		t.Errorf("ReadLink(outside) = %q, %v", target, err)
	}
	if _, err := fs.ReadLink(root, "pkg/Kptfile"); err == nil {
		t.Error("ReadLink of a regular file succeeded")
	}
	for _, name := range []string{"edge/outside", "edge/absolute", "edge/outside/x"} {
		if _, err := fs.Stat(root, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%s) = %v, want ErrNotExist: the link leaves the tree", name, err)
		}
	}
	if _, err := fs.ReadFile(root, "edge/loop"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("ReadFile(loop) = %v", err)
	}
	if data, err := fs.ReadFile(root, "edge/submodule"); err != nil || len(data) != 0 {
		t.Errorf("ReadFile(submodule) = %q, %v", data, err)
	}
	for _, name := range []string{"pkg/Kptfile/x", "pkg/../README.md", "/pkg", "pkg/", "nope"} {
		if _, err := root.Open(name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}

	// A directory entry's size is the blob's, asked of git when Info is called.
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "big.yaml" {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != bigSize+4 {
			t.Errorf("big.yaml: Info() = %v, %v", fi, err)
		}
	}

	if _, err := repo.TreeFS(b, c+":pkg/Kptfile"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("TreeFS of a blob: %v", err)
	}
	other, err := Open(gittest.New(t).Dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.TreeFS(b, pkgTree); err == nil {
		t.Error("TreeFS accepted the batch of another repository")
	}
}

func TestTreeFSConcurrent(t *testing.T) {
	r, c := treeRepo(t)
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.NewBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fsys, err := repo.TreeFS(b, c+":pkg")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
					return err
				}
				if _, err := d.Info(); err != nil {
					return err
				}
				_, err = fs.ReadFile(fsys, p)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestTreeFSLoadsLikeACheckout compares krm's reading of a package from
// git with its reading of the same files checked out.
func TestTreeFSLoadsLikeACheckout(t *testing.T) {
	r, c := treeRepo(t)
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.NewBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fsys, err := repo.TreeFS(b, c+":pkg")
	if err != nil {
		t.Fatal(err)
	}
	fromGit := krm.Load(fsys, testLimits())
	fromDisk := krm.Load(os.DirFS(filepath.Join(r.Dir, "pkg")), testLimits())

	type resource struct {
		File                              string
		Index                             int
		Object                            map[string]any
		APIVersion, Kind, Name, Namespace string
	}
	type summary struct {
		Files     []krm.File
		Resources []resource
		Findings  any
		Kptfile   string
	}
	summarize := func(p *krm.Package) summary {
		var s summary
		for _, f := range p.Files {
			s.Files = append(s.Files, *f)
		}
		for _, r := range p.Resources {
			s.Resources = append(s.Resources, resource{r.File, r.Index, r.Object, r.APIVersion, r.Kind, r.Name, r.Namespace})
		}
		s.Findings = p.Findings
		if p.Kptfile != nil {
			s.Kptfile = p.Kptfile.Path
		}
		return s
	}
	got, want := summarize(fromGit), summarize(fromDisk)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("from git (-checkout +git):\n%s", diff)
	}
	// The package must exercise what it is meant to: links, limits and YAML
	// errors (its subpackage is content, read as the rest).
	var checks []string
	for _, f := range fromGit.Findings {
		checks = append(checks, f.Check)
	}
	for _, want := range []string{krm.CheckYAML, krm.CheckLimits, krm.CheckPath} {
		if !strings.Contains(strings.Join(checks, " "), want) {
			t.Errorf("no %s finding in %v", want, fromGit.Findings)
		}
	}
	if len(fromGit.Resources) < 4 {
		t.Errorf("only %d resources", len(fromGit.Resources))
	}
}

func TestTreeFSRefusesBadTrees(t *testing.T) {
	r := gittest.New(t)
	blob := gitInput(t, r, "hash-object", "-w", "--stdin", "content\n")
	bad := gitInput(t, r, "mktree", "100644 blob "+blob+"\t..\n100644 blob "+blob+"\tok\n")
	pkg := gitInput(t, r, "mktree", "040000 tree "+bad+"\tdir\n100644 blob "+blob+"\tKptfile\n")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.NewBatch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fsys, err := repo.TreeFS(b, pkg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.ReadDir(fsys, "dir")
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != "dir" {
		t.Errorf("ReadDir of a tree holding \"..\": %v", err)
	}
	if _, err := fs.Stat(fsys, "dir/ok"); err == nil {
		t.Error("a file of a tree holding \"..\" was found")
	}
	pkgRead := krm.Load(fsys, krm.DefaultLimits())
	found := false
	for _, f := range pkgRead.Findings {
		found = found || (f.Check == krm.CheckPath && f.File != nil && f.File.Path == "dir")
	}
	if !found {
		t.Errorf("krm did not report the bad tree: %+v", pkgRead.Findings)
	}
}

// gitInput runs git with standard input and returns its trimmed output.
func gitInput(t *testing.T, r *gittest.Repo, args ...string) string {
	t.Helper()
	in := args[len(args)-1]
	cmd := (&Repo{gitDir: r.GitDir()}).command(context.Background(), args[:len(args)-1]...)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
