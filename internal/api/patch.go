package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// PATCH follows kube-apiserver's patch handler
// (k8s.io/apiserver/pkg/endpoints/handlers/patch.go): the patch is applied
// to the object as the API shows it, its field managers are updated, and
// the result is written as a PUT of it would be — same validation, dry run,
// authorization and optimistic concurrency.

// maxPatchAttempts bounds how often a patch that names no resource version
// is applied again to an object that changed under it.
const maxPatchAttempts = 5

// retryable says whether a write failed only because the object changed
// (or appeared) since it was read.
func retryable(err error) bool {
	var se *statusError
	return errors.Is(err, store.ErrConflict) || errors.Is(err, lifecycle.ErrConflict) || errors.Is(err, store.ErrExists) ||
		(errors.As(err, &se) && (se.status.Reason == metav1.StatusReasonConflict || se.status.Reason == metav1.StatusReasonAlreadyExists))
}

// changedMeanwhile is a write refused because the object changed (or
// appeared) between the read the patch was applied to and the write: the
// patch is applied again to the object as it is now.
type changedMeanwhile struct{ err error }

func (e *changedMeanwhile) Error() string { return e.err.Error() }

// fromAPIStatus translates the errors of k8s.io/apimachinery (those of
// the field managers) into Status answers.
func fromAPIStatus(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
		if s.Status == "" {
			s.Status = metav1.StatusFailure
		}
		return &statusError{status: s}
	}
	return err
}

// patchTarget is what a PATCH does with one kind of object. T is the API
// type.
type patchTarget[T any] struct {
	// resource names the objects in errors (repositories, …).
	resource    string
	kind        schema.GroupVersionKind
	subresource string
	// role is the role a write takes.
	role      store.Role
	bodyLimit int
	// get reads the object as the API shows it, with its managed fields;
	// an error satisfying isNotFound when it is not there.
	get func(c echo.Context, ns, name string) (*T, error)
	// create writes a new object (a server-side apply of a missing one);
	// nil: the kind is not created that way.
	create func(c echo.Context, ns string, obj *T, opts writeOptions) (*T, error)
	// replace writes the patched object as a PUT would.
	replace func(c echo.Context, ns, name string, obj *T, opts writeOptions) (*T, error)
	// keepManaged stores the managed fields a written object carries
	// where it does not keep them itself (not in a dry run); nil when it
	// keeps them.
	keepManaged func(c echo.Context, written *T) error
}

