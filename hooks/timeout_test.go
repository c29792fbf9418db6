package hooks_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// expiring hands out the test's engines and ends the decision's context
// as it does: the deadline passes while the packages are read.
type expiring struct{ cancel context.CancelFunc }

func (e expiring) Engine(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, policies string) (*validate.Engine, error) {
	eng, err := testEngines().Engine(ctx, repo, b, policies)
	e.cancel()
	return eng, err
}

// TestDeadlineIsATimeout: a decision whose time runs out is a timeout,
// never findings of the reads that failed for that reason.
func TestDeadlineIsATimeout(t *testing.T) {
	r := newRepo(t)
	c := commit(r, gittest.Package("nginx", "2"))
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	checker := &hooks.Checker{Engines: expiring{cancel}}
	d, err := checker.Check(ctx, &hooks.Push{Repo: repo, Config: root, Role: "write",
		Updates: []hooks.Update{upd(r.Rev("main"), c, mainRef)}})
	if !errors.Is(err, hooks.ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v, %v; want ErrTimeout", d, err)
	}
}
