package webhooks

import (
	"context"
	"sync"

	"github.com/pkgserver/pkgserver/internal/store"
)

// maxBatch bounds the deliveries stored in one transaction.
const maxBatch = 256

// batcher stores the deliveries of concurrent requests together: each
// request waits until its delivery is committed, but a burst shares one
// transaction, and one sync to disk, instead of paying one each.
type batcher struct {
	st   store.Deliveries
	once sync.Once
	in   chan *queued
}

type queued struct {
	d    *store.Delivery
	done chan stored
}

type stored struct {
	added bool
	err   error
}

// add stores a delivery, durably, and reports whether it was new.
func (b *batcher) add(ctx context.Context, st store.Deliveries, d *store.Delivery) (bool, error) {
	b.once.Do(func() {
		b.st = st
		b.in = make(chan *queued, maxBatch)
		go b.run()
	})
	q := &queued{d: d, done: make(chan stored, 1)}
	select {
	case b.in <- q:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// Once queued, the delivery is stored whether or not the client waits:
	// a client that gave up delivers again, and finds it there.
	select {
	case r := <-q.done:
		return r.added, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// run writes what is queued, as many as are waiting at once. It lives as
// long as the process: a store closed under it fails the writes, which the
// requests answer 500.
func (b *batcher) run() {
	for first := range b.in {
		batch := []*queued{first}
	gather:
		for len(batch) < maxBatch {
			select {
			case q := <-b.in:
				batch = append(batch, q)
			default:
				break gather
			}
		}
		ds := make([]*store.Delivery, len(batch))
		for i, q := range batch {
			ds[i] = q.d
		}
		added, err := b.st.AddDeliveries(context.Background(), ds)
		for i, q := range batch {
			r := stored{err: err}
			if err == nil {
				r.added = added[i]
			}
			q.done <- r
		}
	}
}
