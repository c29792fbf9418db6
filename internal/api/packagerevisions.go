package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/selector"
	"github.com/pkgserver/pkgserver/internal/store"
)

// maxListLimit bounds a page.
const maxListLimit = 10000

func revisionObject(r store.Revision) pkgv1alpha1.PackageRevision {
	pr := pkgv1alpha1.FromRevision(r.Revision, r.Meta, r.Namespace, r.Repository, r.ResourceVersion)
	if r.Validation != nil {
		pr.Status.Conditions = append(pr.Status.Conditions, validatedCondition(r.Validation))
	}
	return pr
}

// validatedCondition tells the outcome of pkgserver's last validation of a
// revision's content. Content it has not validated has no such condition
// (unknown, as Kubernetes reads a missing one): saying so on every one of
// 100,000 revisions would cost lists more than the rest of their status.
func validatedCondition(v *store.Validation) pkgv1alpha1.Condition {
	c := pkgv1alpha1.Condition{Type: pkgv1alpha1.ValidatedCondition}
	if v.Errors > 0 {
		c.Status, c.Reason = pkgv1alpha1.ConditionFalse, "Invalid"
		c.Message = fmt.Sprintf("%s, %s (%s)", result.Plural(v.Errors, "error"), result.Plural(v.Warnings, "warning"), v.At.Format(time.RFC3339))
	} else {
		c.Status, c.Reason = pkgv1alpha1.ConditionTrue, "Valid"
		c.Message = fmt.Sprintf("no errors, %s (%s)", result.Plural(v.Warnings, "warning"), v.At.Format(time.RFC3339))
	}
	return c
}

// storeLabelOperators are the selector operators the store filters on;
// the others (gt, lt) are filtered here only.
var storeLabelOperators = map[selection.Operator]string{
	selection.Equals: store.LabelIn, selection.DoubleEquals: store.LabelIn, selection.In: store.LabelIn,
	selection.NotEquals: store.LabelNotIn, selection.NotIn: store.LabelNotIn,
	selection.Exists: store.LabelExists, selection.DoesNotExist: store.LabelNotExists,
}

// revisionQuery is a list or watch request, parsed.
type revisionQuery struct {
	opts store.ListOptions
	// match is what the store cannot filter on.
	labels labels.Selector
	params *listParams
}

func (q *revisionQuery) matches(pr *pkgv1alpha1.PackageRevision) bool {
	return q.labels == nil || q.labels.Matches(labels.Set(pr.Labels))
}

// parseQuery reads namespace, selectors and paging.
func parseQuery(c echo.Context) (*revisionQuery, error) {
	q := &revisionQuery{opts: store.ListOptions{Namespace: c.Param("ns")}}
	if fs := c.QueryParam("fieldSelector"); fs != "" {
		values, err := selector.Equalities(fs, revisionFields)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		o := &q.opts
		for field, dst := range map[string]*string{"metadata.namespace": &o.Namespace, "metadata.name": &o.Name,
			"spec.repository": &o.Repository, "spec.packageName": &o.Package, "spec.workspaceName": &o.Workspace,
			"spec.revision": &o.Revision, "spec.lifecycle": &o.Lifecycle} {
			v, ok := values[field]
			if !ok {
				continue
			}
			if *dst != "" && *dst != v {
				return nil, badRequest("fieldSelector: %s is given two values", field)
			}
			*dst = v
		}
	}
	if ls := c.QueryParam("labelSelector"); ls != "" {
		sel, err := parseLabelSelector(ls)
		if err != nil {
			return nil, err
		}
		q.labels = sel
		// The latest-revision label is an indexed column: push it down
		// when the selector pins it.
		if reqs, ok := sel.Requirements(); ok {
			for _, r := range reqs {
				if !revision.IsSystemLabel(r.Key()) {
					// Labels of Kptfiles are indexed too.
					if op, ok := storeLabelOperators[r.Operator()]; ok {
						q.opts.Labels = append(q.opts.Labels, store.LabelRequirement{Key: r.Key(), Operator: op, Values: r.ValuesUnsorted()})
					}
					continue
				}
				if r.Key() != pkgv1alpha1.LatestRevisionLabel {
					continue
				}
				latest := r.Matches(labels.Set{r.Key(): "true"})
				notLatest := r.Matches(labels.Set{})
				if latest != notLatest {
					q.opts.Latest = &latest
				}
			}
		}
	}
	p, err := parseListParams(c)
	if err != nil {
		return nil, err
	}
	q.params = p
	q.opts.Limit, q.opts.Continue = p.limit, p.continueToken
	return q, nil
}