// servePatch answers a PATCH: the patch applied to the current object and
// the result written, again if the object changed meanwhile and the patch
// named no resource version.
func servePatch[T any](c echo.Context, t patchTarget[T]) error {
	ns, name := c.Param("ns"), c.Param("name")
	// The writes authorize too; this keeps what is read from those who
	// may not write it.
	if err := authorize(c, ns, t.role); err != nil {
		return err
	}
	req, err := parsePatch(c, t.bodyLimit)
	if err != nil {
		return err
	}
	fm, err := fieldManager(t.kind, t.subresource)
	if err != nil {
		return err
	}
	// The writes called store the managers made here as they are.
	c.Set(patchManagedKey, true)
	for attempt := 1; ; attempt++ {
		out, created, warnings, err := t.patchLocked(c, req, fm, ns, name)
		var changed *changedMeanwhile
		if errors.As(err, &changed) {
			if attempt < maxPatchAttempts {
				continue
			}
			err = changed.err
		}
		if err != nil {
			return fromAPIStatus(err)
		}
		for _, w := range warnings {
			c.Response().Header().Add("Warning", warningHeader(w))
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		return writeJSON(c, code, out)
	}
}

// patchLocked is patchOnce, under the lock of the object's field managers
// when the index keeps them beside it: the managers read are those
// replaced.
func (t patchTarget[T]) patchLocked(c echo.Context, req *patchRequest, fm *managedfields.FieldManager, ns, name string) (*T, bool, []string, error) {
	if t.keepManaged != nil {
		defer revisionLocks.lock(ns + "/" + name)()
	}
	return patchOnce(c, t, req, fm, ns, name)
}

// patchOnce reads the object, patches it and writes the result; it
// returns the warnings of the patch.
func patchOnce[T any](c echo.Context, t patchTarget[T], req *patchRequest, fm *managedfields.FieldManager, ns, name string) (*T, bool, []string, error) {
	var live *unstructured.Unstructured
	obj, err := t.get(c, ns, name)
	switch {
	case isNotFound(err) && req.typ == types.ApplyYAMLPatchType && t.create != nil:
		// An apply creates what is not there.
	case isNotFound(err):
		return nil, false, nil, notFound(t.resource, name)
	case err != nil:
		return nil, false, nil, err
	default:
		if live, err = toUnstructured(obj); err != nil {
			return nil, false, nil, err
		}
	}
	if live, err = tracked(fm, t.kind, live); err != nil {
		return nil, false, nil, err
	}
	patched, err := req.apply(fm, t.kind, live)
	if err != nil {
		return nil, false, nil, err
	}
	if err := checkIdentity(t.resource, ns, name, live, patched); err != nil {
		return nil, false, nil, err
	}
	into := new(T)
	warnings, err := decodePatched(patched, into, req.opts.FieldValidation, req.findings)
	if err != nil {
		return nil, false, nil, err
	}
	if req.typ != types.ApplyYAMLPatchType {
		// The managers of an update: whoever changed what. The typed
		// object is what is written, so fields it drops are owned by none.
		if patched, err = toUnstructured(into); err != nil {
			return nil, false, nil, err
		}
		updated, err := fm.Update(live, patched, req.manager)
		if err != nil {
			return nil, false, nil, err
		}
		into = new(T)
		if _, err := decodePatched(updated.(*unstructured.Unstructured), into, req.opts.FieldValidation, nil); err != nil {
			return nil, false, nil, err
		}
	}
	var written *T
	if live == nil {
		written, err = t.create(c, ns, into, req.opts)
	} else {
		written, err = t.replace(c, ns, name, into, req.opts)
	}
	if err != nil && retryable(err) {
		return nil, false, nil, &changedMeanwhile{err}
	}
	if err != nil {
		return nil, false, nil, err
	}
	if t.keepManaged != nil && !req.opts.DryRun {
		if err := t.keepManaged(c, written); err != nil {
			return nil, false, nil, err
		}
	}
	return written, live == nil, warnings, nil
}

// patchRepository answers a PATCH of a repository. Its managed fields are
// stored with it.
func (s *Server) patchRepository(c echo.Context) error {
	return servePatch(c, patchTarget[configv1alpha1.Repository]{
		resource: "repositories", kind: repositoryKind, role: store.RoleAdmin, bodyLimit: MaxBodyBytes,
		get: func(c echo.Context, ns, name string) (*configv1alpha1.Repository, error) {
			r, err := s.store.GetRepository(c.Request().Context(), ns, name)
			if err != nil {
				return nil, err
			}
			obj := s.repositoryObject(r)
			return &obj, nil
		},
		create:  s.createRepositoryObject,
		replace: s.replaceRepository,
	})
}

// Resources whose managed fields the index keeps beside the object.
const (
	revisionsResource = "packagerevisions"
	resourcesResource = "packagerevisionresources"
)

// patchRevision answers a PATCH of a package revision: its labels,
// annotations and readiness gates, its lifecycle (Draft to Proposed and
// back). An apply of a revision not there creates it, from the one task its
// configuration names.
func (s *Server) patchRevision(c echo.Context) error {
	t := s.revisionTarget("", s.replaceRevision)
	t.create = func(c echo.Context, ns string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error) {
		// A revision's name is made of its repository, package and
		// workspace: the URL must name the one the configuration makes.
		sp := obj.Spec
		if want := revision.ObjectName(sp.Repository, sp.PackageName, sp.WorkspaceName); want != obj.Name {
			return nil, invalid(revisionsResource, obj.Name, []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "metadata.name",
				Message: fmt.Sprintf("the revision of spec.repository, spec.packageName and spec.workspaceName is named %q", want)}})
		}
		return s.createRevisionObject(c, ns, obj, opts)
	}
	return servePatch(c, t)
}

