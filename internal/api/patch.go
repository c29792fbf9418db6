package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"

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

// patchTypes are the patches taken, as kube-apiserver takes them for custom
// resources: no strategic merge patch, which needs Go types of Kubernetes.
var patchTypes = []types.PatchType{types.JSONPatchType, types.MergePatchType, types.ApplyYAMLPatchType}

// maxJSONPatchOperations bounds the operations of a JSON patch, as
// kube-apiserver does.
const maxJSONPatchOperations = 10000

// maxPatchAttempts bounds how often a patch that names no resource version
// is applied again to an object that changed under it.
const maxPatchAttempts = 5

// patchRequest is a PATCH, parsed.
type patchRequest struct {
	typ  types.PatchType
	body []byte
	// manager is the field manager of the change: fieldManager, else what
	// the User-Agent starts with (an apply requires fieldManager).
	manager string
	force   bool
	opts    writeOptions
	// findings are the duplicate and unknown fields of the patch document
	// itself (under fieldValidation Strict or Warn).
	findings []string
}

// parsePatch reads a PATCH's content type, options and body.
func parsePatch(c echo.Context, limit int) (*patchRequest, error) {
	ct, _, _ := strings.Cut(c.Request().Header.Get("Content-Type"), ";")
	typ := types.PatchType(strings.TrimSpace(ct))
	if !slices.Contains(patchTypes, typ) {
		accepted := make([]string, len(patchTypes))
		for i, t := range patchTypes {
			accepted[i] = string(t)
		}
		return nil, newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			"the body of the request was in an unknown format - accepted media types include: %s", strings.Join(accepted, ", "))
	}
	opts, err := parseWriteOptions(c)
	if err != nil {
		return nil, err
	}
	req := &patchRequest{typ: typ, opts: opts, manager: managerName(opts.FieldManager, c.Request().UserAgent())}
	var causes []metav1.StatusCause
	switch force := c.QueryParams()["force"]; {
	case len(force) == 0:
	case typ != types.ApplyYAMLPatchType:
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeForbidden, Field: "force", Message: "may not be specified for non-apply patch"})
	case len(force) > 1:
		return nil, badRequest("force: given %d times: give it once", len(force))
	default:
		if req.force, err = strconv.ParseBool(force[0]); err != nil {
			return nil, badRequest("force: %q is not a boolean", force[0])
		}
	}
	if typ == types.ApplyYAMLPatchType && opts.FieldManager == "" {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueRequired, Field: "fieldManager", Message: "is required for apply patch"})
	}
	if len(causes) > 0 {
		return nil, invalid("PatchOptions", "", causes)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(limit)+1))
	if err != nil {
		return nil, badRequest("read body: %v", err)
	}
	if len(body) > limit {
		return nil, newStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "the request body is larger than %d bytes", limit)
	}
	req.body = body
	if opts.FieldValidation == fieldValidationStrict || opts.FieldValidation == fieldValidationWarn {
		if req.findings, err = req.strictFindings(); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// jsonPatchOp is an operation of a JSON patch, for strict decoding.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from"`
	Value any    `json:"value"`
}

// strictFindings reads the patch document strictly, as kube-apiserver does
// under fieldValidation Strict and Warn: fields given twice, and fields a
// JSON patch operation does not have. An apply configuration given twice
// a field is refused under Strict (400), as there.
func (p *patchRequest) strictFindings() ([]string, error) {
	var strict []error
	var err error
	switch p.typ {
	case types.JSONPatchType:
		var ops []jsonPatchOp
		if strict, err = kjson.UnmarshalStrict(p.body, &ops); err != nil {
			return nil, badRequest("error decoding patch: %v", err)
		}
		for i, e := range strict {
			strict[i] = fmt.Errorf("json patch %w", e)
		}
	case types.MergePatchType:
		if strict, err = kjson.UnmarshalStrict(p.body, &map[string]any{}); err != nil {
			return nil, badRequest("error decoding patch: %v", err)
		}
	case types.ApplyYAMLPatchType:
		if utilyaml.Unmarshal(p.body, &map[string]any{}) != nil {
			return nil, nil // not YAML: the apply says so
		}
		if err := utilyaml.UnmarshalStrict(p.body, &map[string]any{}); err != nil {
			if p.opts.FieldValidation == fieldValidationStrict {
				return nil, badRequest("error strict decoding patch: %v", err)
			}
			return []string{err.Error()}, nil
		}
	}
	out := make([]string, len(strict))
	for i, e := range strict {
		out[i] = e.Error()
	}
	return out, nil
}

// apply returns the object the patch makes of live (nil: none, which only
// an apply creates), with its managed fields updated by fm.
func (p *patchRequest) apply(fm *managedfields.FieldManager, kind schema.GroupVersionKind, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if p.typ == types.ApplyYAMLPatchType {
		return p.serverSideApply(fm, kind, live)
	}
	liveJSON, err := live.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var patched []byte
	switch p.typ {
	case types.JSONPatchType:
		ops, err := jsonpatch.DecodePatch(p.body)
		if err != nil {
			return nil, badRequest("invalid JSON patch: %v", err)
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, newStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
				"the allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(ops))
		}
		if patched, err = ops.Apply(liveJSON); err != nil {
			// As kube-apiserver answers a patch that does not apply: a
			// failed test, a path that is not there.
			return nil, newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "the JSON patch does not apply: %v", err)
		}
	case types.MergePatchType:
		if !json.Valid(p.body) {
			return nil, badRequest("invalid JSON merge patch: not JSON")
		}
		if patched, err = jsonpatch.MergePatch(liveJSON, p.body); err != nil {
			if errors.Is(err, jsonpatch.ErrBadJSONPatch) {
				return nil, badRequest("invalid JSON merge patch: %v", err)
			}
			return nil, newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "the JSON merge patch does not apply: %v", err)
		}
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(patched); err != nil {
		return nil, newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "the patched object is not a %s: %v", kind.Kind, err)
	}
	return out, nil
}

