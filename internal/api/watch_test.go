package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/api"
	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

const (
	allReposPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/repositories"
	allResPath   = "/apis/pkg.pkgserver.dev/v1alpha1/packagerevisionresources"
)

// anyEvent is a watch event with what every object of any kind carries.
type anyEvent struct {
	Type   string
	Object struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
	}
	raw json.RawMessage
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("resource version %q: %v", s, err)
	}
	return n
}

func (w *watcher) nextAny(t *testing.T) anyEvent {
	t.Helper()
	e := w.nextRaw(t)
	out := anyEvent{Type: e.Type, raw: e.Object}
	if err := json.Unmarshal(e.Object, &out.Object); err != nil {
		t.Fatalf("event %s: %v", e.Object, err)
	}
	return out
}

// TestWatchList: a watch with sendInitialEvents (client-go's watch list)
// sends every object, then a bookmark marking the end of them, for every
// resource; every event's object names its kind.
func TestWatchList(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	const watchList = "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
	for _, tc := range []struct {
		path, kind, apiVersion string
		count                  int
	}{
		{revsPath, "PackageRevision", pkgv1alpha1.APIVersion, 7},
		{resPath, "PackageRevisionResources", pkgv1alpha1.APIVersion, 7},
		{reposPath, "Repository", configv1alpha1.APIVersion, 1},
		{allReposPath, "Repository", configv1alpha1.APIVersion, 1},
	} {
		t.Run(tc.path, func(t *testing.T) {
			var list metav1.List
			h.get(tc.path, "admin", &list)
			for _, query := range []string{watchList, watchList + "&resourceVersion=" + list.ResourceVersion} {
				w := h.watch(tc.path + query)
				var names []string
				for range tc.count {
					e := w.nextAny(t)
					if e.Type != "ADDED" || e.Object.Kind != tc.kind || e.Object.APIVersion != tc.apiVersion {
						t.Fatalf("initial event %s of %s %s", e.Type, e.Object.APIVersion, e.Object.Kind)
					}
					names = append(names, e.Object.Metadata.Name)
				}
				if !slices.IsSorted(names) {
					t.Errorf("initial events out of order: %v", names)
				}
				e := w.nextAny(t)
				if e.Type != "BOOKMARK" || e.Object.Kind != tc.kind || e.Object.APIVersion != tc.apiVersion ||
					e.Object.Metadata.Annotations[metav1.InitialEventsAnnotationKey] != "true" || atoi(t, e.Object.Metadata.ResourceVersion) < atoi(t, list.ResourceVersion) ||
					e.Object.Metadata.Name != "" {
					t.Errorf("after the initial events: %s %s", e.Type, e.raw)
				}
				w.close()
			}
		})
	}
	// The resources in a watch are the revision's files.
	w := h.watch(resPath + watchList + "&fieldSelector=metadata.name%3Dblueprints.nginx.v2")
	var res pkgv1alpha1.PackageRevisionResources
	if err := json.Unmarshal(w.nextRaw(t).Object, &res); err != nil {
		t.Fatal(err)
	}
	if res.Name != "blueprints.nginx.v2" || !strings.Contains(res.Spec.Resources["config.yaml"], `version: "2"`) {
		t.Errorf("resources in the watch: %s %v", res.Name, res.Spec.Resources)
	}
	if e := w.nextAny(t); e.Type != "BOOKMARK" {
		t.Errorf("after the one revision: %s", e.Type)
	}
	// A tag pushed: the new revision's resources arrive.
	w = h.watch(resPath + watchList + "&fieldSelector=spec.packageName%3Dnginx,spec.revision%3Dv3")
	if e := w.nextAny(t); e.Type != "BOOKMARK" {
		t.Fatalf("initial event of a selection of nothing: %s", e.Type)
	}
	g.Write(gittest.Package("nginx", "3"))
	g.Tag("nginx/v3", g.Commit("nginx 3"), "")
	h.sync("blueprints")
	e := w.nextRaw(t)
	if err := json.Unmarshal(e.Object, &res); err != nil {
		t.Fatal(err)
	}
	if e.Type != "ADDED" || res.Name != "blueprints.nginx.v3" || !strings.Contains(res.Spec.Resources["config.yaml"], `version: "3"`) {
		t.Errorf("event %s of %s: %v", e.Type, res.Name, res.Spec.Resources)
	}
}