// selects reports whether a revision is in the query's selection.
func (q *revisionQuery) selects(r store.Revision) bool {
	if !q.wants(r) {
		return false
	}
	pr := revisionObject(r)
	return q.matches(&pr)
}

// parseRevisionQuery reads a list or watch of revisions or of their
// resources: namespace, selectors, paging.
func parseRevisionQuery(c echo.Context) (*revisionQuery, error) {
	ns := c.Param("ns")
	if ns != "" {
		if err := checkNamespace(ns); err != nil {
			return nil, err
		}
	}
	q, err := parseQuery(c)
	if err != nil {
		return nil, err
	}
	if ns != "" && q.opts.Namespace != ns {
		return nil, badRequest("fieldSelector metadata.namespace does not match the namespace of the URL")
	}
	if err := authorize(c, q.opts.Namespace, store.RoleRead); err != nil {
		return nil, err
	}
	return q, nil
}

// revisionChanges reads the changes of revisions after a resource version
// as a watch of the query sees them; object builds what it is sent of a
// revision (nil: nothing, its state is gone).
func (s *Server) revisionChanges(q *revisionQuery, object func(ctx context.Context, typ string, r store.Revision) (any, error)) func(ctx context.Context, after int64) ([]change, error) {
	return func(ctx context.Context, after int64) ([]change, error) {
		// The store reads only the events of the revisions the query
		// names, if it does.
		events, err := s.store.FilteredEvents(ctx, after, 0, store.EventFilter{Namespace: q.opts.Namespace, Repository: q.opts.Repository, Name: q.opts.Name})
		if err != nil {
			return nil, err
		}
		out := make([]change, 0, len(events))
		for _, e := range events {
			ch := change{resourceVersion: e.Revision.ResourceVersion, typ: e.Type, key: e.Revision.Namespace + "/" + e.Revision.Name}
			// A revision's name says what it is made of (namespace,
			// repository, package, workspace): one whose name is out of
			// the selection never was in it.
			if q.identifies(e.Revision) {
				switch e.Type {
				case store.Added:
					ch.after = q.selects(e.Revision)
				case store.Deleted:
					ch.before = q.selects(e.Revision)
				default:
					ch.after = q.selects(e.Revision)
					ch.before = ch.after
					if e.Previous != nil {
						ch.before = q.selects(*e.Previous)
					}
				}
				typ, r := e.Type, e.Revision
				ch.object = func(ctx context.Context) (any, error) { return object(ctx, typ, r) }
			}
			out = append(out, ch)
		}
		return out, nil
	}
}

func (s *Server) listRevisions(c echo.Context) error {
	q, err := parseRevisionQuery(c)
	if err != nil {
		return err
	}
	if q.params.watch {
		return s.serveWatch(c, q.params, watchSource{
			apiVersion: pkgv1alpha1.APIVersion, kind: "PackageRevision",
			list: func(ctx context.Context, send func(any) error) (int64, error) {
				opts := q.opts
				opts.Limit, opts.Continue = 0, ""
				list, err := s.store.ListRevisions(ctx, opts)
				if err != nil {
					return 0, err
				}
				for _, r := range list.Items {
					pr := revisionObject(r)
					if q.matches(&pr) {
						if err := send(pr); err != nil {
							return 0, err
						}
					}
				}
				return list.ResourceVersion, nil
			},
			changes: s.revisionChanges(q, func(_ context.Context, _ string, r store.Revision) (any, error) { return revisionObject(r), nil }),
		})
	}
	list, err := s.store.ListRevisions(c.Request().Context(), q.opts)
	if err != nil {
		return err
	}
	if err := q.params.checkListVersion(list.ResourceVersion); err != nil {
		return err
	}
	out := pkgv1alpha1.PackageRevisionList{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevisionList"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(list.ResourceVersion, 10), Continue: list.Continue},
		Items:    make([]pkgv1alpha1.PackageRevision, 0, len(list.Items)),
	}
	for _, r := range list.Items {
		pr := revisionObject(r)
		if q.matches(&pr) {
			out.Items = append(out.Items, pr)
		}
	}
	return writeJSON(c, http.StatusOK, out)
}