// serverSideApply merges an apply configuration into live (nil: a new
// object), or refuses it for conflicts with other managers' fields.
func (p *patchRequest) serverSideApply(fm *managedfields.FieldManager, kind schema.GroupVersionKind, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	cfg := map[string]any{}
	if err := utilyaml.Unmarshal(p.body, &cfg); err != nil {
		return nil, badRequest("error decoding apply configuration: %v", err)
	}
	patch := &unstructured.Unstructured{Object: cfg}
	if got := patch.GroupVersionKind(); got != kind {
		return nil, badRequest("the apply configuration is of apiVersion %q and kind %q: send apiVersion %s, kind %s",
			patch.GetAPIVersion(), patch.GetKind(), kind.GroupVersion(), kind.Kind)
	}
	// A configuration the schema does not describe (fields it does not
	// declare, values of the wrong type, list items twice) cannot be
	// merged: refused here as the client's, rather than by the merge.
	tc, err := typeConverter()
	if err != nil {
		return nil, err
	}
	if _, err := tc.ObjectToTyped(patch); err != nil {
		return nil, invalid(kind.Kind, patch.GetName(), []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Message: err.Error()}})
	}
	if live == nil {
		live = &unstructured.Unstructured{}
		live.SetGroupVersionKind(kind)
	}
	obj, err := fm.Apply(live, patch, p.manager, p.force)
	if err != nil {
		return nil, err
	}
	out, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("apply made a %T", obj)
	}
	return out, nil
}

// toUnstructured is an API object as an unstructured one.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}

// decodePatched reads a patched object into its type, field names matched
// exactly. Fields the type does not have, and the findings of the patch
// document, are refused (fieldValidation Strict: 422, as kube-apiserver
// answers a patch), told as warnings (Warn, returned) or dropped (Ignore);
// a value of the wrong type is refused whatever fieldValidation says.
func decodePatched(u *unstructured.Unstructured, into any, validation string, findings []string) ([]string, error) {
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	kind, name := u.GetKind(), u.GetName()
	strict, err := kjson.UnmarshalStrict(b, into)
	if err != nil {
		return nil, invalid(kind, name, []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: "patch", Message: err.Error()}})
	}
	msgs := slices.Clone(findings)
	for _, e := range strict {
		msgs = append(msgs, e.Error())
	}
	if len(msgs) == 0 || validation == fieldValidationIgnore {
		return nil, nil
	}
	if validation == fieldValidationWarn {
		return msgs, nil
	}
	causes := make([]metav1.StatusCause, len(msgs))
	for i, m := range msgs {
		causes[i] = metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: "patch", Message: m}
	}
	return nil, invalid(kind, name, causes)
}

// checkIdentity refuses a patched object that is not the object of the
// URL, or that names a uid or resource version other than the live
// object's (live nil: none is there yet).
func checkIdentity(resource, ns, name string, live, patched *unstructured.Unstructured) error {
	if got := patched.GetName(); got != name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", got, name)
	}
	if got := patched.GetNamespace(); got != "" && got != ns {
		return badRequest("the namespace of the object (%s) does not match the namespace on the URL (%s)", got, ns)
	}
	patched.SetNamespace(ns)
	conflict := func(format string, args ...any) error {
		st := newStatus(http.StatusConflict, metav1.StatusReasonConflict, "Operation cannot be fulfilled on %s %q: %s", resource, name, fmt.Sprintf(format, args...))
		st.status.Details = &metav1.StatusDetails{Name: name, Kind: resource}
		return st
	}
	if live == nil {
		if uid := patched.GetUID(); uid != "" {
			return conflict("uid mismatch: the provided object specified uid %s, and no existing object was found", uid)
		}
		if rv := patched.GetResourceVersion(); rv != "" {
			return conflict("the object does not exist: it cannot be at resource version %s", rv)
		}
		return nil
	}
	if got, want := patched.GetUID(), live.GetUID(); got != want {
		return conflict("Precondition failed: UID in precondition: %s, UID in object meta: %s", got, want)
	}
	if got, want := patched.GetResourceVersion(), live.GetResourceVersion(); got != want {
		return conflict("the object has been modified; please apply your changes to the latest version and try again")
	}
	return nil
}

// tracked returns live with managers: as it is when it has some, else
// with every field it has given to before-first-apply. kube-apiserver
// tracks objects from their creation, so that every field has a manager;
// pkgserver tracks them from their first patch (objects written before, or
// by a create or update that does not track, have no managers), and gives
// what is there to the manager Kubernetes names for it. Fields no manager
// owns would otherwise be dropped with their parent when an applier gives
// up a sibling.
func tracked(fm *managedfields.FieldManager, kind schema.GroupVersionKind, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if live == nil || len(live.GetManagedFields()) > 0 {
		return live, nil
	}
	empty := &unstructured.Unstructured{}
	empty.SetGroupVersionKind(kind)
	obj, err := fm.Update(empty, live.DeepCopy(), beforeFirstApply)
	if err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("tracking made a %T", obj)
	}
	return u, nil
}

// beforeFirstApply is the manager of the fields an object had when its
// managers began to be tracked, as Kubernetes names it.
const beforeFirstApply = "before-first-apply"

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
