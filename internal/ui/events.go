package ui

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// events serves a page's stream (?ns=&repo=&name=&rv=) until the page
// goes, its session ends, or the server stops.
func (u *UI) events(w http.ResponseWriter, r *http.Request, v *visitor) {
	q := r.URL.Query()
	sc := liveScope{Namespace: q.Get("ns"), Repository: q.Get("repo"), Name: q.Get("name")}
	rv, err := strconv.ParseInt(q.Get("rv"), 10, 64)
	if err != nil || rv < 0 {
		http.Error(w, "rv: the resource version the page was rendered at", http.StatusBadRequest)
		return
	}
	if !v.may(sc.Namespace, store.RoleRead) {
		http.Error(w, "this token may not read there", http.StatusForbidden)
		return
	}
	ch, unsubscribe, ok := u.live.subscribe(v.token.Hash, u.stopping)
	if !ok {
		http.Error(w, "too many pages open with this token", http.StatusTooManyRequests)
		return
	}
	defer unsubscribe()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(msg string) bool {
		_, err := w.Write([]byte(msg))
		return err == nil && rc.Flush() == nil
	}
	if !send("retry: 3000\n\n") {
		return
	}
	// A change made between the page's rendering and now is told at once.
	if !u.tell(r, sc, &rv, send) {
		return
	}
	heartbeat := time.NewTicker(liveHeartbeat)
	defer heartbeat.Stop()
	var next time.Time
	for {
		select {
		case <-r.Context().Done():
			return
		case <-u.stopping:
			return
		case <-heartbeat.C:
			if _, err := u.visitorOf(r); err != nil || !send(": still here\n\n") {
				return
			}
		case <-ch:
			if wait := time.Until(next); wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
					return
				case <-u.stopping:
					return
				}
			}
			if _, err := u.visitorOf(r); err != nil {
				return
			}
			if !u.tell(r, sc, &rv, send) {
				return
			}
			next = time.Now().Add(liveInterval)
		}
	}
}

// tell sends an event when the scope changed after *rv, and moves *rv to
// the current resource version; false when the page went. An index that
// does not answer tells nothing now: the next change asks again.
func (u *UI) tell(r *http.Request, sc liveScope, rv *int64, send func(string) bool) bool {
	now, err := u.cfg.Store.ResourceVersion(r.Context())
	if err != nil || now == *rv {
		return true
	}
	changed, err := u.relevant(r.Context(), sc, *rv)
	if err != nil {
		return true
	}
	*rv = now
	return !changed || send("event: changed\ndata: "+strconv.FormatInt(now, 10)+"\n\n")
}
