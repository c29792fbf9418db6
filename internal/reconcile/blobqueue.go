package reconcile

import (
	"context"
	"sync"

	"github.com/pkgserver/pkgserver/internal/store"
)

// blobQueue carries blob contents from the goroutine reading them from git
// to the transaction writing them, so that git reads while the index
// writes. It holds at most max bytes (and always at least one blob).
type blobQueue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []queuedBlob
	bytes int64
	max   int64
	done  bool  // the producer finished
	err   error // why the producer stopped early
	gone  bool  // the consumer stopped
	// finished is closed when the producer has returned.
	finished chan struct{}
}

type queuedBlob struct {
	id   string
	data []byte
}

func newBlobQueue(max int64) *blobQueue {
	q := &blobQueue{max: max, finished: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// put queues a blob, waiting while the queue is full. It returns false
// once the consumer stopped.
func (q *blobQueue) put(id string, data []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.gone && len(q.items) > 0 && q.bytes+int64(len(data)) > q.max {
		q.cond.Wait()
	}
	if q.gone {
		return false
	}
	q.items = append(q.items, queuedBlob{id, data})
	q.bytes += int64(len(data))
	q.cond.Broadcast()
	return true
}

// finish marks the end of the blobs, with the error that ended them early.
func (q *blobQueue) finish(err error) {
	q.mu.Lock()
	q.done, q.err = true, err
	q.cond.Broadcast()
	q.mu.Unlock()
	close(q.finished)
}

// close stops the producer and waits until it has returned.
func (q *blobQueue) close() {
	q.stop()
	<-q.finished
}

// stop tells the producer that no more blobs are wanted.
func (q *blobQueue) stop() {
	q.mu.Lock()
	q.gone = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// drain hands every blob to put, in order, until the producer finishes.
func (q *blobQueue) drain(put store.BlobPut) error {
	defer q.stop()
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.done {
			q.cond.Wait()
		}
		items := q.items
		q.items = nil
		q.bytes = 0
		done, err := q.done, q.err
		q.cond.Broadcast()
		q.mu.Unlock()
		for _, b := range items {
			if err := put(b.id, b.data); err != nil {
				return err
			}
		}
		if done && len(items) == 0 {
			return err
		}
		if done {
			continue // take what was queued before finishing
		}
	}
}

// readBlobsAhead starts reading blobs from git into a queue.
func (s *scanner) readBlobsAhead(ctx context.Context, ids []string, max int64) *blobQueue {
	q := newBlobQueue(max)
	go func() {
		err := s.readBlobs(ids, func(id string, data []byte) error {
			if !q.put(id, data) {
				return context.Canceled
			}
			return ctx.Err()
		})
		q.finish(err)
	}()
	return q
}
