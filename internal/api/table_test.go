package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
)

// kubectlTableAccept is the Accept header kubectl get sends.
const kubectlTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// tableClient is a client-go REST client of a group that decodes Tables.
func (h *harness) tableClient(t *testing.T, group string) *rest.RESTClient {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cfg := h.restConfig("reader")
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &schema.GroupVersion{Group: group, Version: "v1alpha1"}
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// getTable asks for a Table as kubectl does and decodes it as client-go
// does.
func getTable(t *testing.T, rc *rest.RESTClient, resource, name, include string) *metav1.Table {
	t.Helper()
	req := rc.Get().Namespace("default").Resource(resource).SetHeader("Accept", kubectlTableAccept)
	if name != "" {
		req = req.Name(name)
	}
	if include != "" {
		req = req.Param("includeObject", include)
	}
	var table metav1.Table
	if err := req.Do(t.Context()).Into(&table); err != nil {
		t.Fatalf("table of %s %s: %v", resource, name, err)
	}
	return &table
}

// rawType is the type of an answer, and its content type.
func (h *harness) rawType(t *testing.T, path, accept string) (metav1.TypeMeta, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.tokens["reader"])
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tm metav1.TypeMeta
	if err := json.NewDecoder(resp.Body).Decode(&tm); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return tm, resp.Header.Get("Content-Type")
}

func columnNames(t *metav1.Table) []string {
	var out []string
	for _, c := range t.ColumnDefinitions {
		out = append(out, c.Name+":"+c.Type)
	}
	return out
}

// rowsByName returns each row's cells (but the last: the age) by name.
func rowsByName(t *testing.T, table *metav1.Table) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, r := range table.Rows {
		if len(r.Cells) != len(table.ColumnDefinitions) {
			t.Fatalf("row %v has %d cells for %d columns", r.Cells, len(r.Cells), len(table.ColumnDefinitions))
		}
		name, _ := r.Cells[0].(string)
		out[name] = r.Cells[:len(r.Cells)-1]
	}
	return out
}

// The row objects of the three includeObject policies.
func checkRowObjects(t *testing.T, rc *rest.RESTClient, resource, name, kind string) {
	t.Helper()
	for _, c := range []struct {
		include, kind string
	}{
		{"", "PartialObjectMetadata"},
		{"Metadata", "PartialObjectMetadata"},
		{"Object", kind},
		{"None", ""},
	} {
		table := getTable(t, rc, resource, name, c.include)
		if len(table.Rows) == 0 {
			t.Fatalf("%s %s: no rows", resource, name)
		}
		for _, r := range table.Rows {
			if c.kind == "" {
				if len(r.Object.Raw) != 0 {
					t.Errorf("%s includeObject=None: row object %s", resource, r.Object.Raw)
				}
				continue
			}
			var obj struct {
				metav1.TypeMeta
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     json.RawMessage   `json:"spec"`
			}
			if err := json.Unmarshal(r.Object.Raw, &obj); err != nil {
				t.Fatalf("%s includeObject=%s: row object: %v", resource, c.include, err)
			}
			if obj.Kind != c.kind || obj.Metadata.Name != r.Cells[0] || obj.Metadata.UID == "" || obj.Metadata.CreationTimestamp.IsZero() {
				t.Errorf("%s includeObject=%s: row object %s %s (uid %q, created %v)", resource, c.include, obj.Kind, obj.Metadata.Name,
					obj.Metadata.UID, obj.Metadata.CreationTimestamp)
			}
			if (c.kind == kind) != (len(obj.Spec) > 0) {
				t.Errorf("%s includeObject=%s: spec %s", resource, c.include, obj.Spec)
			}
		}
	}
}

