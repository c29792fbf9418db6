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
	// seen tracks what the client holds, to send an object that enters
	// the selection as ADDED and one that leaves it as DELETED, as the
	// Kubernetes API server does. After an initial list it is exact; a
	// watch resumed from a resource version does not know what matched
	// then, and treats every name it has not seen as possibly held.
	seen := newSeen(initial)
	for _, r := range initialItems {
		pr := revisionObject(r)
		if q.matches(&pr) && q.wants(r) {
			seen.set(pr.Name, true)
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
			if !q.identifies(e.Revision) {
				continue // never in the selection: its name says so
			}
			pr := revisionObject(e.Revision)
			typ, ok := seen.translate(e.Type, pr.Name, q.wants(e.Revision) && q.matches(&pr))
			if !ok {
				continue
			}
			if err := send(typ, pr); err != nil {
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

// seenSet is what a watch's client holds.
type seenSet struct {
	exact bool
	held  map[string]bool // name -> held; absent: unknown unless exact
}

func newSeen(exact bool) *seenSet { return &seenSet{exact: exact, held: map[string]bool{}} }

func (s *seenSet) set(name string, held bool) { s.held[name] = held }

// translate turns a change into the event the client must see, if any:
// matches says whether the revision is in the selection after the change.
func (s *seenSet) translate(typ, name string, matches bool) (string, bool) {
	held, known := s.held[name]
	if !known && s.exact {
		known = true
	}
	switch {
	case typ == store.Deleted:
		s.set(name, false)
		return store.Deleted, matches || held || !known
	case matches:
		s.set(name, true)
		if known && !held {
			return store.Added, true
		}
		return typ, true
	default: // no longer in the selection
		s.set(name, false)
		if held || !known {
			return store.Deleted, true
		}
		return "", false
	}
}

// identifies reports whether a revision meets the query's conditions on
// what its name is made of (namespace, repository, package, workspace):
// those never change for a name.
func (q *revisionQuery) identifies(r store.Revision) bool {
	o := q.opts
	return (o.Namespace == "" || o.Namespace == r.Namespace) &&
		(o.Repository == "" || o.Repository == r.Repository) &&
		(o.Package == "" || o.Package == r.Package) &&
		(o.Workspace == "" || o.Workspace == r.Workspace)
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