// getRevision answers a revision by name, from the cache when it was read
// since revisions last changed.
func (s *Server) getRevision(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleRead); err != nil {
		return err
	}
	key := ns + "/" + name
	gen := s.store.RevisionGeneration()
	if b, ok := s.revisions.get(gen, key); ok {
		return writeJSONBytes(c, http.StatusOK, b)
	}
	r, err := s.store.GetRevision(c.Request().Context(), ns, name)
	if isNotFound(err) {
		return notFound("packagerevisions", name)
	}
	if err != nil {
		return err
	}
	b, err := marshalJSON(revisionObject(*r))
	if err != nil {
		return err
	}
	// A write of another process meanwhile ends the generation at the next
	// RevisionGeneration, which asks the database.
	if s.store.KnownRevisionGeneration() == gen {
		s.revisions.put(gen, key, b)
	}
	return writeJSONBytes(c, http.StatusOK, b)
}

func (s *Server) getResources(c echo.Context) error {
	ns, name := c.Param("ns"), c.Param("name")
	if err := authorize(c, ns, store.RoleRead); err != nil {
		return err
	}
	r, err := s.store.GetRevision(c.Request().Context(), ns, name)
	if isNotFound(err) {
		return notFound("packagerevisionresources", name)
	}
	if err != nil {
		return err
	}
	out, err := s.resourcesObject(c, r)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

// resourcesObject reads a revision's files.
func (s *Server) resourcesObject(c echo.Context, r *store.Revision) (*pkgv1alpha1.PackageRevisionResources, error) {
	files, err := s.store.Resources(c.Request().Context(), r.Namespace, r.Name)
	if err != nil {
		return nil, err
	}
	return s.resourcesOf(c.Request().Context(), r, files)
}

// resourcesOf is the resources object of a revision with its files.
func (s *Server) resourcesOf(ctx context.Context, r *store.Revision, files map[string][]byte) (*pkgv1alpha1.PackageRevisionResources, error) {
	res := make(map[string]string, len(files))
	for p, data := range files {
		if !utf8.Valid(data) {
			return nil, newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
				"file %s of %s is not text: resources are served as text", p, r.Name)
		}
		res[p] = string(data)
	}
	// The findings of the last validation of this content (warnings, as
	// errors refuse a write) are kept with it.
	var status *pkgv1alpha1.PackageRevisionResourcesStatus
	if r.Validation != nil {
		repo, err := s.store.GetRepository(ctx, r.Namespace, r.Repository)
		if err != nil {
			return nil, err
		}
		v, err := s.store.Validation(ctx, repo.ID, r.Tree)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if v != nil && len(v.Results) > 0 {
			status = &pkgv1alpha1.PackageRevisionResourcesStatus{}
			if err := json.Unmarshal(v.Results, &status.Results); err != nil {
				return nil, fmt.Errorf("findings of %s: %w", r.Name, err)
			}
		}
	}
	return &pkgv1alpha1.PackageRevisionResources{
		Status:     status,
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevisionResources"},
		ObjectMeta: pkgv1alpha1.ObjectMeta("PackageRevisionResources", r.Revision, r.Namespace, r.ResourceVersion),
		Spec: pkgv1alpha1.PackageRevisionResourcesSpec{
			PackageName: r.Package, WorkspaceName: r.Workspace, Revision: r.Revision.Revision,
			Repository: r.Repository, Resources: res,
		},
	}, nil
}

// identifies reports whether a revision meets the query's conditions on
// what its name is made of (name, namespace, repository, package,
// workspace): those never change for a name.
func (q *revisionQuery) identifies(r store.Revision) bool {
	o := q.opts
	return (o.Name == "" || o.Name == r.Name) &&
		(o.Namespace == "" || o.Namespace == r.Namespace) &&
		(o.Repository == "" || o.Repository == r.Repository) &&
		(o.Package == "" || o.Package == r.Package) &&
		(o.Workspace == "" || o.Workspace == r.Workspace)
}

// wants reports whether a revision meets the query's field conditions.
func (q *revisionQuery) wants(r store.Revision) bool {
	o := q.opts
	return q.identifies(r) &&
		(o.Revision == "" || o.Revision == r.Revision.Revision) &&
		(o.Lifecycle == "" || o.Lifecycle == string(r.Lifecycle)) &&
		(o.Latest == nil || *o.Latest == r.Latest)
}

// revisionFields are the fields of the revisions' field selectors: the
// index answers each by equality.
var revisionFields = []string{"metadata.name", "metadata.namespace", "spec.repository", "spec.packageName",
	"spec.workspaceName", "spec.revision", "spec.lifecycle"}

// parseLabelSelector reads a labelSelector parameter.
func parseLabelSelector(ls string) (labels.Selector, error) {
	sel, err := selector.Labels(ls)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return sel, nil
}
