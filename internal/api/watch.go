package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/store"
)

// Watches end after this long unless the client asks for less
// (timeoutSeconds), as the Kubernetes API server's do; clients watch again
// from the last resource version.
const (
	defaultWatchTimeout = 30 * time.Minute
	maxWatchTimeout     = time.Hour
	// watchPoll bounds how long a change can go unnoticed if a wake-up is
	// missed (another replica wrote it).
	watchPoll = 5 * time.Second
	// bookmarkInterval is how often a watch that allows bookmarks tells
	// its client how far it has read, as the Kubernetes API server does
	// about once a minute: a client that watches again resumes from there
	// rather than from an event long compacted.
	bookmarkInterval = time.Minute
)

// tokenRecheck is how often an open watch checks that its token is still
// valid: a revoked token's watches end within this time and the
// authenticator's cache of answers (auth.CacheTTL). A variable so that
// tests need not wait for it.
var tokenRecheck = 5 * time.Second

// Event types of a watch beyond the store's.
const (
	eventBookmark = "BOOKMARK"
	eventError    = "ERROR"
)

// watchEvent is one line of a watch: {"type":...,"object":...}.
type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// listParams are the parameters of a list or a watch that are not
// selectors, as the Kubernetes API server reads them.
type listParams struct {
	watch             bool
	sendInitialEvents *bool
	bookmarks         bool
	resourceVersion   string
	match             metav1.ResourceVersionMatch
	timeout           time.Duration
	limit             int
	continueToken     string
}

// parseListParams reads and validates the parameters of a list or watch
// with the Kubernetes API server's own rules: invalid combinations (a
// sendInitialEvents without watch or without resourceVersionMatch
// NotOlderThan, a resourceVersionMatch without resourceVersion, ...) are
// answered 422 Invalid, as it answers them.
func parseListParams(c echo.Context) (*listParams, error) {
	q := c.QueryParams()
	p := &listParams{resourceVersion: q.Get("resourceVersion"), match: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		continueToken: q.Get("continue"), timeout: defaultWatchTimeout}
	boolParam := func(name string) (*bool, error) {
		v := q.Get(name)
		if v == "" {
			return nil, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, badRequest("%s %q: want true or false", name, v)
		}
		return &b, nil
	}
	w, err := boolParam("watch")
	if err != nil {
		return nil, err
	}
	p.watch = w != nil && *w
	if p.sendInitialEvents, err = boolParam("sendInitialEvents"); err != nil {
		return nil, err
	}
	b, err := boolParam("allowWatchBookmarks")
	if err != nil {
		return nil, err
	}
	p.bookmarks = b != nil && *b
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 {
			return nil, badRequest("timeoutSeconds %q: want a non-negative integer", ts)
		}
		if n > 0 {
			p.timeout = min(time.Duration(n)*time.Second, maxWatchTimeout)
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, badRequest("limit %q: want a non-negative integer", l)
		}
		p.limit = min(n, maxListLimit)
	}
	opts := internalversion.ListOptions{Watch: p.watch, SendInitialEvents: p.sendInitialEvents, AllowWatchBookmarks: p.bookmarks,
		ResourceVersion: p.resourceVersion, ResourceVersionMatch: p.match, Continue: p.continueToken, Limit: int64(p.limit)}
	if errs := metainternalversionvalidation.ValidateListOptions(&opts, true); len(errs) > 0 {
		causes := make([]metav1.StatusCause, 0, len(errs))
		for _, e := range errs {
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseType(e.Type), Field: e.Field, Message: e.ErrorBody()})
		}
		return nil, invalid("ListOptions", "", causes)
	}
	if p.resourceVersion != "" && p.resourceVersion != "0" {
		if _, err := p.version(); err != nil {
			return nil, err
		}
		if p.continueToken != "" && !p.watch {
			return nil, badRequest("specifying resource version is not allowed when using continue")
		}
	}
	return p, nil
}

// version is the resource version asked for, 0 for none or "0".
func (p *listParams) version() (int64, error) {
	if p.resourceVersion == "" || p.resourceVersion == "0" {
		return 0, nil
	}
	n, err := strconv.ParseInt(p.resourceVersion, 10, 64)
	if err != nil || n <= 0 {
		return 0, badRequest("resourceVersion %q: want a resource version of this server", p.resourceVersion)
	}
	return n, nil
}

// initial tells whether a watch starts with the current objects as ADDED
// events: asked for with sendInitialEvents, and by default (as Kubernetes
// does) without a resource version or with "0".
func (p *listParams) initial() bool {
	if p.sendInitialEvents != nil {
		return *p.sendInitialEvents
	}
	return p.resourceVersion == "" || p.resourceVersion == "0"
}

// checkListVersion answers whether a list read at resource version current
// serves what the client asked for: the index serves its current state
// only, which is not older than any resource version it gave out.
func (p *listParams) checkListVersion(current int64) error {
	want, err := p.version()
	if err != nil || want == 0 {
		return err
	}
	if want > current {
		return tooLargeResourceVersion(want, current)
	}
	if p.match == metav1.ResourceVersionMatchExact && want != current {
		return newStatus(http.StatusGone, metav1.StatusReasonExpired,
			"resource version %d is not served: the index keeps only its current state, at resource version %d (list without resourceVersionMatch=Exact)", want, current)
	}
	return nil
}

