package hooks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// expiring hands out the test's engines once the decision's context has
// ended (cancel, when set, ends it): what is read next is cut short.
type expiring struct{ cancel context.CancelFunc }

func (e expiring) Engine(ctx context.Context, repo *gitrepo.Repo, b *gitrepo.Batch, policies string) (*validate.Engine, error) {
	eng, err := testService().Engines.Engine(ctx, repo, b, policies)
	if e.cancel != nil {
		e.cancel()
	}
	<-ctx.Done()
	return eng, err
}

// TestDeadlineIsATimeout: a decision whose deadline passes is a timeout,
// never findings of the reads that failed for that reason.
func TestDeadlineIsATimeout(t *testing.T) {
	r := newRepo(t)
	c := commit(r, gittest.Package("nginx", "2"))
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	checker := &hooks.Checker{Packages: withEngines(expiring{})}
	d, err := checker.Check(ctx, &hooks.Push{Repo: repo, Config: root, Role: "write",
		Updates: []revision.RefUpdate{upd(r.Rev("main"), c, mainRef)}})
	if !errors.Is(err, hooks.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check = %v, %v; want ErrTimeout", d, err)
	}
}

// TestCancellationIsNotATimeout: a decision cancelled (the pusher gone,
// the server stopping) is told as a cancellation, not as a timeout, and
// neither is a decision with findings.
func TestCancellationIsNotATimeout(t *testing.T) {
	r := newRepo(t)
	c := commit(r, gittest.Package("nginx", "2"))
	repo, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	checker := &hooks.Checker{Packages: withEngines(expiring{cancel})}
	d, err := checker.Check(ctx, &hooks.Push{Repo: repo, Config: root, Role: "write",
		Updates: []revision.RefUpdate{upd(r.Rev("main"), c, mainRef)}})
	if errors.Is(err, hooks.ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v, %v; want a cancellation, not a timeout", d, err)
	}
}
