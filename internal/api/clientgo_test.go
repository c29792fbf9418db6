package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/pager"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// TestClientGo uses client-go's discovery and dynamic clients, as a
// Kubernetes tool would, against a running server: discover the resource,
// list with selectors and in pages, get, and watch a push arrive.
func TestClientGo(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := &rest.Config{Host: h.url, BearerToken: h.tokens["reader"]}

	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name+"/"+g.PreferredVersion.Version)
	}
	if !slices.Contains(names, "pkg.pkgserver.dev/v1alpha1") || !slices.Contains(names, "config.pkg.pkgserver.dev/v1alpha1") {
		t.Fatalf("groups = %v", names)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	mapping, err := mapper.RESTMapping(schema.GroupKind{Group: "pkg.pkgserver.dev", Kind: "PackageRevision"}, "v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	if mapping.Resource.Resource != "packagerevisions" || mapping.Scope.Name() != "namespace" {
		t.Fatalf("mapping = %+v", mapping)
	}
	// kubectl's short-name expansion finds "pr".
	short := restmapper.NewShortcutExpander(mapper, dc, func(string) {})
	if gvr, err := short.ResourceFor(schema.GroupVersionResource{Resource: "pr"}); err != nil || gvr != mapping.Resource {
		t.Errorf("short name pr: %v %v", gvr, err)
	}

	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prs := dyn.Resource(mapping.Resource).Namespace("default")
	list, err := prs.List(ctx, metav1.ListOptions{
		FieldSelector: "spec.packageName=nginx",
		LabelSelector: pkgv1alpha1.LatestRevisionLabel + "=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "blueprints.nginx.v2" {
		t.Fatalf("latest nginx = %v", itemNames(list.Items))
	}

	// In pages of two, with client-go's pager.
	var paged []string
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return prs.List(ctx, opts)
	})
	p.PageSize = 2
	if err := p.EachListItem(ctx, metav1.ListOptions{}, func(o runtime.Object) error {
		paged = append(paged, o.(*unstructured.Unstructured).GetName())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(paged) != 7 || !slices.IsSorted(paged) {
		t.Errorf("paged = %v", paged)
	}

	pr, err := prs.Get(ctx, "blueprints.redis.upgrade", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lc, _, _ := unstructured.NestedString(pr.Object, "spec", "lifecycle"); lc != "Proposed" {
		t.Errorf("lifecycle = %q", lc)
	}
	if _, err := prs.Get(ctx, "blueprints.redis.v9", metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		t.Errorf("get missing: %v", err)
	}

	all, err := prs.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := prs.Watch(ctx, metav1.ListOptions{ResourceVersion: all.GetResourceVersion(), FieldSelector: "spec.packageName=redis"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	g.Tag("redis/v2", g.Rev("proposed/redis/upgrade"), "")
	h.sync("blueprints")
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended")
			}
			u, ok := e.Object.(*unstructured.Unstructured)
			if !ok {
				t.Fatalf("event object %T", e.Object)
			}
			got[string(e.Type)+" "+u.GetName()] = true
		case <-ctx.Done():
			t.Fatalf("events so far: %v", got)
		}
	}
	if !got[string(watch.Added)+" blueprints.redis.v2"] || !got[string(watch.Modified)+" blueprints.redis.v1"] {
		t.Errorf("events = %v", got)
	}
}

// TestOpenAPI reads the OpenAPI v3 documents as client-go does.
func TestOpenAPI(t *testing.T) {
	h := start(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: h.url, BearerToken: h.tokens["reader"]})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	gv, ok := paths["apis/pkg.pkgserver.dev/v1alpha1"]
	if !ok {
		t.Fatalf("paths = %v", paths)
	}
	b, err := gv.Schema("application/json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Paths      map[string]any
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for name, s := range doc.Components.Schemas {
		if _, ok := s.Properties["spec"]; ok && len(name) > 0 && name[len(name)-len("PackageRevision"):] == "PackageRevision" {
			found = true
		}
	}
	if doc.OpenAPI == "" || len(doc.Paths) == 0 || !found {
		t.Errorf("document: openapi %q, %d paths, PackageRevision schema %v", doc.OpenAPI, len(doc.Paths), found)
	}
}

func itemNames(items []unstructured.Unstructured) []string {
	names := make([]string, len(items))
	for i, u := range items {
		names[i] = u.GetName()
	}
	return names
}