// tooLargeResourceVersion is the Kubernetes API server's answer to a
// resource version newer than any it has: clients retry after a second.
func tooLargeResourceVersion(want, current int64) error {
	e := newStatus(http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "Too large resource version: %d, current: %d", want, current)
	e.status.Details = &metav1.StatusDetails{RetryAfterSeconds: 1, Causes: []metav1.StatusCause{{
		Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}}
	return e
}

// change is one change a watch may send: what the object is after it and
// whether it is in the watch's selection before and after.
type change struct {
	resourceVersion int64
	typ             string
	// object builds the object the client is sent; nil when there is
	// nothing to send (its state is gone, and a later change follows).
	object func(ctx context.Context) (any, error)
	// before and after: in the selection before the change (false for an
	// addition) and after it (false for a deletion).
	before, after bool
	// key names the object among the watch's (namespace/name).
	key string
}

// unsent tracks the objects a watch skipped the addition of, because the
// state it added was gone when the watch read it: the client never saw
// them, so their next change is an addition and their deletion nothing.
type unsent map[string]bool

// adjust returns the type of event to send of a change the client would
// otherwise see as typ, and whether to send anything.
func (u unsent) adjust(key, typ string) (string, bool) {
	if !u[key] {
		return typ, true
	}
	switch typ {
	case store.Modified:
		return store.Added, true
	case store.Deleted:
		delete(u, key)
		return "", false
	}
	return typ, true
}

// sent records whether the event of typ for an object was sent (false:
// its state was gone).
func (u unsent) sent(key, typ string, ok bool) {
	switch {
	case ok:
		delete(u, key)
	case typ == store.Added:
		u[key] = true
	}
}

// send turns a change into the event the client must see, as the
// Kubernetes API server's watch cache does: an object entering the
// selection is ADDED, one leaving it DELETED, one that stays MODIFIED, and
// nothing of an object that was never in it.
func (ch change) send() (string, bool) {
	switch {
	case ch.before && ch.after:
		return store.Modified, true
	case ch.after:
		return store.Added, true
	case ch.before:
		return store.Deleted, true
	}
	return "", false
}

// watchSource is what a watch of one resource reads.
type watchSource struct {
	// apiVersion and kind of the resource's objects, for bookmarks.
	apiVersion, kind string
	// list sends the current objects in the selection, through send, and
	// returns the resource version they were read at.
	list func(ctx context.Context, send func(obj any) error) (int64, error)
	// changes returns the changes after a resource version, in order (a
	// page of them; none when there are no more).
	changes func(ctx context.Context, after int64) ([]change, error)
}

// serveWatch streams a watch as newline-delimited JSON events, as the
// Kubernetes API server does: the current objects first when asked (then
// a bookmark marking the end of them when sendInitialEvents asked for it),
// then the changes after the resource version, bookmarks every minute when
// allowed, and an ERROR event (410 Expired) when the resource version is
// older than the changes the index keeps: the client must list again. A
// watch whose token is revoked ends with an ERROR event (401).
func (s *Server) serveWatch(c echo.Context, p *listParams, src watchSource) error {
	ctx := c.Request().Context()
	from, err := p.version()
	if err != nil {
		return err
	}
	current, err := s.store.ResourceVersion(ctx)
	if err != nil {
		return err
	}
	if from > current {
		return tooLargeResourceVersion(from, current)
	}
	if !p.initial() && from == 0 {
		from = current // from now on
	}

	if tableVersion(c.Request()) != "" {
		if _, err := includeObject(c); err != nil {
			return err // before the stream starts, as a Status
		}
	}
	// Once the stream has started, its end is not an error of the request:
	// an error was sent as an ERROR event, or the client is gone.
	w := s.openWatch(c, src, from)
	if p.initial() {
		if err := w.sendInitial(ctx, p); err != nil {
			return nil
		}
	}
	w.resp.Flush()
	_ = w.follow(ctx, p)
	return nil
}

// watchStream is an open watch: the response its events are written to and
// the resource version it has read up to.
type watchStream struct {
	s    *Server
	c    echo.Context
	src  watchSource
	resp *echo.Response
	enc  *json.Encoder
	// from is the resource version the watch has read up to.
	from int64
	// skipped are the objects whose addition the client never saw.
	skipped unsent
}

// openWatch answers the request 200 and returns the stream its events are
// written to, reading from resource version from.
func (s *Server) openWatch(c echo.Context, src watchSource, from int64) *watchStream {
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	resp.Header().Set("Cache-Control", "no-store")
	resp.WriteHeader(http.StatusOK)
	return &watchStream{s: s, c: c, src: src, resp: resp, enc: json.NewEncoder(resp), from: from, skipped: unsent{}}
}

// send writes one event and flushes it to the client. An error means the
// client is gone.
func (w *watchStream) send(typ string, obj any) error {
	if typ != eventBookmark && typ != eventError {
		// kubectl get --watch asks for Tables: a row per event.
		t, err := tableEvent(w.c, obj)
		if err != nil {
			return err
		}
		obj = t
	}
	if err := w.enc.Encode(watchEvent{Type: typ, Object: obj}); err != nil {
		return err
	}
	w.resp.Flush()
	return nil
}

// bookmark tells the client how far the watch has read; initialEnd marks
// the end of the initial events.
func (w *watchStream) bookmark(initialEnd bool) error {
	m := metav1.ObjectMeta{ResourceVersion: strconv.FormatInt(w.from, 10)}
	if initialEnd {
		m.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return w.send(eventBookmark, metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: w.src.apiVersion, Kind: w.src.kind}, ObjectMeta: m})
}

