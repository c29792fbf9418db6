package ui

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Live pages: a page of the index (repositories, packages, a revision)
// listens to /ui/events, a stream of server-sent events that says when the
// index changed; the page then fetches itself again and swaps its content
// in (ui.js, with htmx), as the signed-in person. The stream tells no data,
// only that the resource version moved; the page is read again through the
// API, with the person's permissions.

// liveInterval is the least time between two events of a stream: a burst
// of pushes refreshes a page once a second at most.
const liveInterval = time.Second

// liveHeartbeat keeps idle streams open through proxies.
const liveHeartbeat = 25 * time.Second

// live tells subscribers when the index's resource version moves: one
// watcher for all streams of the process.
type live struct {
	changes Changes
	once    sync.Once
	mu      sync.Mutex
	subs    map[chan int64]struct{}
}

// Changes are what live watches: a channel closed at the store's next
// change, and the resource version, which moves only with revisions and
// repositories (not with sessions or webhook deliveries).
type Changes interface {
	Changed() <-chan struct{}
	ResourceVersion(ctx context.Context) (int64, error)
}

func (l *live) subscribe() (chan int64, func()) {
	l.once.Do(func() { go l.watch() })
	ch := make(chan int64, 1)
	l.mu.Lock()
	if l.subs == nil {
		l.subs = map[chan int64]struct{}{}
	}
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// watch runs for the life of the process.
func (l *live) watch() {
	var last int64
	for {
		changed := l.changes.Changed()
		rv, err := l.changes.ResourceVersion(context.Background())
		if err == nil && rv != last {
			if last != 0 {
				l.publish(rv)
			}
			last = rv
		}
		<-changed
	}
}

func (l *live) publish(rv int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs {
		select {
		case <-ch:
		default:
		}
		ch <- rv
	}
}

// events serves a page's stream until the page goes or the server stops.
func (u *UI) events(w http.ResponseWriter, r *http.Request, v *visitor) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ch, unsubscribe := u.live.subscribe()
	defer unsubscribe()
	if _, err := w.Write([]byte("retry: 3000\n\n")); err != nil || rc.Flush() != nil {
		return
	}
	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	var next time.Time
	for {
		var msg string
		select {
		case <-r.Context().Done():
			return
		case <-u.stopping:
			return
		case <-heartbeat.C:
			msg = ": still here\n\n"
		case rv := <-ch:
			if wait := time.Until(next); wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
					return
				case <-u.stopping:
					return
				}
			}
			next = time.Now().Add(liveInterval)
			msg = "event: changed\ndata: " + strconv.FormatInt(rv, 10) + "\n\n"
		}
		if _, err := w.Write([]byte(msg)); err != nil || rc.Flush() != nil {
			return
		}
	}
}
