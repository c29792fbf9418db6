package api

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/selector"
	"github.com/pkgserver/pkgserver/internal/store"
)

// repositoryFields are the fields of repositories a field selector may
// name, with their values in an object.
var repositoryFields = map[string]func(r *configv1alpha1.Repository) string{
	"metadata.name":      func(r *configv1alpha1.Repository) string { return r.Name },
	"metadata.namespace": func(r *configv1alpha1.Repository) string { return r.Namespace },
	"spec.type":          func(r *configv1alpha1.Repository) string { return r.Spec.Type },
	"spec.provider":      func(r *configv1alpha1.Repository) string { return r.Spec.Provider },
	"spec.deployment":    func(r *configv1alpha1.Repository) string { return strconv.FormatBool(r.Spec.Deployment) },
	"spec.git.branch":    func(r *configv1alpha1.Repository) string { return r.Spec.Git.BranchOrDefault() },
}

// repositoryQuery is a list or watch of repositories, parsed.
type repositoryQuery struct {
	namespace string
	fields    fields.Selector
	labels    labels.Selector
	params    *listParams
}

func (q *repositoryQuery) selects(r *configv1alpha1.Repository) bool {
	if q.namespace != "" && r.Namespace != q.namespace {
		return false
	}
	if q.labels != nil && !q.labels.Matches(labels.Set(r.Labels)) {
		return false
	}
	if q.fields == nil {
		return true
	}
	set := make(fields.Set, len(repositoryFields))
	for name, value := range repositoryFields {
		set[name] = value(r)
	}
	return q.fields.Matches(set)
}

func parseRepositoryQuery(c echo.Context) (*repositoryQuery, error) {
	q := &repositoryQuery{namespace: c.Param("ns")}
	if q.namespace != "" {
		if err := checkNamespace(q.namespace); err != nil {
			return nil, err
		}
	}
	if fs := c.QueryParam("fieldSelector"); fs != "" {
		sel, err := selector.Fields(fs, slices.Sorted(maps.Keys(repositoryFields)))
		if err != nil {
			return nil, badRequest("%v", err)
		}
		for _, r := range sel.Requirements() {
			if r.Field == "metadata.namespace" && r.Value != "" && (r.Operator == "=" || r.Operator == "==") {
				if q.namespace != "" && q.namespace != r.Value {
					return nil, badRequest("fieldSelector metadata.namespace does not match the namespace of the URL")
				}
				q.namespace = r.Value
			}
		}
		q.fields = sel
	}
	if ls := c.QueryParam("labelSelector"); ls != "" {
		sel, err := parseLabelSelector(ls)
		if err != nil {
			return nil, err
		}
		q.labels = sel
	}
	p, err := parseListParams(c)
	if err != nil {
		return nil, err
	}
	q.params = p
	if err := authorize(c, q.namespace, store.RoleRead); err != nil {
		return nil, err
	}
	return q, nil
}

// listRepositories lists or watches repositories. Repositories are few
// (each one a git repository the server syncs): they are read whole and
// selected and paged here.
func (s *Server) listRepositories(c echo.Context) error {
	q, err := parseRepositoryQuery(c)
	if err != nil {
		return err
	}
	if q.params.watch {
		return s.serveWatch(c, q.params, watchSource{
			apiVersion: configv1alpha1.APIVersion, kind: "Repository",
			list: func(ctx context.Context, send func(any) error) (int64, error) {
				rv, repos, err := s.readRepositories(ctx, q.namespace)
				if err != nil {
					return 0, err
				}
				for _, r := range repos {
					obj := s.repositoryObject(r)
					if q.selects(&obj) {
						if err := send(obj); err != nil {
							return 0, err
						}
					}
				}
				return rv, nil
			},
			changes: s.repositoryChanges(q),
		})
	}
	ctx := c.Request().Context()
	var afterNS, afterName string
	if q.params.continueToken != "" {
		if afterNS, afterName, err = store.ParseContinue(q.params.continueToken); err != nil {
			return err
		}
		if q.namespace != "" && afterNS != q.namespace {
			return store.ErrInvalidContinue // a token of another list
		}
	}
	rv, repos, err := s.readRepositories(ctx, q.namespace)
	if err != nil {
		return err
	}
	if err := q.params.checkListVersion(rv); err != nil {
		return err
	}
	list := configv1alpha1.RepositoryList{
		TypeMeta: metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "RepositoryList"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10)},
		Items:    []configv1alpha1.Repository{},
	}
	for _, r := range repos {
		obj := s.repositoryObject(r)
		if afterNS != "" && (obj.Namespace < afterNS || obj.Namespace == afterNS && obj.Name <= afterName) {
			continue
		}
		if !q.selects(&obj) {
			continue
		}
		if q.params.limit > 0 && len(list.Items) == q.params.limit {
			last := list.Items[len(list.Items)-1]
			list.Continue = store.ContinueToken(last.Namespace, last.Name)
			break
		}
		list.Items = append(list.Items, obj)
	}
	return writeJSON(c, http.StatusOK, list)
}

// readRepositories reads the repositories of a namespace ("" for all) in
// the order of lists, with the resource version they are of, in one read
// transaction: a watch from it replays nothing the list shows and misses
// nothing it does not.
func (s *Server) readRepositories(ctx context.Context, namespace string) (int64, []*store.Repository, error) {
	repos, rv, err := s.store.ListRepositoriesAt(ctx, namespace)
	return rv, repos, err
}

// repositoryChanges reads the changes of repositories after a resource
// version as a watch of the query sees them.
func (s *Server) repositoryChanges(q *repositoryQuery) func(ctx context.Context, after int64) ([]change, error) {
	return func(ctx context.Context, after int64) ([]change, error) {
		events, err := s.store.RepositoryEvents(ctx, after, 0)
		if err != nil {
			return nil, err
		}
		out := make([]change, 0, len(events))
		for _, e := range events {
			obj := s.repositoryObject(&store.Repository{Object: e.Repository})
			ch := change{resourceVersion: e.ResourceVersion, typ: e.Type, key: e.Repository.Namespace + "/" + e.Repository.Name,
				object: func(context.Context) (any, error) { return obj, nil }}
			switch e.Type {
			case store.Added:
				ch.after = q.selects(&obj)
			case store.Deleted:
				ch.before = q.selects(&obj)
			default:
				ch.after = q.selects(&obj)
				ch.before = ch.after
				if e.Previous != nil {
					ch.before = q.selects(e.Previous)
				}
			}
			out = append(out, ch)
		}
		return out, nil
	}
}
