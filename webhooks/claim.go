package webhooks

import (
	"context"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Leases of deliveries among replicas sharing one database
// (docs/scale-out.md, Replicas).
const (
	// DeliveryLease is how long a claim holds deliveries unless renewed: a
	// replica that dies while it processes a batch leaves the batch to the
	// others this long after it last renewed the claim. The claim is
	// renewed every third of it while the batch is processed.
	DeliveryLease = 15 * time.Second
	// claimPoll is how often a processor looks for deliveries that no
	// receiver of its own woke it for: stored by another replica that is
	// busy or died, or whose lease ended. A look that finds nothing to
	// claim is one read.
	claimPoll = 250 * time.Millisecond
)

func (p *Processor) lease() time.Duration {
	if p.Lease > 0 {
		return p.Lease
	}
	return DeliveryLease
}

// drain processes every pending delivery it can claim; it reports whether
// some failed and wait for another attempt. Deliveries are claimed 100 at
// a time, and a repository that several of them name is synced once for
// all of them. A claim takes no delivery of a repository whose deliveries
// another replica holds: each repository's are processed in order.
func (p *Processor) drain(ctx context.Context) bool {
	failed := false
	var after int64
	for ctx.Err() == nil {
		now := time.Now()
		claimed, err := p.Store.ClaimDeliveries(ctx, p.Owner, now, now.Add(p.lease()), after, batchSize)
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Error("webhooks: claim pending deliveries", "err", err)
			}
			return true
		}
		if len(claimed) == 0 {
			return failed
		}
		stop := p.renew(ctx, claimed)
		tried := p.processBatch(ctx, claimed)
		stop()
		if ctx.Err() != nil {
			// Not recorded: processed again, by another replica at once
			// or here after the restart.
			p.release(claimed)
			return failed
		}
		if p.finish(ctx, claimed, tried) {
			failed = true
		}
		if len(claimed) < batchSize {
			return failed
		}
		// On past this page: deliveries waiting for their next attempt
		// do not hold up those behind them.
		after = claimed[len(claimed)-1].ID
	}
	return failed
}

// finish records the outcomes of a batch under its claim, and holds the
// deliveries not tried until they are due; it reports whether some wait
// for another attempt.
func (p *Processor) finish(ctx context.Context, claimed []store.Delivery, tried []tried) bool {
	failed := false
	outcomes := make([]store.DeliveryOutcome, 0, len(tried))
	done := map[int64]bool{}
	for _, t := range tried {
		done[t.ID] = true
		p.logOutcome(t)
		if t.Done {
			delete(p.next, t.ID)
		} else {
			failed = true
			// Backoff: 5 s, 10 s, 20 s, 40 s between the attempts.
			p.next[t.ID] = time.Now().Add(retryDelay << min(t.d.Attempts, 4))
			t.RetryAt = p.next[t.ID]
		}
		outcomes = append(outcomes, t.DeliveryOutcome)
	}
	if len(outcomes) > 0 {
		lost, err := p.Store.FinishClaimedDeliveries(ctx, p.Owner, outcomes)
		if err != nil {
			p.Log.Error("webhooks: record deliveries", "err", err)
			return true
		}
		if len(lost) > 0 {
			p.Log.Error("webhooks: deliveries processed after their lease ended; another replica processes them again", "deliveries", len(lost))
		}
		p.Log.Info("webhook deliveries processed", "replica", p.Owner, "deliveries", len(outcomes)-len(lost))
	}
	// Those not tried (not due yet, or the server starting) stay claimed
	// here until they are due.
	for _, d := range claimed {
		if done[d.ID] {
			continue
		}
		failed = true
		until, ok := p.next[d.ID]
		if !ok {
			until = time.Now()
		}
		if _, err := p.Store.HoldDeliveries(ctx, p.Owner, until, []int64{d.ID}); err != nil {
			p.Log.Error("webhooks: hold deliveries", "err", err)
		}
	}
	return failed
}

// renew renews the claim of a batch while it is processed, until the
// returned function is called.
func (p *Processor) renew(ctx context.Context, claimed []store.Delivery) (stop func()) {
	ids := deliveryIDs(claimed)
	// A lost claim stops nothing here: the outcomes of the deliveries lost
	// are not recorded (finish), and their new holder processes them.
	_, stop = store.KeepLease(ctx, p.lease(), func(ctx context.Context) bool {
		lost, err := p.Store.HoldDeliveries(ctx, p.Owner, time.Now().Add(p.lease()), ids)
		switch {
		case err != nil && ctx.Err() == nil:
			p.Log.Warn("webhooks: renew the claim of deliveries", "err", err)
		case len(lost) > 0:
			p.Log.Error("webhooks: the claim of deliveries ended while they were processed", "deliveries", len(lost))
		}
		return true
	})
	return stop
}

// deliveryIDs are the ids of deliveries.
func deliveryIDs(ds []store.Delivery) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

// release ends the claim of deliveries not processed, so that another
// replica takes them at once rather than when the lease ends.
func (p *Processor) release(claimed []store.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = p.Store.HoldDeliveries(ctx, p.Owner, time.Now(), deliveryIDs(claimed))
}
