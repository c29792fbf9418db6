package hooks

import (
	"context"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestOnBranchAsksOfOtherCommits: a commit a decision read for another
// reason (the old commit of a ref, a published revision) is not one the
// push's refs lead to, which alone the one rev-list pass tells about:
// whether it is on the branch is asked of git.
func TestOnBranchAsksOfOtherCommits(t *testing.T) {
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	base := r.Commit("base")
	r.Checkout("--detach")
	r.Write(gittest.Package("nginx", "2"))
	off := r.Commit("off the branch, and off the pushed history")
	r.Checkout("--detach", base)
	r.Write(gittest.Package("nginx", "3"))
	head := r.Commit("pushed")
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := repo.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k := &check{ctx: ctx, cfg: revision.Config{Repository: "r", Branch: "main"}.Normalize(), batch: b, branchTip: base,
		push: &Push{Repo: repo, Role: store.RoleWrite, Updates: []revision.RefUpdate{{Old: revision.ZeroID, New: head, Ref: "refs/heads/feature/x"}}},
		pkgs: map[string]*pkgToValidate{}, ancestors: map[string]bool{}, objs: newObjects()}
	// Read for another reason first: the old commit of a ref, say.
	if err := k.readObjects([]string{off, head}); err != nil {
		t.Fatal(err)
	}
	for commit, want := range map[string]bool{off: false, head: false, base: true} {
		on, err := k.onBranch(commit)
		if err != nil {
			t.Fatal(err)
		}
		if on != want {
			t.Errorf("onBranch(%s) = %v, want %v", commit, on, want)
		}
	}
}