// fail ends the watch on err: the client is sent it as an ERROR event
// (410 Expired when the changes after the resource version are compacted)
// unless it is gone. It returns err, for the caller to stop.
func (w *watchStream) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if errors.Is(err, store.ErrCompacted) {
		_ = w.send(eventError, newStatus(http.StatusGone, metav1.StatusReasonExpired,
			"resource version %d is too old: the changes after it are compacted; list again", w.from).status)
		return err
	}
	_ = w.send(eventError, toStatus(err, w.s.log, w.c.Path()))
	return err
}

// sendInitial sends the current objects as ADDED events, then the bookmark
// marking their end when sendInitialEvents asked for it (a plain one when
// bookmarks are allowed). An error ends the watch.
func (w *watchStream) sendInitial(ctx context.Context, p *listParams) error {
	// The list is read after the resource version asked for (if any), so
	// it is not older than it.
	rv, err := w.src.list(ctx, func(obj any) error { return w.send(store.Added, obj) })
	if err != nil {
		return w.fail(ctx, err)
	}
	w.from = rv
	if p.sendInitialEvents != nil && *p.sendInitialEvents {
		return w.bookmark(true)
	}
	if p.bookmarks {
		return w.bookmark(false)
	}
	return nil
}

// follow sends the changes as they come until the watch ends: the client
// gone, the server stopping, the watch's timeout, or an error (sent as an
// ERROR event).
func (w *watchStream) follow(ctx context.Context, p *listParams) error {
	deadline := time.After(p.timeout)
	var ticks <-chan time.Time
	if p.bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		ticks = t.C
	}
	recheck := time.NewTicker(tokenRecheck)
	defer recheck.Stop()
	bookmarkDue := false
	for {
		changed := w.s.store.Changed()
		// Read before the changes: when there are none after from, every
		// change up to now has been seen, and a bookmark may say so.
		now, err := w.s.store.ResourceVersion(ctx)
		if err != nil {
			return w.fail(ctx, err)
		}
		n, err := w.sendChanges(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			continue // there may be more at once
		}
		w.from = max(w.from, now)
		if bookmarkDue {
			bookmarkDue = false
			if err := w.bookmark(false); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.s.stopping:
			return nil
		case <-deadline:
			return nil
		case <-ticks:
			bookmarkDue = true
		case <-recheck.C:
			if err := w.s.recheckToken(w.c); err != nil {
				return w.fail(ctx, err)
			}
		case <-changed:
		case <-time.After(watchPoll):
		}
	}
}

// sendChanges sends the changes after the resource version read up to (a
// page of them) that the client must see, and returns how many changes
// there were. An error ends the watch.
func (w *watchStream) sendChanges(ctx context.Context) (int, error) {
	changes, err := w.src.changes(ctx, w.from)
	if err != nil {
		return 0, w.fail(ctx, err)
	}
	for _, ch := range changes {
		w.from = max(w.from, ch.resourceVersion)
		typ, ok := ch.send()
		if !ok || ch.object == nil {
			continue
		}
		if typ, ok = w.skipped.adjust(ch.key, typ); !ok {
			continue
		}
		obj, err := ch.object(ctx)
		if err != nil {
			return 0, w.fail(ctx, err)
		}
		w.skipped.sent(ch.key, typ, obj != nil)
		if obj == nil {
			continue
		}
		if err := w.send(typ, obj); err != nil {
			return 0, err
		}
	}
	return len(changes), nil
}

// recheckToken checks an open watch's token again as the request's was, and
// returns the error to end the watch with, or nil to keep it open. Only a
// token no longer valid (revoked or expired) ends it, with the 401 a new
// request gets: clients list and watch again, and are refused. Any other
// error (the store busy during a heavy push) is logged and the token is
// checked again at the next interval: ending every open watch on it would
// send all clients to list again at the worst moment.
func (s *Server) recheckToken(c echo.Context) error {
	err := s.authenticate(func(echo.Context) error { return nil })(c)
	var st *statusError
	if err == nil || errors.As(err, &st) && st.status.Code == http.StatusUnauthorized {
		return err
	}
	s.log.Warn("an open watch's token could not be checked again; the watch stays open", "err", err)
	return nil
}