// patchApproval answers a PATCH of the approval subresource: only the
// lifecycle counts.
func (s *Server) patchApproval(c echo.Context) error {
	return servePatch(c, s.revisionTarget("approval", s.replaceApproval))
}

// revisionTarget is a PATCH of a revision, or of a subresource of it,
// written with replace.
func (s *Server) revisionTarget(subresource string,
	replace func(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error)) patchTarget[pkgv1alpha1.PackageRevision] {
	return patchTarget[pkgv1alpha1.PackageRevision]{
		resource: revisionsResource, kind: revisionKind, subresource: subresource, role: store.RoleWrite, bodyLimit: MaxBodyBytes,
		get: s.managedRevision,
		replace: func(c echo.Context, ns, name string, obj *pkgv1alpha1.PackageRevision, opts writeOptions) (*pkgv1alpha1.PackageRevision, error) {
			// Tasks say where a new revision's content comes from and are
			// not kept: a configuration applied again (kubectl apply, on
			// the server or not) still names them, and they mean nothing to
			// a revision that exists.
			obj.Spec.Tasks = nil
			return replace(c, ns, name, obj, opts)
		},
		keepManaged: func(c echo.Context, written *pkgv1alpha1.PackageRevision) error {
			return s.keepManagedFields(c, revisionsResource, written.ObjectMeta, written.Spec.Repository)
		},
	}
}

// patchResources answers a PATCH of a Draft's resources: files added,
// changed (spec.resources, by path) or removed (null).
func (s *Server) patchResources(c echo.Context) error {
	return servePatch(c, patchTarget[pkgv1alpha1.PackageRevisionResources]{
		resource: resourcesResource, kind: resourcesKind, role: store.RoleWrite, bodyLimit: MaxResourcesBodyBytes,
		get: func(c echo.Context, ns, name string) (*pkgv1alpha1.PackageRevisionResources, error) {
			r, err := s.store.GetRevision(c.Request().Context(), ns, name)
			if err != nil {
				return nil, err
			}
			return s.managedResources(c, r)
		},
		replace: s.replaceResources,
		keepManaged: func(c echo.Context, written *pkgv1alpha1.PackageRevisionResources) error {
			return s.keepManagedFields(c, resourcesResource, written.ObjectMeta, written.Spec.Repository)
		},
	})
}

// managedFields reads the managed fields the index keeps for an object;
// none if it keeps none.
func (s *Server) managedFields(c echo.Context, ns, resource, name string) ([]metav1.ManagedFieldsEntry, error) {
	m, err := s.store.ManagedFields(c.Request().Context(), ns, resource, name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var entries []metav1.ManagedFieldsEntry
	if err := json.Unmarshal(m.Fields, &entries); err != nil {
		return nil, fmt.Errorf("managed fields of %s %s/%s: %w", resource, ns, name, err)
	}
	return entries, nil
}

// keepManagedFields stores the managed fields of a written object in the
// index.
func (s *Server) keepManagedFields(c echo.Context, resource string, meta metav1.ObjectMeta, repository string) error {
	b, err := json.Marshal(meta.ManagedFields)
	if err != nil {
		return err
	}
	return s.store.SetManagedFields(c.Request().Context(), &store.ManagedFields{
		Namespace: meta.Namespace, Resource: resource, Name: meta.Name, Repository: repository, Fields: b})
}

// forgetManagedFields drops the managed fields the index keeps for a
// revision and its resources, once it is deleted. A failure leaves rows of
// an object that is gone: logged, and not the delete's failure.
func (s *Server) forgetManagedFields(c echo.Context, ns, name string) {
	if err := s.store.DeleteManagedFields(c.Request().Context(), ns, name); err != nil {
		s.log.Warn("forget the field managers of a deleted revision", "namespace", ns, "name", name, "err", err)
	}
}
