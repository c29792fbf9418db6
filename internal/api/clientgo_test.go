package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
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
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/pager"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
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

// recorder keeps what an informer's handlers were told, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	wake   chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

// forget forgets what the informer was told so far.
func (r *recorder) forget() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

func (r *recorder) add(typ string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	name := "?"
	if ok {
		name = u.GetName()
	}
	r.mu.Lock()
	r.events = append(r.events, typ+" "+name)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.add("ADDED", obj) },
		UpdateFunc: func(old, obj any) {
			if old.(*unstructured.Unstructured).GetResourceVersion() != obj.(*unstructured.Unstructured).GetResourceVersion() {
				r.add("MODIFIED", obj)
			}
		},
		DeleteFunc: func(obj any) { r.add("DELETED", obj) },
	}
}

// await waits until the informer was told want, forgets that, and
// returns what it was told before (not forgotten).
func (r *recorder) await(t *testing.T, want string) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		if i := slices.Index(r.events, want); i >= 0 {
			before := slices.Clone(r.events[:i])
			r.events = slices.Delete(r.events, i, i+1)
			r.mu.Unlock()
			return before
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no %q within 30s; told %v", want, r.events)
		}
	}
}

// TestInformers runs client-go's dynamic shared informers with client-go's
// default settings (a watch list: sendInitialEvents and the bookmark that
// ends the initial events) against a running server: they sync, then see
// a tag pushed and a draft created, proposed, approved, proposed for
// deletion and deleted; informers with a label selector (on a Kptfile's
// label) and with a metadata.name field selector are told of their objects
// only.
func TestInformers(t *testing.T) {
	h := start(t)
	g, web := goldBlueprints(t)
	h.addRepo("blueprints", g.Dir)
	h.hosted("live")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: h.url, BearerToken: h.tokens["reader"]})
	if err != nil {
		t.Fatal(err)
	}
	revs := schema.GroupVersionResource{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Resource: "packagerevisions"}
	repos := schema.GroupVersionResource{Group: "config.pkg.pkgserver.dev", Version: "v1alpha1", Resource: "repositories"}

	all := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", nil)
	gold := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", func(o *metav1.ListOptions) { o.LabelSelector = "tier=gold" })
	one := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=live.app.first" })
	oneRepo := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=blueprints" })
	allRevs, allRepos, goldRevs, oneRev, blueprintsRepo := newRecorder(), newRecorder(), newRecorder(), newRecorder(), newRecorder()
	for _, x := range []struct {
		f   dynamicinformer.DynamicSharedInformerFactory
		gvr schema.GroupVersionResource
		r   *recorder
	}{{all, revs, allRevs}, {all, repos, allRepos}, {gold, revs, goldRevs}, {one, revs, oneRev}, {oneRepo, repos, blueprintsRepo}} {
		if _, err := x.f.ForResource(x.gvr).Informer().AddEventHandler(x.r.handler()); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []dynamicinformer.DynamicSharedInformerFactory{all, gold, one, oneRepo} {
		f.Start(ctx.Done())
		defer f.Shutdown()
		for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("informer of %s did not sync", gvr.Resource)
			}
		}
	}
	defer cancel() // before the factories' Shutdown, which waits for them

	// The initial sync: every object in the selection, as ADDED.
	list, err := dyn.Resource(revs).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(f dynamicinformer.DynamicSharedInformerFactory, gvr schema.GroupVersionResource) []string {
		var out []string
		for _, o := range f.ForResource(gvr).Informer().GetStore().List() {
			out = append(out, o.(*unstructured.Unstructured).GetName())
		}
		slices.Sort(out)
		return out
	}
	if got, want := keys(all, revs), itemNames(list.Items); !slices.Equal(got, want) {
		t.Errorf("synced revisions %v, want %v", got, want)
	}
	if got := keys(all, repos); !slices.Equal(got, []string{"blueprints", "live"}) {
		t.Errorf("synced repositories %v", got)
	}
	if got := keys(gold, revs); !slices.Equal(got, []string{"blueprints.web.main", "blueprints.web.v1"}) {
		t.Errorf("synced gold revisions %v", got)
	}
	if got := keys(one, revs); len(got) != 0 {
		t.Errorf("synced the draft before it exists: %v", got)
	}
	if got := keys(oneRepo, repos); !slices.Equal(got, []string{"blueprints"}) {
		t.Errorf("synced one repository: %v", got)
	}
	for _, r := range []*recorder{allRevs, allRepos, goldRevs, oneRev, blueprintsRepo} {
		r.forget()
	}

	// A tag pushed: a new revision, and the latest label moves.
	g.Write(gittest.Package("nginx", "3"))
	g.Tag("nginx/v3", g.Commit("nginx 3"), "")
	h.sync("blueprints")
	allRevs.await(t, "ADDED blueprints.nginx.v3")
	allRevs.await(t, "MODIFIED blueprints.nginx.v2")
	allRepos.await(t, "MODIFIED blueprints") // its status: the sync

	// A draft created, proposed, approved, proposed for deletion, deleted.
	var draft pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("live", "app", "first",
		pkgv1alpha1.Task{Type: "init", Init: &pkgv1alpha1.InitTaskSpec{Description: "an app"}}), 201, &draft)
	allRevs.await(t, "ADDED live.app.first")
	h.write(http.MethodPut, revsPath+"/live.app.first", withLifecycle(draft, "Proposed"), 200, &draft)
	allRevs.await(t, "MODIFIED live.app.first")
	h.write(http.MethodPut, revsPath+"/live.app.first/approval", withLifecycle(draft, "Published"), 200, &draft)
	allRevs.await(t, "MODIFIED live.app.first")
	h.write(http.MethodPut, revsPath+"/live.app.first/approval", withLifecycle(draft, "DeletionProposed"), 200, &draft)
	allRevs.await(t, "MODIFIED live.app.first")
	h.write(http.MethodDelete, revsPath+"/live.app.first", nil, 200, nil)
	allRevs.await(t, "DELETED live.app.first")

	// The informer of that one revision was told of it only.
	// (Besides the writes, its validation and the index's reading of its
	// commits may change it.)
	told := oneRev.await(t, "DELETED live.app.first")
	if len(told) < 4 || told[0] != "ADDED live.app.first" {
		t.Errorf("the informer of live.app.first was told %v", told)
	}
	for _, e := range told[1:] {
		if e != "MODIFIED live.app.first" {
			t.Errorf("the informer of live.app.first was told %s", e)
		}
	}

	// Repositories come and go; the informer of one is told of it only.
	other := gittest.New(t)
	other.Write(gittest.Package("redis", "1"))
	other.Tag("redis/v1", other.Commit("redis"), "")
	h.addRepo("other", other.Dir)
	allRepos.await(t, "ADDED other")
	if code, body := h.do(http.MethodDelete, reposPath+"/other", "admin", nil); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	allRepos.await(t, "DELETED other")
	g.Write(gittest.Package("nginx", "4"))
	g.Tag("nginx/v4", g.Commit("nginx 4"), "")
	h.sync("blueprints")
	for _, e := range blueprintsRepo.await(t, "MODIFIED blueprints") {
		if e != "MODIFIED blueprints" {
			t.Errorf("the informer of repository blueprints was told %s", e)
		}
	}

	// The gold informer was told nothing of all that; it sees a gold
	// revision arrive, and one leave when its Kptfile loses the label.
	web["web/Kptfile"] = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n  labels:\n    tier: silver\n"
	g.Write(web)
	g.Tag("web/v2", g.Commit("web 2, silver"), "")
	h.sync("blueprints")
	// (v1 stays gold, and is no longer the latest; v2 is not gold.)
	if told := goldRevs.await(t, "DELETED blueprints.web.main"); !slices.Equal(told, []string{"MODIFIED blueprints.web.v1"}) {
		t.Errorf("the gold informer was told %v, want only of v1", told)
	}
	goldRevs.forget()
	allRevs.await(t, "ADDED blueprints.web.v2")
	web["web/Kptfile"] = strings.Replace(web["web/Kptfile"], "silver", "gold", 1)
	g.Write(web)
	g.Commit("web: gold again")
	h.sync("blueprints")
	if told := goldRevs.await(t, "ADDED blueprints.web.main"); len(told) != 0 {
		t.Errorf("the gold informer was told %v", told)
	}
	if got := keys(gold, revs); !slices.Equal(got, []string{"blueprints.web.main", "blueprints.web.v1"}) {
		t.Errorf("gold revisions at the end: %v", got)
	}
}
