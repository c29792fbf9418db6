package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// listResources lists or watches the resources of package revisions, with
// the selectors and pages of revisions (they share names and fields).
//
// A list of every revision's resources can be far larger than memory
// allows, and Kubernetes answers a list without limit in full: the list is
// streamed, one revision's files read at a time, in chunks of revisions
// each read in a short read transaction of its own (see eachResources).
func (s *Server) listResources(c echo.Context) error {
	q, err := parseRevisionQuery(c)
	if err != nil {
		return err
	}
	if q.params.watch {
		return s.serveWatch(c, q.params, watchSource{
			apiVersion: pkgv1alpha1.APIVersion, kind: "PackageRevisionResources",
			list: func(ctx context.Context, send func(any) error) (int64, error) {
				opts := q.opts
				opts.Limit, opts.Continue = 0, ""
				var rv int64
				_, err := s.eachResources(ctx, q, opts, true, func(at int64) error {
					rv = at
					return nil
				}, func(obj *pkgv1alpha1.PackageRevisionResources) error { return send(obj) })
				return rv, err
			},
			changes: s.revisionChanges(q, s.eventResources),
		})
	}
	ctx := c.Request().Context()
	if rows, err := resourcesTableBuilder(c); err != nil || rows != nil {
		if err != nil {
			return err
		}
		var rv int64
		// A row counts the files: their content is read only for the
		// objects the Table carries whole.
		cont, err := s.eachResources(ctx, q, q.opts, rows.NeedsContent(), func(at int64) error {
			rv = at
			return q.params.checkListVersion(at)
		}, rows.Add)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, rows.Table(metav1.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10), Continue: cont}))
	}
	resp := c.Response()
	first := true
	var rv int64
	cont, err := s.eachResources(ctx, q, q.opts, true, func(at int64) error {
		if err := q.params.checkListVersion(at); err != nil {
			return err
		}
		rv = at
		resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		resp.WriteHeader(http.StatusOK)
		// The list's metadata follows its items: its continue token is
		// known once they are read.
		_, err := resp.Write([]byte(`{"kind":"PackageRevisionResourcesList","apiVersion":"` + pkgv1alpha1.APIVersion + `","items":[`))
		return err
	}, func(obj *pkgv1alpha1.PackageRevisionResources) error {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		if !first {
			b = append([]byte{','}, b...)
		}
		first = false
		_, err = resp.Write(b)
		return err
	})
	if err != nil {
		if resp.Committed {
			// The answer is under way: the client sees it cut short,
			// which a JSON decoder reports.
			s.log.Error("list of resources cut short", "err", err)
			return nil
		}
		return err
	}
	meta, err := json.Marshal(metav1.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10), Continue: cont})
	if err != nil {
		return err
	}
	_, err = resp.Write([]byte(`],"metadata":` + string(meta) + "}\n"))
	return err
}

// resourcesChunk is how many revisions a list of resources reads in one
// read transaction: one open as long as a slow client takes to read a
// whole list would keep the database's log from being checkpointed.
var resourcesChunk = 100

// eachResources reads the revisions a query selects with their files (with
// their content, or only their paths), resourcesChunk revisions at a time,
// each chunk with its files from one snapshot in a short read transaction:
// head is called once, before anything else, with the resource version of
// the first chunk, then each with the resources of each revision the label
// selector matches. It returns the continue token after the last revision
// read when opts.Limit cut the list short.
//
// The list's resource version is its first chunk's: a watch from it sees
// every change made while the later chunks were read (a revision shown in
// its newer state may be sent again as MODIFIED; one added or deleted
// meanwhile as ADDED or DELETED), and misses none.
func (s *Server) eachResources(ctx context.Context, q *revisionQuery, opts store.ListOptions, content bool, head func(rv int64) error,
	each func(*pkgv1alpha1.PackageRevisionResources) error) (string, error) {
	remaining := opts.Limit
	first := true
	for {
		chunk := opts
		chunk.Limit = resourcesChunk
		if remaining > 0 && remaining < chunk.Limit {
			chunk.Limit = remaining
		}
		var next string
		var n int
		err := s.store.ListResources(ctx, chunk, func(list *store.RevisionList, files func(int, bool) (map[string][]byte, error)) error {
			if first {
				first = false
				if err := head(list.ResourceVersion); err != nil {
					return err
				}
			}
			next, n = list.Continue, len(list.Items)
			for i := range list.Items {
				r := &list.Items[i]
				pr := revisionObject(*r)
				if !q.matches(&pr) {
					continue
				}
				f, err := files(i, content)
				if err != nil {
					return err
				}
				obj, err := s.resourcesOf(ctx, r, f)
				if err != nil {
					return err
				}
				if err := each(obj); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if opts.Limit > 0 {
			if remaining -= n; remaining <= 0 {
				return next, nil
			}
		}
		if next == "" {
			return "", nil
		}
		opts.Continue = next
	}
}

// eventResources is the resources object of a revision as an event
// recorded it, read by its tree. A tree the index no longer holds (the
// revision changed again or is gone) leaves a deleted revision's object
// without resources and sends nothing of a changed one: a later event
// carries its newer state (as an addition when the client never saw the
// revision, see unsent).
func (s *Server) eventResources(ctx context.Context, typ string, r store.Revision) (any, error) {
	files, err := s.store.TreeResources(ctx, r.Tree)
	if isNotFound(err) {
		if typ != store.Deleted {
			return nil, nil
		}
		files, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.resourcesOf(ctx, &r, files)
}