func TestTablePackageRevisions(t *testing.T) {
	h := start(t)
	h.addRepo("blueprints", blueprints(t).Dir)
	rc := h.tableClient(t, "pkg.pkgserver.dev")

	list := getTable(t, rc, "packagerevisions", "", "")
	want := []string{"Name:string", "Package:string", "Workspace:string", "Revision:string", "Latest:boolean", "Lifecycle:string",
		"Repository:string", "Age:date"}
	if diff := cmp.Diff(want, columnNames(list)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	rows := rowsByName(t, list)
	for name, cells := range map[string][]any{
		"blueprints.nginx.v2":      {"blueprints.nginx.v2", "nginx", "v2", "v2", true, "Published", "blueprints"},
		"blueprints.nginx.v1":      {"blueprints.nginx.v1", "nginx", "v1", "v1", false, "Published", "blueprints"},
		"blueprints.nginx.tuning":  {"blueprints.nginx.tuning", "nginx", "tuning", "", false, "Draft", "blueprints"},
		"blueprints.redis.upgrade": {"blueprints.redis.upgrade", "redis", "upgrade", "", false, "Proposed", "blueprints"},
	} {
		if diff := cmp.Diff(cells, rows[name]); diff != "" {
			t.Errorf("row %s (-want +got):\n%s", name, diff)
		}
	}
	var plain struct {
		metav1.ListMeta `json:"metadata"`
		Items           []any `json:"items"`
	}
	h.get(revsPath, "reader", &plain)
	if len(list.Rows) != len(plain.Items) || list.ResourceVersion != plain.ResourceVersion {
		t.Errorf("table: %d rows at %s; list: %d items at %s", len(list.Rows), list.ResourceVersion, len(plain.Items), plain.ResourceVersion)
	}
	for _, r := range list.Rows {
		if age, _ := r.Cells[len(r.Cells)-1].(string); age == "" || age == "<unknown>" {
			t.Errorf("row %v: age %q", r.Cells[0], age)
		}
	}

	// A get, twice: the second answer comes from the cache of answers.
	for range 2 {
		one := getTable(t, rc, "packagerevisions", "blueprints.nginx.v2", "")
		if len(one.Rows) != 1 || one.Rows[0].Cells[0] != "blueprints.nginx.v2" || one.ResourceVersion == "" {
			t.Errorf("get: %+v", one)
		}
	}
	checkRowObjects(t, rc, "packagerevisions", "", "PackageRevision")
	checkRowObjects(t, rc, "packagerevisions", "blueprints.redis.v1", "PackageRevision")

	// The answer's own type, which client-go's decoding drops.
	for accept, want := range map[string]string{
		kubectlTableAccept: "meta.k8s.io/v1 Table",
		"application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json": "meta.k8s.io/v1beta1 Table",
		"application/json, application/json;as=Table;v=v1;g=meta.k8s.io":      "pkg.pkgserver.dev/v1alpha1 PackageRevision",
		"": "pkg.pkgserver.dev/v1alpha1 PackageRevision",
	} {
		if tm, ct := h.rawType(t, revsPath+"/blueprints.nginx.v2", accept); tm.APIVersion+" "+tm.Kind != want || ct != "application/json" {
			t.Errorf("Accept %q: %s %s as %s, want %s", accept, tm.APIVersion, tm.Kind, ct, want)
		}
	}

	// Without a Table in Accept, the object itself.
	var pr struct{ Kind string }
	h.get(revsPath+"/blueprints.nginx.v2", "reader", &pr)
	if pr.Kind != "PackageRevision" {
		t.Errorf("plain get answered a %s", pr.Kind)
	}
	// A bad includeObject is refused.
	err := rc.Get().Namespace("default").Resource("packagerevisions").SetHeader("Accept", kubectlTableAccept).
		Param("includeObject", "All").Do(t.Context()).Error()
	if !apierrors.IsBadRequest(err) {
		t.Errorf("includeObject=All: %v, want BadRequest", err)
	}
	// Errors stay Status.
	err = rc.Get().Namespace("default").Resource("packagerevisions").Name("nothing").SetHeader("Accept", kubectlTableAccept).
		Do(t.Context()).Error()
	if !apierrors.IsNotFound(err) {
		t.Errorf("get of nothing: %v, want NotFound", err)
	}
}

func TestTableRepositories(t *testing.T) {
	h := start(t)
	bp := blueprints(t)
	h.addRepo("blueprints", bp.Dir, func(r *configv1alpha1.Repository) { r.Spec.Deployment = true })
	rc := h.tableClient(t, "config.pkg.pkgserver.dev")
	list := getTable(t, rc, "repositories", "", "")
	want := []string{"Name:string", "Type:string", "Deployment:boolean", "Ready:string", "Address:string", "Age:date"}
	if diff := cmp.Diff(want, columnNames(list)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]any{"blueprints": {"blueprints", "git", true, "True", bp.Dir}}, rowsByName(t, list)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	one := getTable(t, rc, "repositories", "blueprints", "")
	if diff := cmp.Diff(rowsByName(t, list), rowsByName(t, one)); diff != "" {
		t.Errorf("get (-list +get):\n%s", diff)
	}
	checkRowObjects(t, rc, "repositories", "", "Repository")
	checkRowObjects(t, rc, "repositories", "blueprints", "Repository")
}

func TestTablePackageRevisionResources(t *testing.T) {
	h := start(t)
	h.addRepo("blueprints", blueprints(t).Dir)
	rc := h.tableClient(t, "pkg.pkgserver.dev")
	one := getTable(t, rc, "packagerevisionresources", "blueprints.nginx.v1", "")
	want := []string{"Name:string", "Package:string", "Workspace:string", "Revision:string", "Repository:string", "Files:integer", "Age:date"}
	if diff := cmp.Diff(want, columnNames(one)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	var res struct {
		Spec struct{ Resources map[string]string } `json:"spec"`
	}
	h.get(resPath+"/blueprints.nginx.v1", "reader", &res)
	// JSON numbers decode as int64 into a Table's cells.
	if diff := cmp.Diff(map[string][]any{"blueprints.nginx.v1": {"blueprints.nginx.v1", "nginx", "v1", "v1", "blueprints",
		int64(len(res.Spec.Resources))}}, rowsByName(t, one)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	checkRowObjects(t, rc, "packagerevisionresources", "blueprints.nginx.v1", "PackageRevisionResources")

	// The list, streamed, is converted row by row.
	list := getTable(t, rc, "packagerevisionresources", "", "")
	rows := rowsByName(t, list)
	if diff := cmp.Diff(rowsByName(t, one)["blueprints.nginx.v1"], rows["blueprints.nginx.v1"]); diff != "" || len(rows) != len(h.revisions("")) {
		t.Errorf("list: %d rows, blueprints.nginx.v1 (-get +list):\n%s", len(rows), diff)
	}
	var plain struct {
		metav1.ListMeta `json:"metadata"`
	}
	h.get(resPath, "reader", &plain)
	if list.ResourceVersion != plain.ResourceVersion {
		t.Errorf("table at %s, list at %s", list.ResourceVersion, plain.ResourceVersion)
	}
	checkRowObjects(t, rc, "packagerevisionresources", "", "PackageRevisionResources")
	// A page of the list.
	page := &metav1.Table{}
	if err := rc.Get().Namespace("default").Resource("packagerevisionresources").Param("limit", "2").
		SetHeader("Accept", kubectlTableAccept).Do(t.Context()).Into(page); err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 2 || page.Continue == "" {
		t.Errorf("a page of 2: %d rows, continue %q", len(page.Rows), page.Continue)
	}
}
