package api_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// restConfig is a client-go configuration for the harness's server with a
// token of a role.
func (h *harness) restConfig(token string) *rest.Config {
	return &rest.Config{Host: h.url, BearerToken: h.tokens[token]}
}

// Package revisions have a uid, a creation time and a generation derived
// from git: the same on every read, and again after the index of their
// repository is rebuilt from nothing.
func TestRevisionMetadataFromGit(t *testing.T) {
	h := start(t)
	bp := blueprints(t)
	h.addRepo("blueprints", bp.Dir)

	commitTime := func(ref string) time.Time {
		sec, err := strconv.ParseInt(bp.Git("log", "-1", "--format=%ct", ref), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(sec, 0).UTC()
	}
	tagTime, err := time.Parse(time.RFC3339, bp.Git("for-each-ref", "--format=%(taggerdate:iso-strict)", "refs/tags/redis/v1"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{
		"blueprints.nginx.v1":      commitTime("nginx/v1"),
		"blueprints.redis.v1":      tagTime.UTC(), // annotated: the tagger's time
		"blueprints.nginx.tuning":  commitTime("drafts/nginx/tuning"),
		"blueprints.redis.upgrade": commitTime("proposed/redis/upgrade"),
	}
	read := func() map[string]metav1.ObjectMeta {
		var l pkgv1alpha1.PackageRevisionList
		h.get(revsPath, "reader", &l)
		out := map[string]metav1.ObjectMeta{}
		for _, pr := range l.Items {
			out[pr.Name] = pr.ObjectMeta
		}
		return out
	}
	first := read()
	seen := map[string]string{}
	for name, at := range want {
		m, ok := first[name]
		if !ok {
			t.Fatalf("no revision %s in %v", name, slices.Sorted(func(yield func(string) bool) {
				for k := range first {
					if !yield(k) {
						return
					}
				}
			}))
		}
		if !m.CreationTimestamp.Time.Equal(at) {
			t.Errorf("%s: creationTimestamp %v, want %v", name, m.CreationTimestamp.Time, at)
		}
		if m.UID == "" || m.Generation != 1 {
			t.Errorf("%s: uid %q, generation %d", name, m.UID, m.Generation)
		}
		if other, dup := seen[string(m.UID)]; dup {
			t.Errorf("%s and %s share uid %s", name, other, m.UID)
		}
		seen[string(m.UID)] = name
		// A get answers what the list does.
		var pr pkgv1alpha1.PackageRevision
		h.get(revsPath+"/"+name, "reader", &pr)
		if pr.UID != m.UID || !pr.CreationTimestamp.Equal(&m.CreationTimestamp) {
			t.Errorf("%s: get has uid %s at %v, list %s at %v", name, pr.UID, pr.CreationTimestamp, m.UID, m.CreationTimestamp)
		}
		var res pkgv1alpha1.PackageRevisionResources
		h.get(resPath+"/"+name, "reader", &res)
		if res.UID == "" || res.UID == m.UID || !res.CreationTimestamp.Equal(&m.CreationTimestamp) || res.Generation != 1 {
			t.Errorf("%s resources: uid %q (revision's %q), created %v, generation %d", name, res.UID, m.UID, res.CreationTimestamp, res.Generation)
		}
	}

	// The index rebuilt from nothing: the repository moved to another path
	// of the same git repository.
	link := filepath.Join(t.TempDir(), "moved")
	if err := os.Symlink(bp.Dir, link); err != nil {
		t.Fatal(err)
	}
	var repo configv1alpha1.Repository
	h.get(reposPath+"/blueprints", "admin", &repo)
	rv := repo.ResourceVersion
	repo.Spec.Git.URL = link
	if code, body := h.do(http.MethodPut, reposPath+"/blueprints", "admin", &repo); code != http.StatusOK {
		t.Fatalf("move the repository: %d %s", code, body)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.get(reposPath+"/blueprints", "admin", &repo)
		if repo.ResourceVersion != rv && repo.Status.LastSyncTime != nil && len(read()) == len(first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the repository was not indexed again within 30s")
		}
	}
	again := read()
	for name := range want {
		a, b := first[name], again[name]
		if a.UID != b.UID || !a.CreationTimestamp.Equal(&b.CreationTimestamp) || a.Generation != b.Generation {
			t.Errorf("%s: before the rebuild uid %s at %v, after %s at %v", name, a.UID, a.CreationTimestamp, b.UID, b.CreationTimestamp)
		}
	}
}

// Discovery lists every resource with the verbs it accepts.
func TestDiscoveryVerbs(t *testing.T) {
	h := start(t)
	dc, err := discovery.NewDiscoveryClientForConfig(h.restConfig("reader"))
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		Verbs      []string
		Singular   string
		ShortNames []string
		Namespaced bool
	}
	got := map[string]res{}
	for _, gv := range []string{"config.pkg.pkgserver.dev/v1alpha1", "pkg.pkgserver.dev/v1alpha1", "authorization.k8s.io/v1"} {
		l, err := dc.ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatalf("%s: %v", gv, err)
		}
		for _, r := range l.APIResources {
			got[gv+" "+r.Name] = res{slices.Sorted(slices.Values(r.Verbs)), r.SingularName, r.ShortNames, r.Namespaced}
		}
	}
	all := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	want := map[string]res{
		"config.pkg.pkgserver.dev/v1alpha1 repositories":       {all, "repository", []string{"repo"}, true},
		"config.pkg.pkgserver.dev/v1alpha1 repositories/sync":  {[]string{"create"}, "", nil, true},
		"pkg.pkgserver.dev/v1alpha1 packagerevisions":          {all, "packagerevision", []string{"pr"}, true},
		"pkg.pkgserver.dev/v1alpha1 packagerevisions/approval": {[]string{"get", "patch", "update"}, "", nil, true},
		"pkg.pkgserver.dev/v1alpha1 packagerevisionresources": {[]string{"get", "list", "patch", "update", "watch"},
			"packagerevisionresources", []string{"prr"}, true},
		"authorization.k8s.io/v1 selfsubjectaccessreviews": {[]string{"create"}, "selfsubjectaccessreview", nil, false},
		"authorization.k8s.io/v1 selfsubjectrulesreviews":  {[]string{"create"}, "selfsubjectrulesreview", nil, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		if g.Name == "" {
			continue // the core group, with no versions: /api serves none
		}
		names = append(names, g.Name+"/"+g.PreferredVersion.Version)
	}
	if diff := cmp.Diff([]string{"config.pkg.pkgserver.dev/v1alpha1", "pkg.pkgserver.dev/v1alpha1", "authorization.k8s.io/v1"}, names); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

// /version answers a version.Info without a token, as client-go reads it.
func TestVersion(t *testing.T) {
	h := start(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: h.url})
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	// The harness's server is built without a version: a development build.
	if v.GitVersion != "v0.0.0-dev" || v.Major != "0" || v.Minor != "0" || v.GoVersion == "" || v.Platform == "" {
		t.Errorf("version = %+v", v)
	}
	var raw version.Info
	h.get("/version", "", &raw)
	if raw.GitVersion != v.GitVersion {
		t.Errorf("GET /version = %+v", raw)
	}
}

// Paths no route serves answer 404 NotFound; a method a known path does
// not take, 405 MethodNotAllowed; both as Status.
func TestUnknownPaths(t *testing.T) {
	h := start(t)
	for _, c := range []struct {
		method, path string
		code         int
		reason       metav1.StatusReason
	}{
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/x/nothing", 404, metav1.StatusReasonNotFound},
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/x/packagerevisions/a/b/c", 404, metav1.StatusReasonNotFound},
		{"GET", "/apis/foo", 404, metav1.StatusReasonNotFound},
		{"GET", "/apis/foo/v1", 404, metav1.StatusReasonNotFound},
		{"GET", "/api/v1/pods", 404, metav1.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/pods", 404, metav1.StatusReasonNotFound},
		{"GET", "/nothing", 404, metav1.StatusReasonNotFound},
		{"POST", "/nothing", 404, metav1.StatusReasonNotFound},
		{"DELETE", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories", 405, metav1.StatusReasonMethodNotAllowed},
		{"POST", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/x", 405, metav1.StatusReasonMethodNotAllowed},
		{"POST", "/version", 405, metav1.StatusReasonMethodNotAllowed},
		{"GET", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/x/sync", 405, metav1.StatusReasonMethodNotAllowed},
		{"GET", "/healthzx", 404, metav1.StatusReasonNotFound},
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionsx", 404, metav1.StatusReasonNotFound},
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/x/approval/y", 404, metav1.StatusReasonNotFound},
		{"PUT", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces", 404, metav1.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/pods/x/log", 404, metav1.StatusReasonNotFound},
		{"GET", "/openapi/v4", 404, metav1.StatusReasonNotFound},
	} {
		code, body := h.do(c.method, c.path, "admin", nil)
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
			t.Errorf("%s %s: not a Status: %d %s", c.method, c.path, code, body)
			continue
		}
		if code != c.code || st.Reason != c.reason || int(st.Code) != c.code {
			t.Errorf("%s %s: %d %s (%s), want %d %s", c.method, c.path, code, st.Reason, st.Message, c.code, c.reason)
		}
	}
}

// Access reviews answer from the token's role, per namespace and resource.
func TestSelfSubjectAccessReview(t *testing.T) {
	h := start(t)
	ssar := func(token string, ra *authorizationv1.ResourceAttributes, na *authorizationv1.NonResourceAttributes) bool {
		t.Helper()
		review := authorizationv1.SelfSubjectAccessReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"},
			Spec:     authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra, NonResourceAttributes: na},
		}
		cs, err := kubernetes.NewForConfig(h.restConfig(token))
		if err != nil {
			t.Fatal(err)
		}
		out, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &review, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("review %+v %+v: %v", ra, na, err)
		}
		if out.Status.Reason == "" {
			t.Errorf("review %+v %+v: no reason", ra, na)
		}
		return out.Status.Allowed
	}
	res := func(ns, verb, group, resource, sub string) *authorizationv1.ResourceAttributes {
		return &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: resource, Subresource: sub}
	}
	const pkg, cfg = "pkg.pkgserver.dev", "config.pkg.pkgserver.dev"
	for _, c := range []struct {
		token string
		ra    *authorizationv1.ResourceAttributes
		na    *authorizationv1.NonResourceAttributes
		want  bool
	}{
		{"reader", res("default", "list", pkg, "packagerevisions", ""), nil, true},
		{"reader", res("default", "watch", cfg, "repositories", ""), nil, true},
		{"reader", res("default", "get", pkg, "packagerevisions", "approval"), nil, true},
		{"reader", res("default", "create", pkg, "packagerevisions", ""), nil, false},
		{"reader", res("other", "list", pkg, "packagerevisions", ""), nil, false},
		{"reader", res("", "list", pkg, "packagerevisions", ""), nil, false},
		{"reader", res("default", "create", cfg, "repositories", "sync"), nil, false},
		{"writer", res("default", "create", pkg, "packagerevisions", ""), nil, true},
		{"writer", res("default", "patch", pkg, "packagerevisionresources", ""), nil, true},
		{"writer", res("default", "update", pkg, "packagerevisions", "approval"), nil, true},
		{"writer", res("default", "create", cfg, "repositories", "sync"), nil, true},
		{"writer", res("default", "create", cfg, "repositories", ""), nil, false},
		{"writer", res("default", "delete", cfg, "repositories", ""), nil, false},
		{"writer", res("default", "*", pkg, "packagerevisions", ""), nil, true},
		{"writer", res("default", "*", "*", "*", ""), nil, false},
		{"writer", res("default", "create", pkg, "packagerevisionresources", ""), nil, false}, // not a verb it takes
		{"nsadmin", res("default", "delete", cfg, "repositories", ""), nil, true},
		{"nsadmin", res("default", "*", "*", "*", ""), nil, true},
		{"nsadmin", res("other", "get", cfg, "repositories", ""), nil, false},
		{"admin", res("", "list", pkg, "packagerevisions", ""), nil, true},
		{"admin", res("any", "*", "*", "*", ""), nil, true},
		{"admin", res("default", "list", "", "pods", ""), nil, false},
		{"admin", res("default", "get", "apps", "deployments", ""), nil, false},
		{"reader", nil, &authorizationv1.NonResourceAttributes{Path: "/apis/pkg.pkgserver.dev/v1alpha1", Verb: "get"}, true},
		{"reader", nil, &authorizationv1.NonResourceAttributes{Path: "/version", Verb: "get"}, true},
		{"reader", nil, &authorizationv1.NonResourceAttributes{Path: "/logs", Verb: "get"}, false},
		{"admin", nil, &authorizationv1.NonResourceAttributes{Path: "/apis", Verb: "post"}, false},
	} {
		if got := ssar(c.token, c.ra, c.na); got != c.want {
			t.Errorf("%s may %+v %+v: %v, want %v", c.token, c.ra, c.na, got, c.want)
		}
	}

	// A review of neither or both kinds is invalid.
	code, body := h.do(http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "reader",
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}`)
	h.status(code, body, http.StatusUnprocessableEntity)
	code, body = h.do(http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "", `{}`)
	h.status(code, body, http.StatusUnauthorized)
}

// A rules review lists what a token may do in a namespace.
func TestSelfSubjectRulesReview(t *testing.T) {
	h := start(t)
	rules := func(token, ns string) map[string][]string {
		t.Helper()
		var out authorizationv1.SelfSubjectRulesReview
		code, body := h.do(http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", token,
			authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}})
		if code != http.StatusCreated {
			t.Fatalf("rules review: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, r := range out.Status.ResourceRules {
			got[r.APIGroups[0]+" "+r.Resources[0]] = r.Verbs
		}
		return got
	}
	read := []string{"get", "list", "watch"}
	want := map[string][]string{
		"config.pkg.pkgserver.dev repositories":       read,
		"pkg.pkgserver.dev packagerevisions":          read,
		"pkg.pkgserver.dev packagerevisions/approval": {"get"},
		"pkg.pkgserver.dev packagerevisionresources":  read,
	}
	if diff := cmp.Diff(want, rules("reader", "default")); diff != "" {
		t.Errorf("reader in default (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{}, rules("reader", "other")); diff != "" {
		t.Errorf("reader in other (-want +got):\n%s", diff)
	}
	w := rules("writer", "default")
	if diff := cmp.Diff([]string{"create"}, w["config.pkg.pkgserver.dev repositories/sync"]); diff != "" {
		t.Errorf("writer's sync (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"create", "delete", "get", "list", "patch", "update", "watch"}, w["pkg.pkgserver.dev packagerevisions"]); diff != "" {
		t.Errorf("writer's revisions (-want +got):\n%s", diff)
	}
}

// kinds are the API's kinds, by group and version.
var kinds = []schema.GroupVersionKind{
	{Group: "config.pkg.pkgserver.dev", Version: "v1alpha1", Kind: "Repository"},
	{Group: "config.pkg.pkgserver.dev", Version: "v1alpha1", Kind: "RepositoryList"},
	{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Kind: "PackageRevision"},
	{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Kind: "PackageRevisionList"},
	{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Kind: "PackageRevisionResources"},
	{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Kind: "PackageRevisionResourcesList"},
}

// hasGVK tells whether extensions name a kind, as a list (schemas) or one
// object (operations).
func hasGVK(ext spec.Extensions, gvk schema.GroupVersionKind) bool {
	var list []map[string]string
	if err := ext.GetObject("x-kubernetes-group-version-kind", &list); err != nil {
		var one map[string]string
		if err := ext.GetObject("x-kubernetes-group-version-kind", &one); err != nil {
			return false
		}
		list = append(list, one)
	}
	for _, m := range list {
		if m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind {
			return true
		}
	}
	return false
}

// refName is the schema a property refers to, directly or through allOf.
func refName(s spec.Schema) string {
	ref := s.Ref.String()
	if ref == "" && len(s.AllOf) == 1 {
		ref = s.AllOf[0].Ref.String()
	}
	return ref[strings.LastIndex(ref, "/")+1:]
}

// The OpenAPI v3 documents, read as kubectl reads them: each kind's schema
// found by its group-version-kind, with metadata as ObjectMeta; each
// kind's PATCH operation with the fieldValidation parameter (kubectl then
// validates on the server) and without strategic merge patch.
func TestOpenAPIV3(t *testing.T) {
	h := start(t)
	dc, err := discovery.NewDiscoveryClientForConfig(h.restConfig("reader"))
	if err != nil {
		t.Fatal(err)
	}
	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(gvs) != 2 {
		t.Errorf("group versions %v", gvs)
	}
	for _, gvk := range kinds {
		doc, err := root.GVSpec(gvk.GroupVersion())
		if err != nil {
			t.Fatalf("%s: %v", gvk.GroupVersion(), err)
		}
		var found *spec.Schema
		for _, s := range doc.Components.Schemas {
			if hasGVK(s.Extensions, gvk) {
				if found != nil {
					t.Errorf("%s: two schemas", gvk)
				}
				found = s
			}
		}
		if found == nil {
			t.Errorf("%s: no schema", gvk)
			continue
		}
		want := "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
		if strings.HasSuffix(gvk.Kind, "List") {
			want = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
		}
		if got := refName(found.Properties["metadata"]); got != want {
			t.Errorf("%s: metadata is %q", gvk, got)
		}
		if _, ok := doc.Components.Schemas[want]; !ok {
			t.Errorf("%s: no schema %s", gvk, want)
		}
		if strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		// Every reference resolves.
		for name, s := range doc.Components.Schemas {
			b, _ := json.Marshal(s)
			for _, m := range refPattern.FindAllStringSubmatch(string(b), -1) {
				if _, ok := doc.Components.Schemas[m[1]]; !ok {
					t.Errorf("%s: %s refers to missing %s", gvk.GroupVersion(), name, m[1])
				}
			}
		}
		patches := 0
		for p, item := range doc.Paths.Paths {
			if item.Patch == nil || !hasGVK(item.Patch.Extensions, gvk) {
				continue
			}
			patches++
			var params []string
			for _, prm := range item.Patch.Parameters {
				params = append(params, prm.In+":"+prm.Name)
			}
			if !slices.Contains(params, "query:fieldValidation") || !slices.Contains(params, "query:dryRun") {
				t.Errorf("%s PATCH %s: parameters %v", gvk, p, params)
			}
			if _, smp := item.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; smp {
				t.Errorf("%s PATCH %s offers strategic merge patch", gvk, p)
			}
			if _, merge := item.Patch.RequestBody.Content["application/merge-patch+json"]; !merge {
				t.Errorf("%s PATCH %s: no merge patch", gvk, p)
			}
		}
		if patches == 0 {
			t.Errorf("%s: no PATCH operation", gvk)
		}
	}
	// The PackageRevision's spec, as kubectl explain packagerevisions.spec
	// reaches it.
	doc, _ := root.GVSpec(schema.GroupVersion{Group: "pkg.pkgserver.dev", Version: "v1alpha1"})
	pr := doc.Components.Schemas["dev.pkgserver.pkg.v1alpha1.PackageRevision"]
	specSchema := doc.Components.Schemas[refName(pr.Properties["spec"])]
	if specSchema == nil || specSchema.Properties["lifecycle"].Type[0] != "string" {
		t.Fatalf("packagerevisions.spec: %+v", specSchema)
	}
	// With the descriptions of the doc comments, which explain prints.
	if pr.Description == "" || pr.Properties["spec"].Description == "" || specSchema.Description == "" ||
		!strings.Contains(specSchema.Properties["lifecycle"].Description, "Draft") {
		t.Errorf("descriptions: PackageRevision %q, its spec %q, PackageRevisionSpec %q, lifecycle %q", pr.Description,
			pr.Properties["spec"].Description, specSchema.Description, specSchema.Properties["lifecycle"].Description)
	}
	om := doc.Components.Schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
	if om == nil || om.Properties["uid"].Description == "" {
		t.Errorf("ObjectMeta without descriptions: %+v", om)
	}
	list, ok := doc.Paths.Paths["/apis/pkg.pkgserver.dev/v1alpha1/namespaces/{namespace}/packagerevisions"]
	if !ok || list.Get == nil {
		t.Fatal("no list of packagerevisions")
	}
	var params []string
	for _, prm := range list.Get.Parameters {
		params = append(params, prm.Name)
	}
	for _, p := range []string{"watch", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "sendInitialEvents", "allowWatchBookmarks"} {
		if !slices.Contains(params, p) {
			t.Errorf("list of packagerevisions: no parameter %s in %v", p, params)
		}
	}
}

var refPattern = regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`)

// The OpenAPI v2 document, in protobuf as client-go's discovery asks for
// it, parses into kubectl's model (every reference resolves) with the
// group-version-kinds of every kind.
func TestOpenAPIV2(t *testing.T) {
	h := start(t)
	dc, err := discovery.NewDiscoveryClientForConfig(h.restConfig("reader"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatal(err)
	}
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl's model of the document: %v", err)
	}
	found := map[schema.GroupVersionKind]bool{}
	for _, name := range models.ListModels() {
		// As kubectl's openapi.NewOpenAPIResources reads the extension.
		list, _ := models.LookupModel(name).GetExtensions()["x-kubernetes-group-version-kind"].([]any)
		for _, item := range list {
			m, _ := item.(map[any]any)
			g, _ := m["group"].(string)
			v, _ := m["version"].(string)
			k, _ := m["kind"].(string)
			found[schema.GroupVersionKind{Group: g, Version: v, Kind: k}] = true
		}
	}
	for _, gvk := range kinds {
		if !found[gvk] {
			t.Errorf("%s: no definition", gvk)
		}
	}
	// The same document in JSON.
	var v2 struct {
		Swagger     string         `json:"swagger"`
		Paths       map[string]any `json:"paths"`
		Definitions map[string]any `json:"definitions"`
	}
	h.get("/openapi/v2", "reader", &v2)
	if v2.Swagger != "2.0" || len(v2.Paths) != len(doc.Paths.Path) || len(v2.Definitions) != len(doc.Definitions.AdditionalProperties) {
		t.Errorf("JSON: swagger %q, %d paths, %d definitions; protobuf: %d paths, %d definitions", v2.Swagger, len(v2.Paths), len(v2.Definitions),
			len(doc.Paths.Path), len(doc.Definitions.AdditionalProperties))
	}
}

// Drafts and proposals indexed before their creation time was kept get it
// at the next sync: migration 010 marks their refs as changed.
func TestCreationTimeFilledForOlderIndex(t *testing.T) {
	h := start(t)
	bp := blueprints(t)
	h.addRepo("blueprints", bp.Dir)
	// Read by lists: gets may be answered from a cache of answers, which
	// changes made behind the server's back do not reach.
	created := func(name string) metav1.Time {
		var l pkgv1alpha1.PackageRevisionList
		h.get(revsPath, "reader", &l)
		for _, pr := range l.Items {
			if pr.Name == name {
				return pr.CreationTimestamp
			}
		}
		t.Fatalf("no revision %s", name)
		return metav1.Time{}
	}
	want := created("blueprints.nginx.tuning")
	if want.IsZero() {
		t.Fatal("a draft has no creationTimestamp")
	}

	// The index as an older pkgserver left it: no time for drafts and
	// proposals, neither on their revisions nor on their refs.
	// (The store's own connection only reads: a second one writes, as
	// another process would.)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dataDir, "index.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`UPDATE revisions SET created_at = 0 WHERE lifecycle IN ('Draft', 'Proposed')`,
		`UPDATE refs SET published_at = 0 WHERE kind IN (2, 3)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	// Then the fill-in of the migration, as written.
	migration, err := os.ReadFile("../store/sqlstore/migrations/010_revision_created.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(string(migration), ";\n") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		stmt = strings.TrimSpace(strings.Join(lines, "\n"))
		if stmt == "" || strings.HasPrefix(stmt, "ALTER TABLE") {
			continue
		}
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	h.sync("blueprints")
	if got := created("blueprints.nginx.tuning"); !got.Equal(&want) {
		t.Errorf("after the sync, the draft was created at %v, want %v", got, want)
	}
	if got := created("blueprints.redis.upgrade"); got.IsZero() {
		t.Error("after the sync, the proposal has no creationTimestamp")
	}
}

// A Repository's metadata is the server's: a uid and creation time that
// updates keep, a generation that grows with changes of its spec only.
func TestRepositoryMetadata(t *testing.T) {
	h := start(t)
	created := h.addRepo("blueprints", blueprints(t).Dir)
	if created.UID == "" || created.CreationTimestamp.IsZero() || created.Generation != 1 {
		t.Fatalf("metadata of a new repository: %+v", created.ObjectMeta)
	}
	update := func(mutate func(*configv1alpha1.Repository)) *configv1alpha1.Repository {
		t.Helper()
		var r configv1alpha1.Repository
		h.get(reposPath+"/blueprints", "admin", &r)
		mutate(&r)
		code, body := h.do(http.MethodPut, reposPath+"/blueprints", "admin", &r)
		if code != http.StatusOK {
			t.Fatalf("update: %d %s", code, body)
		}
		var out configv1alpha1.Repository
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return &out
	}
	r := update(func(r *configv1alpha1.Repository) { r.Labels = map[string]string{"team": "a"} })
	if r.Generation != 1 || r.UID != created.UID || !r.CreationTimestamp.Equal(&created.CreationTimestamp) {
		t.Errorf("after a change of labels: %+v", r.ObjectMeta)
	}
	r = update(func(r *configv1alpha1.Repository) { r.Spec.Deployment = true })
	if r.Generation != 2 || r.UID != created.UID || !r.CreationTimestamp.Equal(&created.CreationTimestamp) {
		t.Errorf("after a change of spec: %+v", r.ObjectMeta)
	}
}
