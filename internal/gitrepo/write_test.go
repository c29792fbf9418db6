package gitrepo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestWriteObjects: trees and commits written by pkgserver are what git
// itself would write (fsck finds nothing), and ref transactions are all or
// nothing.
func TestWriteObjects(t *testing.T) {
	ctx := context.Background()
	src := gittest.New(t)
	src.Write(map[string]string{"a/b/Kptfile": "k", "a/x.yaml": "x", "top": "t"})
	base := src.Commit("base")
	g, err := gitrepo.Open(src.Dir)
	if err != nil {
		t.Fatal(err)
	}
	w := g.NewObjectWriter()
	pkg, err := w.BuildTree([]gitrepo.File{{Path: "Kptfile", Data: []byte("kind: Kptfile\n")}, {Path: "sub/cm.yaml", Data: []byte("a: 1\n")},
		{Path: "run.sh", Data: []byte("#!/bin/sh\n"), Mode: gitrepo.ModeExec}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	root, err := b.TreeID(base, "")
	if err != nil {
		t.Fatal(err)
	}
	added, err := w.ReplaceTree(b, root, "a/new/pkg", pkg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0).UTC()
	sig := gitrepo.Signature{Name: "pkgserver", Email: "pkgserver@localhost", When: now}
	c1, err := w.Commit(gitrepo.CommitData{Tree: added, Parents: []string{base}, Author: sig, Committer: sig, Message: "add a/new/pkg"})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Git("ls-tree", "-r", "--name-only", c1); got != "a/b/Kptfile\na/new/pkg/Kptfile\na/new/pkg/run.sh\na/new/pkg/sub/cm.yaml\na/x.yaml\ntop" {
		t.Errorf("tree of the commit:\n%s", got)
	}
	if mode := src.Git("ls-tree", c1, "a/new/pkg/run.sh"); mode[:6] != "100755" {
		t.Errorf("executable mode lost: %s", mode)
	}
	removed, err := w.ReplaceTree(b, added, "a/b", "")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := w.Commit(gitrepo.CommitData{Tree: removed, Parents: []string{c1}, Author: sig, Committer: sig, Message: "remove a/b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Git("ls-tree", "-r", "--name-only", c2); got != "a/new/pkg/Kptfile\na/new/pkg/run.sh\na/new/pkg/sub/cm.yaml\na/x.yaml\ntop" {
		t.Errorf("tree after removal:\n%s", got)
	}
	src.Git("fsck", "--strict", "--no-dangling")

	// All or nothing: the second update expects a ref that is elsewhere.
	err = g.UpdateRefs(ctx, []revision.RefUpdate{{Ref: "refs/heads/one", New: c1}, {Ref: "refs/heads/main", Old: c1, New: c2}})
	if !errors.Is(err, gitrepo.ErrRefConflict) {
		t.Fatalf("stale old value: %v", err)
	}
	if refs, _ := g.RefsNamed(ctx, "refs/heads/one"); len(refs) != 0 {
		t.Errorf("a ref of a failed transaction was created")
	}
	if err := g.UpdateRefs(ctx, []revision.RefUpdate{{Ref: "refs/heads/one", New: c1}, {Ref: "refs/heads/main", Old: base, New: c2}}); err != nil {
		t.Fatal(err)
	}
	if err := g.UpdateRefs(ctx, []revision.RefUpdate{{Ref: "refs/heads/one", New: c2}}); !errors.Is(err, gitrepo.ErrRefConflict) {
		t.Errorf("creating an existing ref: %v", err)
	}
	if err := g.UpdateRefs(ctx, []revision.RefUpdate{{Ref: "refs/heads/one", Old: c1}}); err != nil {
		t.Errorf("delete: %v", err)
	}
	if src.Rev("main") != c2 {
		t.Errorf("main not moved")
	}
}

// TestWriteObjectTwice: an object the store holds loose is not written
// again (here its store could not take a new one), and its id is git's.
func TestWriteObjectTwice(t *testing.T) {
	src := gittest.New(t)
	g, err := gitrepo.Open(src.Dir)
	if err != nil {
		t.Fatal(err)
	}
	w := g.NewObjectWriter()
	id, err := w.Blob([]byte("data\n"))
	if err != nil {
		t.Fatal(err)
	}
	if id != "1269488f7fb1f4b56a8c0e5eb48cecbfadfa9219" { // git hash-object of "data\n"
		t.Errorf("blob id %s", id)
	}
	// A write makes its temporary file in objects/pack: a file there in
	// place of the directory makes every write fail.
	pack := filepath.Join(g.GitDir(), "objects", "pack")
	if err := os.RemoveAll(pack); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pack, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Blob([]byte("new\n")); err == nil {
		t.Fatal("a new object was written where none can be")
	}
	again, err := w.Blob([]byte("data\n"))
	if err != nil || again != id {
		t.Fatalf("second write: %s, %v; first %s", again, err, id)
	}
	if err := os.Remove(pack); err != nil {
		t.Fatal(err)
	}
	if got := src.Git("cat-file", "-p", id); got != "data" {
		t.Errorf("git reads %q", got)
	}
}
