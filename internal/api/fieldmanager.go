package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Field managers track who set which field of an object (its
// metadata.managedFields), for server-side apply: they are the API
// server's own (k8s.io/apimachinery's managedfields over
// sigs.k8s.io/structured-merge-diff), built as kube-apiserver builds them
// for custom resources (apiextensions-apiserver): objects handled as
// unstructured.Unstructured, of a single version that is its own hub.

// Objects with field managers, and their subresources.
var (
	repositoryKind = schema.GroupVersionKind{Group: configv1alpha1.Group, Version: configv1alpha1.Version, Kind: "Repository"}
	revisionKind   = schema.GroupVersionKind{Group: pkgv1alpha1.Group, Version: pkgv1alpha1.Version, Kind: "PackageRevision"}
	resourcesKind  = schema.GroupVersionKind{Group: pkgv1alpha1.Group, Version: pkgv1alpha1.Version, Kind: "PackageRevisionResources"}
)

// fieldManagerKey names a field manager: a kind and a subresource ("" for
// the object itself).
type fieldManagerKey struct {
	kind        schema.GroupVersionKind
	subresource string
}

// resetFields are the fields a write of an object or of a subresource
// leaves as they are, whatever the body says: no manager owns them through
// it. A status is the server's; a revision's tasks say where a new one's
// content comes from and are not kept (owned, they would make a second
// apply of a configuration naming them conflict with the first); the
// approval subresource changes nothing but the lifecycle.
var resetFields = map[fieldManagerKey][]fieldpath.Path{
	{repositoryKind, ""}: {fieldpath.MakePathOrDie("status")},
	{revisionKind, ""}:   {fieldpath.MakePathOrDie("status"), fieldpath.MakePathOrDie("spec", "tasks")},
	{revisionKind, "approval"}: {
		fieldpath.MakePathOrDie("status"),
		fieldpath.MakePathOrDie("metadata", "labels"),
		fieldpath.MakePathOrDie("metadata", "annotations"),
		fieldpath.MakePathOrDie("spec", "readinessGates"),
		fieldpath.MakePathOrDie("spec", "tasks"),
	},
	{resourcesKind, ""}: {fieldpath.MakePathOrDie("status")},
}

// fieldManagers holds the field manager of every object and subresource
// that takes PATCH, built once: they depend on nothing but the API's types.
// Their type converter reads the schemas of the OpenAPI documents, as
// kube-apiserver's does for custom resources: maps (metadata.labels,
// spec.resources) are merged key by key, lists as their schema says
// (readiness gates and conditions by type, others whole), and fields the
// schema does not declare are refused.
var fieldManagers = sync.OnceValues(func() (map[fieldManagerKey]*managedfields.FieldManager, error) {
	tc, err := typeConverter()
	if err != nil {
		return nil, err
	}
	return newFieldManagers(tc)
})

// typeConverter reads objects as the OpenAPI schemas describe them.
var typeConverter = sync.OnceValues(func() (managedfields.TypeConverter, error) {
	tc, err := managedfields.NewTypeConverter(openAPISchemas(), false)
	if err != nil {
		return nil, fmt.Errorf("type converter of the OpenAPI schemas: %w", err)
	}
	return tc, nil
})

// newFieldManagers builds the field managers on a type converter.
func newFieldManagers(tc managedfields.TypeConverter) (map[fieldManagerKey]*managedfields.FieldManager, error) {
	out := map[fieldManagerKey]*managedfields.FieldManager{}
	for key, paths := range resetFields {
		reset := map[fieldpath.APIVersion]*fieldpath.Set{
			fieldpath.APIVersion(key.kind.GroupVersion().String()): fieldpath.NewSet(paths...),
		}
		fm, err := managedfields.NewDefaultCRDFieldManager(tc, unstructuredConvertor{}, unstructuredDefaulter{}, unstructuredCreater{},
			key.kind, key.kind.GroupVersion(), key.subresource, fieldpath.NewExcludeFilterSetMap(reset))
		if err != nil {
			return nil, fmt.Errorf("field manager of %s: %w", key.kind.Kind, err)
		}
		out[key] = fm
	}
	return out, nil
}

// fieldManager returns the field manager of a kind or of its subresource.
func fieldManager(kind schema.GroupVersionKind, subresource string) (*managedfields.FieldManager, error) {
	fms, err := fieldManagers()
	if err != nil {
		return nil, err
	}
	fm, ok := fms[fieldManagerKey{kind, subresource}]
	if !ok {
		return nil, fmt.Errorf("no field manager for %s %q", kind.Kind, subresource)
	}
	return fm, nil
}

// unstructuredConvertor converts between the versions of an object that
// has one: it copies.
type unstructuredConvertor struct{}

func (unstructuredConvertor) Convert(in, out, context any) error {
	return fmt.Errorf("unstructured objects are not converted in place")
}

func (unstructuredConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	from := in.GetObjectKind().GroupVersionKind()
	to, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{from})
	if !ok || to.GroupVersion() != from.GroupVersion() {
		return nil, fmt.Errorf("%s has one version: it cannot be converted to %v", from, target)
	}
	return in.DeepCopyObject(), nil
}

