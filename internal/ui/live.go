package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Live pages: a page of the index (repositories, a repository, a
// revision) listens to /ui/events, a stream of server-sent events saying
// that what the page shows changed since the resource version it was
// rendered at. A list then fetches itself again and swaps its content in
// (ui.js, with htmx), as the signed-in person; a revision's page says that
// it changed and offers a reload, since its buttons act on the version it
// shows. An event tells no data, only that the page's own scope changed.

// liveInterval is the least time between two events of a stream: a burst
// of pushes refreshes a page once a second at most.
const liveInterval = time.Second

// liveHeartbeat keeps idle streams open through proxies; at each one the
// stream's session is checked again, so that signing out or deleting the
// token ends it.
const liveHeartbeat = 25 * time.Second

// maxStreams bounds the event streams one token holds open at once.
const maxStreams = 16

// liveScope is what a page shows: a namespace ("" for all), a repository
// and a revision name ("" for all of them); Kind is "list" or "revision";
// RV is the resource version the page was rendered at.
type liveScope struct {
	Kind, Namespace, Repository, Name string
	RV                                int64
}

// Events is the stream's URL for the page.
func (sc *liveScope) Events() string {
	q := url.Values{"rv": {strconv.FormatInt(sc.RV, 10)}}
	for k, v := range map[string]string{"ns": sc.Namespace, "repo": sc.Repository, "name": sc.Name} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return Prefix + "events?" + q.Encode()
}

// scope is the live scope of a page about to be rendered: the resource
// version is read before the page's data, so that a change made meanwhile
// is told to the page rather than missed.
func (u *UI) scope(r *http.Request, kind, ns, repo, name string) *liveScope {
	rv, err := u.cfg.Store.ResourceVersion(r.Context())
	if err != nil {
		return nil
	}
	return &liveScope{Kind: kind, Namespace: ns, Repository: repo, Name: name, RV: rv}
}

// live tells subscribers when the index's resource version moves: one
// watcher for all streams of the process, until the server stops.
type live struct {
	changes Changes
	once    sync.Once
	mu      sync.Mutex
	subs    map[chan int64]struct{}
	// streams counts the open streams of each token (by hash).
	streams map[string]int
}

// Changes are what live pages watch: a channel closed at the store's next
// change, the resource version, and the changes of revisions and
// repositories after one.
type Changes interface {
	Changed() <-chan struct{}
	ResourceVersion(ctx context.Context) (int64, error)
	FilteredEvents(ctx context.Context, after int64, limit int, f store.EventFilter) ([]store.Event, error)
	RepositoryEvents(ctx context.Context, after int64, limit int) ([]store.RepositoryEvent, error)
}

// subscribe registers a stream of a token; ok is false when the token
// holds maxStreams already.
func (l *live) subscribe(token string, stopping <-chan struct{}) (ch chan int64, unsubscribe func(), ok bool) {
	l.once.Do(func() { go l.watch(stopping) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams[token] >= maxStreams {
		return nil, nil, false
	}
	if l.subs == nil {
		l.subs, l.streams = map[chan int64]struct{}{}, map[string]int{}
	}
	ch = make(chan int64, 1)
	l.subs[ch] = struct{}{}
	l.streams[token]++
	return ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, ch)
		if l.streams[token]--; l.streams[token] == 0 {
			delete(l.streams, token)
		}
	}, true
}

func (l *live) watch(stopping <-chan struct{}) {
	var last int64
	for {
		changed := l.changes.Changed()
		rv, err := l.changes.ResourceVersion(context.Background())
		if err == nil && rv != last {
			l.publish(rv)
			last = rv
		}
		select {
		case <-changed:
		case <-stopping:
			return
		}
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

// relevant tells whether anything a scope shows changed after a resource
// version: a revision it selects, or (for a list) a repository of it.
func (u *UI) relevant(ctx context.Context, sc liveScope, after int64) (bool, error) {
	evs, err := u.cfg.Store.FilteredEvents(ctx, after, 1, store.EventFilter{Namespace: sc.Namespace, Repository: sc.Repository, Name: sc.Name})
	if errors.Is(err, store.ErrCompacted) || len(evs) > 0 {
		return true, nil
	}
	if err != nil || sc.Name != "" {
		return false, err
	}
	const page = 500
	reps, err := u.cfg.Store.RepositoryEvents(ctx, after, page)
	if errors.Is(err, store.ErrCompacted) || len(reps) == page {
		return true, nil
	}
	for _, e := range reps {
		o := e.Repository
		if (sc.Namespace == "" || o.Namespace == sc.Namespace) && (sc.Repository == "" || o.Name == sc.Repository) {
			return true, nil
		}
	}
	return false, err
}
