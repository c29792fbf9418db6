package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"
)

// NewReplicaID returns the id a process holds leases under: its host name,
// for people reading the database, and random bits that tell apart two
// processes on one host, or one process and its restart.
func NewReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "pkgserver"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// KeepLease renews a lease every third of its length until the returned
// function is called (which waits for the renewals to end). renew reports
// whether the lease is still held; when it is not, the returned context
// is cancelled, so that the work done under the lease stops.
func KeepLease(ctx context.Context, lease time.Duration, renew func(ctx context.Context) (held bool)) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !renew(ctx) {
				cancel()
				return
			}
		}
	}()
	return ctx, func() { cancel(); <-done }
}

// DeliveryLeases let replicas sharing one database process each webhook
// delivery once: a replica claims deliveries (leases them to its id for a
// while), processes them, and records their outcomes under its lease; a
// lease whose replica died expires and another replica claims the
// deliveries again.
type DeliveryLeases interface {
	// ClaimDeliveries leases to owner, until until, at most limit pending
	// deliveries after the one with ID after (0 from the start), oldest
	// first: those whose lease ended by now and those owner holds already. A repository of which another owner holds a
	// pending delivery is left out: one repository's deliveries are
	// processed by one replica at a time, in order.
	ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, after int64, limit int) ([]Delivery, error)
	// HoldDeliveries sets to until the lease of the deliveries owner
	// holds among ids (renewing or shortening it); it returns the ids it
	// no longer holds.
	HoldDeliveries(ctx context.Context, owner string, until time.Time, ids []int64) ([]int64, error)
	// FinishClaimedDeliveries records attempts, as FinishDeliveries does,
	// of the deliveries owner holds: a delivery left pending stays leased
	// to owner until its outcome's RetryAt. It returns the ids of those
	// owner no longer held, whose outcomes it did not record.
	FinishClaimedDeliveries(ctx context.Context, owner string, outcomes []DeliveryOutcome) ([]int64, error)
}

// CheckLeases let replicas sharing one database post each check once.
type CheckLeases interface {
	// ClaimCheck leases a check to owner for its attempt number
	// p.Attempts, recording p (whose NextAttempt is when the lease ends),
	// if the check is still due at now and was tried p.Attempts-1 times;
	// it reports whether it did. A check another replica claimed first is
	// not claimed.
	ClaimCheck(ctx context.Context, id int64, owner string, now time.Time, p CheckPosting) (bool, error)
}

// SyncLeases let replicas sharing one database sync a repository one at a
// time and poll it as often as one replica would.
type SyncLeases interface {
	// ClaimSync leases the sync of a repository to owner until until, if
	// no other owner holds it at now and, for a poll, the repository's
	// next poll is due by now; it reports whether it did, and when the
	// next poll is due (zero if never set).
	ClaimSync(ctx context.Context, repoID int64, owner string, now, until time.Time, poll bool) (bool, time.Time, error)
	// RenewSync extends owner's lease of a repository's sync; false if
	// owner no longer holds it.
	RenewSync(ctx context.Context, repoID int64, owner string, until time.Time) (bool, error)
	// ReleaseSync ends owner's lease and, unless nextPoll is zero, sets
	// when the repository is next polled and counts a poll.
	ReleaseSync(ctx context.Context, repoID int64, owner string, nextPoll time.Time) error
	// NextPoll returns when a repository is next polled (zero if never
	// set) and how many polls were recorded.
	NextPoll(ctx context.Context, repoID int64) (time.Time, int64, error)
}

// PullRequestRefreshes let replicas sharing one database read a
// repository's open pull requests again from its forge as often as one
// replica would.
type PullRequestRefreshes interface {
	// ClaimPullRequestRefresh reports whether the caller is to read a
	// repository's pull requests again now: the refresh is due by now, and
	// its next one is then set to next. Of replicas asking at once, one is
	// told yes.
	ClaimPullRequestRefresh(ctx context.Context, repoID int64, now, next time.Time) (bool, error)
}