func (unstructuredConvertor) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

// unstructuredDefaulter fills in no defaults: the writes that follow an
// apply do, as for a PUT.
type unstructuredDefaulter struct{}

func (unstructuredDefaulter) Default(runtime.Object) {}

// unstructuredCreater makes empty objects of a kind.
type unstructuredCreater struct{}

func (unstructuredCreater) New(kind schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(kind)
	return u, nil
}

// managerName is the field manager of a write: the fieldManager parameter,
// else what the User-Agent starts with (kubectl, for kubectl/v1.37.2 …),
// as kube-apiserver names the managers of updates.
func managerName(param, userAgent string) string {
	if param != "" {
		return param
	}
	name, _, _ := strings.Cut(userAgent, "/")
	var b bytes.Buffer
	for _, r := range name {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > metav1validation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// patchManagedKey marks a request whose PATCH has made the managed fields
// of the object it writes (by an apply or an update of its manager): the
// writes it calls store them as they are.
const patchManagedKey = "pkgserver.patchManaged"

// patchManaged says whether the managed fields of what a request writes are
// made by its PATCH already.
func patchManaged(c echo.Context) bool {
	b, _ := c.Get(patchManagedKey).(bool)
	return b
}

// updateManagers returns the managed fields of obj, written over live (nil:
// created) by an update: as kube-apiserver's Update operation makes them,
// live's managers kept when obj carries none and the changed fields given
// to the manager of the request (its fieldManager parameter, else its
// User-Agent's name). A failure keeps live's, as kube-apiserver does.
func updateManagers[T any](c echo.Context, kind schema.GroupVersionKind, subresource string, live, obj *T, opts writeOptions) ([]metav1.ManagedFieldsEntry, error) {
	fm, err := fieldManager(kind, subresource)
	if err != nil {
		return nil, err
	}
	liveU := &unstructured.Unstructured{Object: map[string]any{}}
	if live != nil {
		if liveU, err = kindedUnstructured(live, kind); err != nil {
			return nil, err
		}
	}
	liveU.SetGroupVersionKind(kind)
	if live != nil {
		// As a patch does: untracked fields are before-first-apply's.
		if liveU, err = tracked(fm, kind, liveU); err != nil {
			return nil, err
		}
	}
	newU, err := kindedUnstructured(obj, kind)
	if err != nil {
		return nil, err
	}
	out := fm.UpdateNoErrors(liveU, newU, managerName(opts.FieldManager, c.Request().UserAgent()))
	u, ok := out.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("update of the field managers made a %T", out)
	}
	return u.GetManagedFields(), nil
}

// kindedUnstructured is an API object as an unstructured one of a kind: a
// body may leave out its apiVersion and kind.
func kindedUnstructured(obj any, kind schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	// Numbers as kube-apiserver decodes them: whole ones int64.
	m := map[string]any{}
	if err := utiljson.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(kind)
	return u, nil
}

// revisionLocks serializes the writes of a package revision (and of its
// resources) that read, change and store its field managers, which the
// index keeps beside the revision: without it, concurrent applies that
// change only ownership, and write nothing to git, would each store the
// managers as they read them, and all but the last would be lost. It
// holds within this process.
var revisionLocks keyedLocks

// keyedLocks are mutexes by key, made when first locked and dropped when
// no one holds or waits for them.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (l *keyedLocks) lock(key string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*keyedLock{}
	}
	k := l.locks[key]
	if k == nil {
		k = &keyedLock{}
		l.locks[key] = k
	}
	k.users++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.users--; k.users == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}

