package gitserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/hooks/forward"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// blocking hands out no engine before the decision's context ends: the
// decision runs past its limit.
type blocking struct{}

func (blocking) Engine(ctx context.Context, _ *gitrepo.Repo, _ *gitrepo.Batch, _ string) (*validate.Engine, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// blockingService validates with blocking's engines.
func blockingService() *pkgcheck.Service {
	s := pkgcheck.New(validate.Config{})
	s.Engines = blocking{}
	return s
}

// TestPreReceiveLimit: a decision past the host's limit, and a push that
// waits past it for another push's lock, are refused with messages that
// say which, and that the limit covers waiting and deciding.
func TestPreReceiveLimit(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateRepository(ctx, storetest.NewRepository("default", "catalog")); err != nil {
		t.Fatal(err)
	}
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	before := r.Commit("one")
	r.Write(gittest.Package("nginx", "2"))
	after := r.Commit("two")
	r.Git("update-ref", "refs/heads/main", before)

	h := &Host{Store: st, Pushes: NewPushes(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PreReceiveTimeout: 200 * time.Millisecond}
	newPush := func() *Push {
		return &Push{Namespace: "default", Repository: "catalog", GitDir: r.GitDir(),
			Pusher: Pusher{Name: "alice", Namespace: "default", Role: store.RoleWrite}}
	}
	req := &forward.Request{Updates: []revision.RefUpdate{{Old: before, New: after, Ref: "refs/heads/main"}}}

	t.Run("deciding", func(t *testing.T) {
		push := newPush()
		defer h.Pushes.Unlock(push)
		resp := h.preReceive(ctx, push, req, &hooks.Checker{Packages: blockingService()})
		want := []string{
			"pkgserver: the push could not be decided within 200ms, the limit of a push's decision (waiting for other pushes to the repository included); nothing was updated",
			"pkgserver: the push is refused",
		}
		if resp.Accept || !slices.Equal(resp.Messages, want) {
			t.Errorf("response = %v %q, want refused with %q", resp.Accept, resp.Messages, want)
		}
	})
	t.Run("waiting", func(t *testing.T) {
		holder := newPush()
		if err := h.Pushes.Lock(ctx, holder, 0); err != nil {
			t.Fatal(err)
		}
		defer h.Pushes.Unlock(holder)
		resp := h.preReceive(ctx, newPush(), req, &hooks.Checker{Packages: blockingService()})
		want := []string{
			"pkgserver: another push to default/catalog held the repository past the limit of a push's decision (200ms, waiting for other pushes included); nothing was updated",
			"pkgserver: the push is refused",
		}
		if resp.Accept || !slices.Equal(resp.Messages, want) {
			t.Errorf("response = %v %q, want refused with %q", resp.Accept, resp.Messages, want)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		holder := newPush()
		if err := h.Pushes.Lock(ctx, holder, 0); err != nil {
			t.Fatal(err)
		}
		defer h.Pushes.Unlock(holder)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := h.Pushes.Lock(cctx, newPush(), 0)
		if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock = %v, want the cancellation", err)
		}
	})
}