// TestSelectorWatchResumed: a watch resumed from a resource version with
// a selector (on the latest label, on a Kptfile's label) sends ADDED for an
// object that enters the selection, DELETED for one that leaves it, and
// nothing of objects that change outside it.
func TestSelectorWatchResumed(t *testing.T) {
	h := start(t)
	g, web := goldBlueprints(t)
	h.addRepo("blueprints", g.Dir)

	latestSel := "&labelSelector=" + url.QueryEscape(pkgv1alpha1.LatestRevisionLabel+"=true")
	goldSel := "&labelSelector=tier%3Dgold"
	var l pkgv1alpha1.PackageRevisionList
	h.get(revsPath+"?fieldSelector=spec.packageName%3Dnginx"+latestSel, "reader", &l)
	if len(l.Items) != 1 || l.Items[0].Name != "blueprints.nginx.v2" {
		t.Fatalf("latest nginx: %+v", l.Items)
	}
	latest := h.watch(revsPath + "?watch=true&resourceVersion=" + l.ResourceVersion + latestSel)
	gold := h.watch(revsPath + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + l.ResourceVersion + goldSel)
	named := h.watch(revsPath + "?watch=true&resourceVersion=" + l.ResourceVersion + "&fieldSelector=metadata.name%3Dblueprints.nginx.tuning")

	// The draft changes (it is no latest revision, has no gold label);
	// then nginx v3 is tagged and web loses its gold label.
	g.Checkout("-q", "drafts/nginx/tuning")
	g.Write(map[string]string{"nginx/extra.yaml": "kind: ConfigMap\n"})
	g.Commit("more tuning")
	g.Checkout("-q", "main")
	h.sync("blueprints")
	g.Write(gittest.Package("nginx", "3"))
	web["web/Kptfile"] = strings.Replace(web["web/Kptfile"], "gold", "silver", 1)
	g.Write(web)
	g.Tag("nginx/v3", g.Commit("nginx 3, web silver"), "")
	h.sync("blueprints")

	got := map[string]bool{}
	for len(got) < 2 {
		e := latest.next(t)
		got[e.Type+" "+e.Object.Name] = true
	}
	if want := map[string]bool{"DELETED blueprints.nginx.v2": true, "ADDED blueprints.nginx.v3": true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("latest events %v, want %v", got, want)
	}
	// Only the branch's web left gold (v1 is a tag, still gold).
	if e := gold.next(t); e.Type != "DELETED" || e.Object.Name != "blueprints.web.main" {
		t.Errorf("gold event %s %s", e.Type, e.Object.Name)
	}
	if e := named.next(t); e.Type != "MODIFIED" || e.Object.Name != "blueprints.nginx.tuning" {
		t.Errorf("named event %s %s", e.Type, e.Object.Name)
	}

	// Gold again: ADDED.
	web["web/Kptfile"] = strings.Replace(web["web/Kptfile"], "silver", "gold", 1)
	g.Write(web)
	g.Commit("web gold")
	h.sync("blueprints")
	if e := gold.next(t); e.Type != "ADDED" || e.Object.Name != "blueprints.web.main" || e.Object.Labels["tier"] != "gold" {
		t.Errorf("gold event %s %s %v", e.Type, e.Object.Name, e.Object.Labels)
	}
}

