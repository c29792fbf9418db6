package gitrepo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestScratch: objects written through a scratch store are read by git
// with the repository's, never land in the repository, and are gone after
// Close; CheckRefs refuses what UpdateRefs would, and changes nothing.
func TestScratch(t *testing.T) {
	ctx := context.Background()
	src := gittest.New(t)
	src.Write(map[string]string{"a/Kptfile": "k"})
	base := src.Commit("base")
	src.Git("branch", "drafts/a")
	g, err := gitrepo.Open(src.Dir)
	if err != nil {
		t.Fatal(err)
	}
	count := src.Git("count-objects", "-v")
	sc, err := g.NewScratch()
	if err != nil {
		t.Fatal(err)
	}
	w := sc.ObjectWriter()
	tree, err := w.BuildTree([]gitrepo.File{{Path: "Kptfile", Data: []byte("kind: Kptfile\n")}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sc.Repo.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	root, err := b.TreeID(base, "")
	if err != nil {
		t.Fatal(err)
	}
	newRoot, err := w.ReplaceTree(b, root, "b", tree)
	if err != nil {
		t.Fatal(err)
	}
	sig := gitrepo.Signature{Name: "pkgserver", When: time.Unix(1700000000, 0)}
	commit, err := w.Commit(gitrepo.CommitData{Tree: newRoot, Parents: []string{base}, Author: sig, Committer: sig, Message: "add b"})
	if err != nil {
		t.Fatal(err)
	}
	if obj, err := b.Read(commit + ":b/Kptfile"); err != nil || string(obj.Data) != "kind: Kptfile\n" {
		t.Errorf("read through the scratch store: %v %v", obj, err)
	}
	if obj, err := b.Read(base + ":a/Kptfile"); err != nil || string(obj.Data) != "k" {
		t.Errorf("the repository's objects through the scratch store: %v %v", obj, err)
	}
	if got := src.Git("count-objects", "-v"); got != count {
		t.Errorf("the repository's objects changed:\n%s\nwas\n%s", got, count)
	}
	refs := src.Git("for-each-ref")
	for _, tc := range []struct {
		name string
		u    revision.RefUpdate
		want error
	}{
		{"new branch", revision.RefUpdate{Ref: "refs/heads/drafts/b/ws", New: commit}, nil},
		{"move", revision.RefUpdate{Ref: "refs/heads/main", Old: base, New: commit}, nil},
		{"exists", revision.RefUpdate{Ref: "refs/heads/main", New: commit}, gitrepo.ErrRefConflict},
		{"moved", revision.RefUpdate{Ref: "refs/heads/main", Old: commit, New: base}, gitrepo.ErrRefConflict},
		{"gone", revision.RefUpdate{Ref: "refs/heads/nothing", Old: base}, gitrepo.ErrRefConflict},
		{"below a branch", revision.RefUpdate{Ref: "refs/heads/drafts/a/ws", New: commit}, gitrepo.ErrRefCollision},
		{"above a branch", revision.RefUpdate{Ref: "refs/heads/drafts", New: commit}, gitrepo.ErrRefCollision},
	} {
		err := sc.Repo.CheckRefs(ctx, []revision.RefUpdate{tc.u})
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := src.Git("for-each-ref"); got != refs {
		t.Errorf("CheckRefs changed refs:\n%s\nwas\n%s", got, refs)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := g.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := b2.Info(commit); !errors.Is(err, gitrepo.ErrObjectNotFound) {
		t.Errorf("the scratch commit after Close: %v", err)
	}
}
