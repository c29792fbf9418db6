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
// streamed, one revision's files read at a time, all from one snapshot of
// the index.
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
				err := s.eachResources(ctx, q, opts, func(list *store.RevisionList) error {
					rv = list.ResourceVersion
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
		var meta metav1.ListMeta
		err := s.eachResources(ctx, q, q.opts, func(list *store.RevisionList) error {
			meta = metav1.ListMeta{ResourceVersion: strconv.FormatInt(list.ResourceVersion, 10), Continue: list.Continue}
			return q.params.checkListVersion(list.ResourceVersion)
		}, rows.Add)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, rows.Table(meta))
	}
	resp := c.Response()
	first := true
	err = s.eachResources(ctx, q, q.opts, func(list *store.RevisionList) error {
		if err := q.params.checkListVersion(list.ResourceVersion); err != nil {
			return err
		}
		meta, err := json.Marshal(metav1.ListMeta{ResourceVersion: strconv.FormatInt(list.ResourceVersion, 10), Continue: list.Continue})
		if err != nil {
			return err
		}
		resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		resp.WriteHeader(http.StatusOK)
		_, err = resp.Write([]byte(`{"kind":"PackageRevisionResourcesList","apiVersion":"` + pkgv1alpha1.APIVersion + `","metadata":` + string(meta) + `,"items":[`))
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
	_, err = resp.Write([]byte("]}\n"))
	return err
}

// eachResources reads the revisions a query selects with their files, from
// one snapshot: head is called with the page first, then each with the
// resources of each revision the label selector matches.
func (s *Server) eachResources(ctx context.Context, q *revisionQuery, opts store.ListOptions, head func(*store.RevisionList) error,
	each func(*pkgv1alpha1.PackageRevisionResources) error) error {
	return s.store.ListResources(ctx, opts, func(list *store.RevisionList, files func(int) (map[string][]byte, error)) error {
		if err := head(list); err != nil {
			return err
		}
		for i := range list.Items {
			r := &list.Items[i]
			pr := revisionObject(*r)
			if !q.matches(&pr) {
				continue
			}
			f, err := files(i)
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
