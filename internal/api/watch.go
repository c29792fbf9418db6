package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
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
)

// watchEvent is one line of a watch: {"type":...,"object":...}.
type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// watchRevisions streams changes of revisions as newline-delimited JSON.
// Without a resource version (or with "0") it starts with an ADDED event
// per revision that exists; with one it resumes after it, or says with an
// ERROR event (410 Expired) that the client must list again.
func (s *Server) watchRevisions(c echo.Context, q *revisionQuery) error {
	timeout := defaultWatchTimeout
	if ts := c.QueryParam("timeoutSeconds"); ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 {
			return badRequest("timeoutSeconds %q: want a non-negative integer", ts)
		}
		if n > 0 {
			timeout = min(time.Duration(n)*time.Second, maxWatchTimeout)
		}
	}
	var from int64
	initial := false
	switch rv := c.QueryParam("resourceVersion"); rv {
	case "", "0":
		initial = true
	default:
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n < 0 {
			return badRequest("resourceVersion %q: want a resource version of this server", rv)
		}
		from = n
	}
	ctx := c.Request().Context()
	var initialItems []store.Revision
	if initial {
		opts := q.opts
		opts.Limit, opts.Continue = 0, ""
		list, err := s.store.ListRevisions(ctx, opts)
		if err != nil {
			return err
		}
		initialItems, from = list.Items, list.ResourceVersion
	}

	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	resp.Header().Set("Cache-Control", "no-store")
	resp.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(resp)
	send := func(typ string, obj any) error {
		if err := enc.Encode(watchEvent{Type: typ, Object: obj}); err != nil {
			return err
		}
		resp.Flush()
		return nil
	}
	for _, r := range initialItems {
		pr := revisionObject(r)
		if q.matches(&pr) {
			if err := send(store.Added, pr); err != nil {
				return nil
			}
		}
	}
	resp.Flush()
	deadline := time.After(timeout)
	for {
		changed := s.store.Changed()
		events, err := s.store.Events(ctx, from, 0)
		if errors.Is(err, store.ErrCompacted) {
			st := newStatus(http.StatusGone, metav1.StatusReasonExpired, "resource version %d is too old: list again", from).status
			_ = send("ERROR", st)
			return nil
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("watch", "err", err)
				_ = send("ERROR", newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError, "internal error").status)
			}
			return nil
		}
		for _, e := range events {
			from = max(from, e.Revision.ResourceVersion)
			if !q.wants(e.Revision) {
				continue
			}
			pr := revisionObject(e.Revision)
			if !q.matches(&pr) {
				continue
			}
			if err := send(e.Type, pr); err != nil {
				return nil
			}
		}
		if len(events) > 0 {
			continue // there may be more at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			return nil
		case <-deadline:
			return nil
		case <-changed:
		case <-time.After(watchPoll):
		}
	}
}

// wants reports whether a revision meets the query's field conditions.
func (q *revisionQuery) wants(r store.Revision) bool {
	o := q.opts
	return (o.Namespace == "" || o.Namespace == r.Namespace) &&
		(o.Repository == "" || o.Repository == r.Repository) &&
		(o.Package == "" || o.Package == r.Package) &&
		(o.Workspace == "" || o.Workspace == r.Workspace) &&
		(o.Revision == "" || o.Revision == r.Revision.Revision) &&
		(o.Lifecycle == "" || o.Lifecycle == string(r.Lifecycle)) &&
		(o.Latest == nil || *o.Latest == r.Latest)
}