// lockRevision locks the field managers of revision ns/name for a write
// that is not a PATCH's (a PATCH holds the lock already); it returns the
// unlock.
func lockRevision(c echo.Context, ns, name string) func() {
	if patchManaged(c) {
		return func() {}
	}
	return revisionLocks.lock(ns + "/" + name)
}

// trackRepository sets the managed fields of repository obj, written over
// live (nil: created) by a create or an update that is not a PATCH's, and
// returns those obj came with. The repository stores its managers; the
// answer of the write shows those the request sent (a dry run and the
// write it stands for answer alike), a read those stored.
func (s *Server) trackRepository(c echo.Context, live, obj *configv1alpha1.Repository, opts writeOptions) ([]metav1.ManagedFieldsEntry, error) {
	sent := obj.ManagedFields
	if patchManaged(c) {
		return sent, nil
	}
	mf, err := updateManagers(c, repositoryKind, "", live, obj, opts)
	if err != nil {
		return nil, err
	}
	obj.ManagedFields = mf
	return sent, nil
}

// liveRevision is revision ns/name as the API shows it, with its managed
// fields, for a write that is not a PATCH's to track its managers over
// (nil when it need not: a PATCH's, a dry run).
func (s *Server) liveRevision(c echo.Context, ns, name string, opts writeOptions) (*pkgv1alpha1.PackageRevision, error) {
	if patchManaged(c) || opts.DryRun {
		return nil, nil
	}
	obj, err := s.managedRevision(c, ns, name)
	if err != nil {
		return nil, writeErr(revisionsResource, name, err)
	}
	return obj, nil
}

// managedRevision is revision ns/name as the API shows it, with its
// managed fields.
func (s *Server) managedRevision(c echo.Context, ns, name string) (*pkgv1alpha1.PackageRevision, error) {
	r, err := s.store.GetRevision(c.Request().Context(), ns, name)
	if err != nil {
		return nil, err
	}
	obj := revisionObject(*r)
	if obj.ManagedFields, err = s.managedFields(c, ns, revisionsResource, name); err != nil {
		return nil, err
	}
	return &obj, nil
}

// liveResources is liveRevision for the resources of a revision.
func (s *Server) liveResources(c echo.Context, ns, name string, opts writeOptions) (*pkgv1alpha1.PackageRevisionResources, error) {
	if patchManaged(c) || opts.DryRun {
		return nil, nil
	}
	r, err := s.store.GetRevision(c.Request().Context(), ns, name)
	if err != nil {
		return nil, writeErr(resourcesResource, name, err)
	}
	return s.managedResources(c, r)
}

// managedResources is the resources of revision r as the API shows them,
// with their managed fields.
func (s *Server) managedResources(c echo.Context, r *store.Revision) (*pkgv1alpha1.PackageRevisionResources, error) {
	obj, err := s.resourcesObject(c, r)
	if err != nil {
		return nil, err
	}
	if obj.ManagedFields, err = s.managedFields(c, r.Namespace, resourcesResource, r.Name); err != nil {
		return nil, err
	}
	return obj, nil
}

// trackRevision stores the managed fields of a revision, or of its
// resources, that a create or an update that is not a PATCH's wrote as obj
// over live (nil: created). A PATCH stores its own; a dry run none.
func trackRevision[T any](s *Server, c echo.Context, resource string, kind schema.GroupVersionKind, subresource string, live, obj *T,
	written metav1.ObjectMeta, repository string, opts writeOptions) error {
	if patchManaged(c) || opts.DryRun {
		return nil
	}
	mf, err := updateManagers(c, kind, subresource, live, obj, opts)
	if err != nil {
		return err
	}
	written.ManagedFields = mf
	return s.keepManagedFields(c, resource, written, repository)
}
