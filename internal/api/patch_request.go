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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
)

// patchTypes are the patches taken, as kube-apiserver takes them for custom
// resources: no strategic merge patch, which needs Go types of Kubernetes.
var patchTypes = []types.PatchType{types.JSONPatchType, types.MergePatchType, types.ApplyYAMLPatchType}

// maxJSONPatchOperations bounds the operations of a JSON patch, as
// kube-apiserver does.
const maxJSONPatchOperations = 10000

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