// TestListRepositories: selectors, pages and watches of repositories.
func TestListRepositories(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	h.addRepo("deploy", g.Dir, func(r *configv1alpha1.Repository) {
		r.Spec.Deployment = true
		r.Labels = map[string]string{"env": "prod"}
	})
	h.addRepo("edge", g.Dir, func(r *configv1alpha1.Repository) { r.Labels = map[string]string{"env": "dev"} })

	names := func(query string) []string {
		t.Helper()
		var l configv1alpha1.RepositoryList
		h.get(reposPath+query, "reader", &l)
		out := []string{}
		for _, r := range l.Items {
			out = append(out, r.Name)
		}
		return out
	}
	for _, tc := range []struct {
		query, want string
	}{
		{"", "blueprints deploy edge"},
		{"?fieldSelector=metadata.name%3Dblueprints", "blueprints"},
		{"?fieldSelector=metadata.name!%3Dblueprints", "deploy edge"},
		{"?fieldSelector=spec.deployment%3Dtrue", "deploy"},
		{"?fieldSelector=spec.deployment%3Dfalse,metadata.namespace%3Ddefault", "blueprints edge"},
		{"?fieldSelector=spec.provider%3Dgit", "blueprints deploy edge"},
		{"?labelSelector=env", "deploy edge"},
		{"?labelSelector=env+in+(prod)", "deploy"},
		{"?labelSelector=!env", "blueprints"},
	} {
		if got := strings.Join(names(tc.query), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	// kubectl wait --for=condition=Ready repository/blueprints asks for
	// one object by name.
	var one configv1alpha1.RepositoryList
	h.get(allReposPath+"?fieldSelector=metadata.name%3Dblueprints", "admin", &one)
	if len(one.Items) != 1 || one.Items[0].Name != "blueprints" || one.Kind != "RepositoryList" {
		t.Errorf("by name across namespaces: %+v", one)
	}

	// Pages.
	var page configv1alpha1.RepositoryList
	h.get(reposPath+"?limit=2", "reader", &page)
	if len(page.Items) != 2 || page.Continue == "" {
		t.Fatalf("first page: %d items, continue %q", len(page.Items), page.Continue)
	}
	var rest configv1alpha1.RepositoryList
	h.get(reposPath+"?limit=2&continue="+url.QueryEscape(page.Continue), "reader", &rest)
	if len(rest.Items) != 1 || rest.Items[0].Name != "edge" || rest.Continue != "" {
		t.Errorf("second page: %+v, continue %q", rest.Items, rest.Continue)
	}

	// Refusals.
	for _, tc := range []struct {
		query, says string
		code        int
	}{
		{"?fieldSelector=spec.git.url%3Dx", "metadata.name, metadata.namespace, spec.deployment, spec.git.branch, spec.provider, spec.type", 400},
		{"?fieldSelector=metadata.namespace%3Dother", "does not match", 400},
		{"?continue=not-a-token", "invalid continue token", 400},
		{"?labelSelector=a%3D%3D%3Db", "invalid labelSelector", 400},
		{"?resourceVersion=1&resourceVersionMatch=Exact", "resource version 1 is not served", 410},
		{"?resourceVersion=99999&resourceVersionMatch=NotOlderThan", "Too large resource version", 504},
		{"?watch=true&resourceVersionMatch=NotOlderThan", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided", 422},
	} {
		code, body := h.do(http.MethodGet, reposPath+tc.query, "reader", nil)
		if st := h.status(code, body, tc.code); !strings.Contains(st.Message, tc.says) {
			t.Errorf("%s: %q, want it to say %q", tc.query, st.Message, tc.says)
		}
	}

	// A watch of one repository, from a list's resource version: events of
	// it, as Repository objects, none of the others.
	w := h.watch(reposPath + "?watch=true&fieldSelector=metadata.name%3Dblueprints&resourceVersion=" + one.ResourceVersion)
	all := h.watch(reposPath + "?watch=true&resourceVersion=" + one.ResourceVersion)
	if code, body := h.do(http.MethodDelete, reposPath+"/edge", "admin", nil); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	h.sync("blueprints")
	if e := all.nextAny(t); e.Type != "DELETED" || e.Object.Kind != "Repository" || e.Object.Metadata.Name != "edge" {
		t.Errorf("event %s %s %s", e.Type, e.Object.Kind, e.Object.Metadata.Name)
	}
	e := w.nextAny(t)
	var r configv1alpha1.Repository
	if err := json.Unmarshal(e.raw, &r); err != nil {
		t.Fatal(err)
	}
	if e.Type != "MODIFIED" || r.Kind != "Repository" || r.Name != "blueprints" || r.Status.LastSyncTime == nil {
		t.Errorf("event %s %s %s", e.Type, r.Kind, r.Name)
	}
}

// TestListResources: the resources of every revision, in a namespace and
// in all, by selectors and in pages.
func TestListResources(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	var revs pkgv1alpha1.PackageRevisionList
	h.get(revsPath, "reader", &revs)
	var all pkgv1alpha1.PackageRevisionResourcesList
	h.get(allResPath, "admin", &all)
	if all.Kind != "PackageRevisionResourcesList" || all.APIVersion != pkgv1alpha1.APIVersion || len(all.Items) != len(revs.Items) || all.ResourceVersion == "" {
		t.Fatalf("list: %s %s, %d items of %d, rv %q", all.APIVersion, all.Kind, len(all.Items), len(revs.Items), all.ResourceVersion)
	}
	for i, r := range all.Items {
		if r.Name != revs.Items[i].Name || r.Kind != "PackageRevisionResources" || r.Spec.Resources["config.yaml"] == "" {
			t.Errorf("item %d: %s %s %v", i, r.Name, r.Kind, r.Spec.Resources)
		}
	}
	var one pkgv1alpha1.PackageRevisionResourcesList
	h.get(resPath+"?fieldSelector=metadata.name%3Dblueprints.redis.v1", "reader", &one)
	var got pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/blueprints.redis.v1", "reader", &got)
	if len(one.Items) != 1 || fmt.Sprint(one.Items[0].Spec.Resources) != fmt.Sprint(got.Spec.Resources) {
		t.Errorf("by name: %+v, want %+v", one.Items, got)
	}
	var pages []string
	cont := ""
	for {
		var page pkgv1alpha1.PackageRevisionResourcesList
		h.get(resPath+"?limit=3&fieldSelector=spec.lifecycle%3DPublished&continue="+url.QueryEscape(cont), "reader", &page)
		for _, r := range page.Items {
			pages = append(pages, r.Name)
		}
		if cont = page.Continue; cont == "" {
			break
		}
	}
	if want := h.revisions("?fieldSelector=spec.lifecycle%3DPublished"); !slices.Equal(pages, want) {
		t.Errorf("pages %v, want %v", pages, want)
	}
	code, body := h.do(http.MethodGet, resPath+"?fieldSelector=spec.nothing%3Dx", "reader", nil)
	h.status(code, body, http.StatusBadRequest)
	code, body = h.do(http.MethodGet, allResPath, "reader", nil)
	h.status(code, body, http.StatusForbidden)
}

// TestListResourcesInChunks checks that a list of resources read a few
// revisions per read transaction answers what one read does: every item
// with its files, pages that span chunks, Tables whose rows count the
// files without reading them, and watches' initial events.
func TestListResourcesInChunks(t *testing.T) {
	h := start(t)
	h.addRepo("blueprints", blueprints(t).Dir)
	var whole pkgv1alpha1.PackageRevisionResourcesList
	h.get(resPath, "reader", &whole)
	if len(whole.Items) < 4 {
		t.Fatalf("%d revisions: too few to read in chunks", len(whole.Items))
	}
	files := map[string]string{}
	for _, r := range whole.Items {
		files[r.Name] = fmt.Sprint(r.Spec.Resources)
	}
	api.SetResourcesChunk(t, 2)

	var chunked pkgv1alpha1.PackageRevisionResourcesList
	h.get(resPath, "reader", &chunked)
	got := map[string]string{}
	var names []string
	for _, r := range chunked.Items {
		got[r.Name] = fmt.Sprint(r.Spec.Resources)
		names = append(names, r.Name)
	}
	if diff := cmp.Diff(files, got); diff != "" || chunked.Continue != "" || chunked.ResourceVersion != whole.ResourceVersion {
		t.Errorf("chunked list at %s (whole at %s), continue %q (-whole +chunked):\n%s", chunked.ResourceVersion, whole.ResourceVersion, chunked.Continue, diff)
	}
	if want := h.revisions(""); !slices.Equal(names, want) {
		t.Errorf("chunked list in order %v, want %v", names, want)
	}

	// Pages of 3 read in chunks of 2.
	var pages []string
	cont := ""
	for n := 0; ; n++ {
		var page pkgv1alpha1.PackageRevisionResourcesList
		h.get(resPath+"?limit=3&continue="+url.QueryEscape(cont), "reader", &page)
		if len(page.Items) > 3 || (page.Continue != "" && len(page.Items) != 3) {
			t.Fatalf("page %d: %d items, continue %q", n, len(page.Items), page.Continue)
		}
		for _, r := range page.Items {
			pages = append(pages, r.Name)
			if fmt.Sprint(r.Spec.Resources) != files[r.Name] {
				t.Errorf("%s in a page: %v", r.Name, r.Spec.Resources)
			}
		}
		if cont = page.Continue; cont == "" {
			break
		}
	}
	if !slices.Equal(pages, names) {
		t.Errorf("pages %v, want %v", pages, names)
	}

	// A Table's rows count the files, with or without the objects.
	rc := h.tableClient(t, "pkg.pkgserver.dev")
	for _, include := range []string{"", "Object"} {
		table := getTable(t, rc, "packagerevisionresources", "", include)
		rows := rowsByName(t, table)
		if len(rows) != len(whole.Items) || table.ResourceVersion != whole.ResourceVersion {
			t.Errorf("table (includeObject=%q) at %s: %d rows, want %d", include, table.ResourceVersion, len(rows), len(whole.Items))
		}
		for _, r := range whole.Items {
			if row := rows[r.Name]; len(row) < 6 || row[5] != int64(len(r.Spec.Resources)) {
				t.Errorf("table (includeObject=%q) row of %s: %v, want %d files", include, r.Name, row, len(r.Spec.Resources))
			}
		}
	}

	// The initial events of a watch.
	w := h.watch(resPath + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
	defer w.close()
	seen := map[string]string{}
	for {
		e := w.nextRaw(t)
		if e.Type == "BOOKMARK" {
			break
		}
		var obj pkgv1alpha1.PackageRevisionResources
		if err := json.Unmarshal(e.Object, &obj); err != nil {
			t.Fatal(err)
		}
		if e.Type != "ADDED" {
			t.Errorf("initial event %s of %s", e.Type, obj.Name)
		}
		seen[obj.Name] = fmt.Sprint(obj.Spec.Resources)
	}
	if diff := cmp.Diff(files, seen); diff != "" {
		t.Errorf("initial events (-list +watch):\n%s", diff)
	}
}

// TestTableResourcesReadsNoContent checks that a Table of resources counts
// files without reading their content: a package with a file that is not
// text, whose resources are refused, still has its row.
func TestTableResourcesReadsNoContent(t *testing.T) {
	h := start(t)
	r := gittest.New(t)
	files := gittest.Package("icons", "1")
	files["icons/logo.png"] = "\x89PNG\r\n\x1a\n\xff\xfe"
	r.Write(files)
	r.Tag("icons/v1", r.Commit("icons"), "")
	h.addRepo("art", r.Dir)
	code, body := h.do(http.MethodGet, resPath+"/art.icons.v1", "reader", nil)
	h.status(code, body, http.StatusUnprocessableEntity)
	rc := h.tableClient(t, "pkg.pkgserver.dev")
	rows := rowsByName(t, getTable(t, rc, "packagerevisionresources", "", ""))
	if row := rows["art.icons.v1"]; len(row) < 6 || row[5] != int64(len(files)) {
		t.Errorf("row of art.icons.v1: %v, want %d files", row, len(files))
	}
}
