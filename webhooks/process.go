package webhooks

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Syncer brings a repository up to date with its remote.
type Syncer interface {
	SyncNow(ctx context.Context, namespace, name string) error
}

// Processor works through stored deliveries in order, after a restart too.
type Processor struct {
	Store  store.Store
	Syncer Syncer
	Log    *slog.Logger
	wake   chan struct{}
}

// maxAttempts is how often a delivery whose processing fails is tried;
// retryDelay the pause before the pending ones are tried again.
const (
	maxAttempts = 5
	retryDelay  = 5 * time.Second
)

// NewProcessor returns a processor; Run starts it.
func NewProcessor(st store.Store, syncer Syncer, log *slog.Logger) *Processor {
	return &Processor{Store: st, Syncer: syncer, Log: log, wake: make(chan struct{}, 1)}
}

// Notify wakes the processor: a delivery was stored.
func (p *Processor) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run processes deliveries until ctx ends: those left from before a
// restart first, then each as it is stored.
func (p *Processor) Run(ctx context.Context) {
	for {
		failed := p.drain(ctx)
		var retry <-chan time.Time
		if failed {
			retry = time.After(retryDelay)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-retry:
		}
	}
}

// drain processes every pending delivery; it reports whether some failed
// and wait for another attempt.
func (p *Processor) drain(ctx context.Context) bool {
	failed := false
	for ctx.Err() == nil {
		pending, err := p.Store.PendingDeliveries(ctx, 100)
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Error("webhooks: read pending deliveries", "err", err)
			}
			return true
		}
		progress := false
		for _, d := range pending {
			if ctx.Err() != nil {
				return failed
			}
			err := p.process(ctx, &d)
			done := err == nil || d.Attempts+1 >= maxAttempts || errors.Is(err, errMalformed)
			reason := ""
			if err != nil {
				reason = err.Error()
				p.Log.Warn("webhook delivery failed", "forge", d.Forge, "delivery", d.DeliveryID, "attempt", d.Attempts+1, "err", err, "given_up", done)
				failed = failed || !done
			}
			if ctx.Err() != nil {
				return failed // not recorded: processed again after the restart
			}
			if err := p.Store.FinishDelivery(ctx, d.ID, done, reason); err != nil {
				p.Log.Error("webhooks: record delivery", "err", err)
				return true
			}
			progress = progress || done
		}
		if len(pending) < 100 || !progress {
			return failed
		}
	}
	return failed
}

var errMalformed = errors.New("malformed payload")

// process acts on one delivery: a delivery that may mean git changed syncs
// the repository, which fetches what the forge has.
func (p *Processor) process(ctx context.Context, d *store.Delivery) error {
	hint, err := Parse(d.Forge, d.Event, d.Payload)
	if err != nil {
		return errors.Join(errMalformed, err)
	}
	if !hint.Sync {
		p.Log.Info("webhook", "forge", d.Forge, "event", d.Event, "delivery", d.DeliveryID, "repo", d.Namespace+"/"+d.Repository, "action", "none")
		return nil
	}
	start := time.Now()
	err = p.Syncer.SyncNow(ctx, d.Namespace, d.Repository)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the repository was deleted since
	}
	p.Log.Info("webhook", "forge", d.Forge, "event", d.Event, "delivery", d.DeliveryID, "repo", d.Namespace+"/"+d.Repository,
		"action", "sync", "duration", time.Since(start), "err", err)
	return err
}
