package reconcile

import (
	"context"
	"math/rand/v2"
	"os"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Leases of syncs among replicas sharing one database (docs/scale-out.md,
// Replicas).
const (
	// SyncLease is how long a replica holds the sync of a repository
	// unless it renews it: one that dies while it syncs leaves the
	// repository to the others this long after its last renewal. The
	// lease is renewed every third of it while the sync runs.
	SyncLease = 15 * time.Second
	// claimRetry is the pause between attempts at a sync on demand while
	// another replica syncs the repository.
	claimRetry = 200 * time.Millisecond
	// RescanInterval is how often a scheduler reads the registered
	// repositories again, to sync those registered through another
	// replica and forget those deleted there.
	RescanInterval = 30 * time.Second
)

func (s *Scheduler) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return SyncLease
}

// syncLease is a replica's hold on the sync of a repository.
type syncLease struct {
	s    *Scheduler
	repo *store.Repository
}

// claim takes the sync of a repository: for a poll, only if it is due and
// no other replica syncs it (nil if not); otherwise waiting for the other
// replica's sync to end, since it may have read git before what this sync
// is for.
func (s *Scheduler) claim(ctx context.Context, repo *store.Repository, poll bool) (*syncLease, error) {
	for {
		now := time.Now()
		ok, _, err := s.store.ClaimSync(ctx, repo.ID, s.Owner, now, now.Add(s.lease()), poll)
		if err != nil || ok {
			if ok {
				return &syncLease{s: s, repo: repo}, nil
			}
			return nil, err
		}
		if poll {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(claimRetry):
		}
	}
}

// keep renews the lease until the returned function is called; the
// returned context ends if the lease is lost (another replica took it
// after this one failed to renew in time), so that two replicas do not
// write one repository's index at once.
func (l *syncLease) keep(ctx context.Context) (context.Context, func()) {
	return store.KeepLease(ctx, l.s.lease(), func(ctx context.Context) bool {
		held, err := l.s.store.RenewSync(ctx, l.repo.ID, l.s.Owner, time.Now().Add(l.s.lease()))
		if err == nil && !held {
			l.s.log.Error("the lease of a sync was lost; the sync stops", "repo", l.repo.Object.Namespace+"/"+l.repo.Object.Name)
			return false
		}
		return true
	})
}

// release ends the lease and, after a sync that read git, sets the next
// poll of the repository: every replica's poll loop waits for it.
func (l *syncLease) release(polled bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var next time.Time
	if polled {
		next = time.Now().Add(jittered(interval(l.repo)))
	}
	if err := l.s.store.ReleaseSync(ctx, l.repo.ID, l.s.Owner, next); err != nil {
		l.s.log.Warn("release the lease of a sync", "repo", l.repo.Object.Namespace+"/"+l.repo.Object.Name, "err", err)
	}
}

// interval is how often a repository is polled.
func interval(repo *store.Repository) time.Duration {
	if sy := repo.Object.Spec.Sync; sy != nil && sy.Interval.Duration > 0 {
		return sy.Interval.Duration
	}
	return DefaultSyncInterval
}

// jittered is d ± 10 %.
func jittered(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// untilPoll is how long the poll loop of a repository waits: until the
// next poll the database records, and up to a tenth of the interval more,
// so that replicas do not all ask at once (the first to ask polls).
func (s *Scheduler) untilPoll(ctx context.Context, repo *store.Repository) time.Duration {
	every := interval(repo)
	next, _, err := s.store.NextPoll(ctx, repo.ID)
	if err != nil || next.IsZero() {
		return jittered(every)
	}
	return max(time.Until(next), 0) + max(time.Duration(rand.Float64()*0.1*float64(every)), claimRetry)
}

// cold tells a remote repository whose mirror this replica does not have
// yet (a new replica, or one whose data directory is new).
func (s *GitSource) cold(repo *store.Repository) bool {
	if _, ok := s.localPath(repo); ok || s.MirrorDir == "" {
		return false
	}
	_, err := os.Stat(s.mirrorPath(repo))
	return os.IsNotExist(err)
}
