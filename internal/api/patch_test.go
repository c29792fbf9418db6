package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// Content types of patches.
const (
	mergePatch     = "application/merge-patch+json"
	jsonPatch      = "application/json-patch+json"
	applyPatch     = "application/apply-patch+yaml"
	strategicPatch = "application/strategic-merge-patch+json"
)

// patchAnswer is the answer to a PATCH.
type patchAnswer struct {
	code     int
	body     []byte
	warnings []string
}

// patch sends a PATCH of a content type with a token (by name).
func (h *harness) patch(path, token, contentType, body string) patchAnswer {
	h.t.Helper()
	a, err := h.tryPatch(path, token, contentType, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// tryPatch is patch for goroutines other than the test's: it returns
// what fails rather than failing the test.
func (h *harness) tryPatch(path, token, contentType, body string) (patchAnswer, error) {
	req, err := http.NewRequest(http.MethodPatch, h.url+path, strings.NewReader(body))
	if err != nil {
		return patchAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+h.tokens[token])
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return patchAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return patchAnswer{}, err
	}
	return patchAnswer{code: resp.StatusCode, body: data, warnings: resp.Header.Values("Warning")}, nil
}

// patchOK sends a PATCH that must answer want, and decodes the object.
func (h *harness) patchOK(path, token, contentType, body string, want int, out any) {
	h.t.Helper()
	a := h.patch(path, token, contentType, body)
	if a.code != want {
		h.t.Fatalf("PATCH %s (%s) %s: %d, want %d: %s", path, contentType, body, a.code, want, a.body)
	}
	// Decoded afresh: json.Unmarshal merges into maps it finds.
	v := reflect.ValueOf(out).Elem()
	v.Set(reflect.Zero(v.Type()))
	if err := json.Unmarshal(a.body, out); err != nil {
		h.t.Fatalf("PATCH %s: %v in %s", path, err, a.body)
	}
}

// patchRefused sends a PATCH that must be refused with a Status of code.
func (h *harness) patchRefused(path, token, contentType, body string, code int) metav1.Status {
	h.t.Helper()
	a := h.patch(path, token, contentType, body)
	return h.status(a.code, a.body, code)
}

// managers lists the managed fields entries of an object as
// manager/operation[/subresource], in order.
func managers(m metav1.ObjectMeta) []string {
	var out []string
	for _, e := range m.ManagedFields {
		s := e.Manager + "/" + string(e.Operation)
		if e.Subresource != "" {
			s += "/" + e.Subresource
		}
		out = append(out, s)
	}
	return out
}

// owns says whether a manager's entry names a field (a path of fieldsV1,
// such as f:spec/f:git/f:branch).
func owns(t *testing.T, m metav1.ObjectMeta, manager, path string) bool {
	t.Helper()
	for _, e := range m.ManagedFields {
		if e.Manager != manager || e.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields); err != nil {
			t.Fatal(err)
		}
		node := fields
		found := true
		for _, step := range strings.Split(path, "/") {
			next, ok := node[step].(map[string]any)
			if !ok {
				found = false
				break
			}
			node = next
		}
		if found {
			return true
		}
	}
	return false
}

// TestPatchRepository: merge and JSON patches of a repository's spec and
// labels, written as a PUT would be, with the managers of the changes; bad
// patches refused with nothing changed.
func TestPatchRepository(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	before := h.addRepo("blueprints", g.Dir)
	path := reposPath + "/blueprints"

	var r configv1alpha1.Repository
	h.patchOK(path+"?fieldManager=ops", "nsadmin", mergePatch,
		`{"metadata":{"labels":{"team":"web"}},"spec":{"sync":{"interval":"30s"}}}`, 200, &r)
	if r.Labels["team"] != "web" || r.Spec.Sync == nil || r.Spec.Sync.Interval.Duration != 30*time.Second {
		t.Errorf("merge patched: %v %+v", r.Labels, r.Spec.Sync)
	}
	if r.ResourceVersion == before.ResourceVersion || r.Generation != before.Generation+1 || r.UID != before.UID {
		t.Errorf("metadata after the patch: rv %s (was %s), generation %d (was %d), uid %s (was %s)",
			r.ResourceVersion, before.ResourceVersion, r.Generation, before.Generation, r.UID, before.UID)
	}
	if r.Spec.Git.URL != g.Dir || r.Spec.Git.Branch != "main" {
		t.Errorf("fields the patch left out changed: %+v", r.Spec.Git)
	}
	if !slices.Contains(managers(r.ObjectMeta), "ops/Update") || !owns(t, r.ObjectMeta, "ops", "f:metadata/f:labels/f:team") ||
		!owns(t, r.ObjectMeta, "ops", "f:spec/f:sync/f:interval") {
		t.Errorf("managers after the merge patch: %v", managers(r.ObjectMeta))
	}
	var got configv1alpha1.Repository
	h.get(path, "admin", &got)
	if got.Labels["team"] != "web" || got.ResourceVersion != r.ResourceVersion || len(got.ManagedFields) == 0 {
		t.Errorf("read after the patch: %v rv %s managed %v", got.Labels, got.ResourceVersion, managers(got.ObjectMeta))
	}

	// JSON patch: a test that holds, then changes. The manager of a patch
	// without fieldManager is the client's (Go's HTTP client here).
	h.patchOK(path, "nsadmin", jsonPatch, `[{"op":"test","path":"/metadata/labels/team","value":"web"},
		{"op":"add","path":"/metadata/labels/tier","value":"gold"},{"op":"replace","path":"/spec/deployment","value":true}]`, 200, &r)
	if r.Labels["tier"] != "gold" || !r.Spec.Deployment {
		t.Errorf("JSON patched: %v %+v", r.Labels, r.Spec)
	}
	if !slices.Contains(managers(r.ObjectMeta), "Go-http-client/Update") {
		t.Errorf("managers after the JSON patch: %v", managers(r.ObjectMeta))
	}

	// Refusals change nothing.
	h.get(path, "admin", &before)
	for _, tc := range []struct {
		name, contentType, query, body string
		code                           int
	}{
		{"failed test", jsonPatch, "", `[{"op":"test","path":"/spec/deployment","value":false},{"op":"replace","path":"/spec/deployment","value":false}]`, 422},
		{"path not there", jsonPatch, "", `[{"op":"replace","path":"/spec/nothing/here","value":1}]`, 422},
		{"not a JSON patch", jsonPatch, "", `{"spec":{}}`, 400},
		{"not JSON", mergePatch, "", `{"spec":`, 400},
		{"not an object", mergePatch, "", `[1]`, 400},
		{"not an object, unchecked", mergePatch, "?fieldValidation=Ignore", `[1]`, 422},
		{"field twice, strict", mergePatch, "?fieldValidation=Strict", `{"spec":{"deployment":false,"deployment":false}}`, 422},
		{"operation field unknown, strict", jsonPatch, "?fieldValidation=Strict", `[{"op":"replace","path":"/spec/deployment","value":false,"valeu":1}]`, 422},
		{"strategic merge", strategicPatch, "", `{"spec":{"deployment":false}}`, 415},
		{"unknown type", "text/plain", "", `deployment: false`, 415},
		{"stale resource version", mergePatch, "", `{"metadata":{"resourceVersion":"1"},"spec":{"deployment":false}}`, 409},
		{"another uid", mergePatch, "", `{"metadata":{"uid":"6a3c4c8e-0000-4000-8000-000000000000"},"spec":{"deployment":false}}`, 409},
		{"another name", mergePatch, "", `{"metadata":{"name":"other"}}`, 400},
		{"invalid spec", mergePatch, "", `{"spec":{"git":{"url":null}}}`, 422},
		{"wrong type", mergePatch, "", `{"spec":{"deployment":"yes"}}`, 422},
		{"unknown field, strict", mergePatch, "?fieldValidation=Strict", `{"spec":{"deployment":false,"colour":"red"}}`, 422},
		{"force without apply", mergePatch, "?force=true", `{"spec":{"deployment":false}}`, 422},
		{"apply without a manager", applyPatch, "", "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: blueprints}\n", 422},
		{"bad dry run", mergePatch, "?dryRun=Some", `{"spec":{"deployment":false}}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.patchRefused(path+tc.query, "nsadmin", tc.contentType, tc.body, tc.code)
			var after configv1alpha1.Repository
			h.get(path, "admin", &after)
			// The status changes as the repository syncs; what it asks
			// for must not.
			if after.Generation != before.Generation || !equality.Semantic.DeepEqual(after.Spec, before.Spec) ||
				!maps.Equal(after.Labels, before.Labels) || len(after.ManagedFields) != len(before.ManagedFields) {
				t.Errorf("a refused patch changed the repository: %+v %v", after.Spec, after.Labels)
			}
		})
	}

	// The resource version read, named in the patch, is checked.
	h.get(path, "admin", &before)
	var current configv1alpha1.Repository
	h.patchOK(path, "nsadmin", mergePatch, `{"metadata":{"resourceVersion":"`+before.ResourceVersion+`"},"spec":{"deployment":false}}`, 200, &current)
	if current.Spec.Deployment {
		t.Errorf("patch at the current resource version not applied")
	}
	// Unknown fields are told as warnings by default.
	a := h.patch(path, "nsadmin", mergePatch, `{"spec":{"colour":"red"}}`)
	if a.code != 200 || len(a.warnings) != 1 || !strings.Contains(a.warnings[0], `unknown field \"spec.colour\"`) {
		t.Errorf("unknown field, warned: %d %q %s", a.code, a.warnings, a.body)
	}

	// Authorization as for PUT; a missing repository is 404.
	h.patchRefused(path, "writer", mergePatch, `{"spec":{"deployment":true}}`, 403)
	h.patchRefused(reposPath+"/nothing", "nsadmin", mergePatch, `{"spec":{"deployment":true}}`, 404)

	// A dry run answers the patched object and changes nothing.
	h.get(path, "admin", &before)
	h.patchOK(path+"?dryRun=All", "nsadmin", mergePatch, `{"metadata":{"labels":{"dry":"run"}}}`, 200, &r)
	if r.Labels["dry"] != "run" {
		t.Errorf("dry run answer: %v", r.Labels)
	}
	h.get(path, "admin", &got)
	if !maps.Equal(got.Labels, before.Labels) || got.Generation != before.Generation {
		t.Errorf("a dry run changed the repository: %v", got.Labels)
	}
}

// TestServerSideApplyRepository: an apply creates a repository, records
// its manager and the fields it owns; another manager's apply of a field
// the first owns is a conflict naming both, unless forced.
func TestServerSideApplyRepository(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	path := reposPath + "/applied"
	cfg := "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: applied\n  labels:\n    team: web\n" +
		"spec:\n  git:\n    url: " + g.Dir + "\n    branch: main\n"

	// A dry run creates nothing.
	var r configv1alpha1.Repository
	h.patchOK(path+"?fieldManager=alice&dryRun=All", "admin", applyPatch, cfg, 201, &r)
	if code, _ := h.do(http.MethodGet, path, "admin", nil); code != 404 {
		t.Fatalf("a dry-run apply created the repository: %d", code)
	}

	h.patchOK(path+"?fieldManager=alice", "admin", applyPatch, cfg, 201, &r)
	if r.Spec.Git.URL != g.Dir || r.Labels["team"] != "web" || r.UID == "" {
		t.Fatalf("created by apply: %+v", r)
	}
	if got := managers(r.ObjectMeta); !slices.Equal(got, []string{"alice/Apply"}) {
		t.Errorf("managers = %v", got)
	}
	for _, f := range []string{"f:spec/f:git/f:url", "f:spec/f:git/f:branch", "f:metadata/f:labels/f:team"} {
		if !owns(t, r.ObjectMeta, "alice", f) {
			t.Errorf("alice does not own %s: %s", f, r.ManagedFields[0].FieldsV1.GetRawString())
		}
	}
	h.waitReady("applied")

	// A key given twice: a warning by default, refused when strict.
	twice := strings.Replace(cfg, "  name: applied\n", "  name: applied\n  name: applied\n", 1)
	if a := h.patch(path+"?fieldManager=alice", "admin", applyPatch, twice); a.code != 200 || len(a.warnings) != 1 || !strings.Contains(a.warnings[0], "already set") {
		t.Errorf("a key twice: %d %q %s", a.code, a.warnings, a.body)
	}
	h.patchRefused(path+"?fieldManager=alice&fieldValidation=Strict", "admin", applyPatch, twice, 400)

	// The same configuration again changes nothing.
	var again configv1alpha1.Repository
	h.patchOK(path+"?fieldManager=alice", "admin", applyPatch, cfg, 200, &again)
	if again.Spec != r.Spec {
		t.Errorf("re-applied: %+v, was %+v", again.Spec, r.Spec)
	}

	// Bob's label is his own; his branch conflicts with alice's.
	h.patchOK(path+"?fieldManager=bob", "admin", applyPatch,
		"apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: applied\n  labels:\n    owner: bob\n", 200, &r)
	if r.Labels["owner"] != "bob" || r.Labels["team"] != "web" || !owns(t, r.ObjectMeta, "bob", "f:metadata/f:labels/f:owner") {
		t.Errorf("bob's label: %v %v", r.Labels, managers(r.ObjectMeta))
	}
	bob := "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: applied\nspec:\n  git:\n    branch: dev\n"
	st := h.patchRefused(path+"?fieldManager=bob", "admin", applyPatch, bob, 409)
	if st.Reason != metav1.StatusReasonConflict || st.Details == nil || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Field != ".spec.git.branch" || st.Details.Causes[0].Message != `conflict with "alice"` {
		t.Errorf("conflict: %s %+v", st.Message, st.Details)
	}
	var got configv1alpha1.Repository
	h.get(path, "admin", &got)
	if got.Spec.Git.Branch != "main" {
		t.Errorf("a conflicting apply changed the branch to %s", got.Spec.Git.Branch)
	}

	// Forced: bob takes the branch over.
	h.patchOK(path+"?fieldManager=bob&force=true", "admin", applyPatch, bob, 200, &r)
	if r.Spec.Git.Branch != "dev" || !owns(t, r.ObjectMeta, "bob", "f:spec/f:git/f:branch") || owns(t, r.ObjectMeta, "alice", "f:spec/f:git/f:branch") {
		t.Errorf("forced: branch %s, managers %v", r.Spec.Git.Branch, managers(r.ObjectMeta))
	}
	if !owns(t, r.ObjectMeta, "alice", "f:spec/f:git/f:url") {
		t.Errorf("alice lost the url")
	}
	if _, ok := r.Labels["owner"]; ok {
		t.Errorf("bob's label outlived his configuration: %v", r.Labels)
	}
	// Alice gives up her label: it goes; what bob set and what the server
	// defaults stay.
	h.patchOK(path+"?fieldManager=alice", "admin", applyPatch,
		"apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: applied\nspec:\n  git:\n    url: "+g.Dir+"\n", 200, &r)
	if _, ok := r.Labels["team"]; ok || r.Spec.Git.Branch != "dev" || r.Spec.Type != "git" || r.Spec.Provider != "git" || r.UID != got.UID {
		t.Errorf("after alice gave up her label: %v %+v %s", r.Labels, r.Spec, r.UID)
	}

	// An apply configuration of another kind or version is refused.
	h.patchRefused(path+"?fieldManager=bob", "admin", applyPatch, "apiVersion: v1\nkind: Repository\nmetadata: {name: applied}\n", 400)
	h.patchRefused(path+"?fieldManager=bob", "admin", applyPatch, "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: ConfigMap\nmetadata: {name: applied}\n", 400)
	h.patchRefused(path+"?fieldManager=bob", "admin", applyPatch, "kind: [", 400)
	// Fields the schema does not declare are refused, whatever
	// fieldValidation says: the configuration cannot be merged.
	unknown := "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: applied}\nspec:\n  colour: red\n"
	st = h.patchRefused(path+"?fieldManager=bob&fieldValidation=Ignore", "admin", applyPatch, unknown, 422)
	if !strings.Contains(st.Message, ".spec.colour") {
		t.Errorf("unknown field: %s", st.Message)
	}
}

// TestPatchDraft: labels and annotations of a Draft by merge patch, JSON
// patch and apply (kept in its Kptfile, the managers in the index); the
// Draft proposed by a merge patch and approved by one of its approval.
func TestPatchDraft(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "first", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	path := revsPath + "/" + pr.Name

	h.patchOK(path, "writer", mergePatch, `{"metadata":{"labels":{"team":"web"},"annotations":{"example.com/owner":"alice"}}}`, 200, &pr)
	if pr.Labels["team"] != "web" || pr.Annotations["example.com/owner"] != "alice" || pr.Spec.Lifecycle != "Draft" {
		t.Errorf("merge patched: %v %v %s", pr.Labels, pr.Annotations, pr.Spec.Lifecycle)
	}
	kptfile := git(t, dir, "show", "drafts/nginx/first:nginx/Kptfile")
	if !strings.Contains(kptfile, "team: web") || !strings.Contains(kptfile, "example.com/owner: alice") {
		t.Errorf("Kptfile after the patch:\n%s", kptfile)
	}
	h.patchOK(path, "writer", jsonPatch, `[{"op":"remove","path":"/metadata/annotations/example.com~1owner"},{"op":"add","path":"/metadata/labels/tier","value":"gold"}]`, 200, &pr)
	if pr.Labels["tier"] != "gold" || pr.Annotations["example.com/owner"] != "" {
		t.Errorf("JSON patched: %v %v", pr.Labels, pr.Annotations)
	}

	// Apply: labels of two managers, kept between requests.
	cfg := "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: " + pr.Name + "\n  labels:\n    stage: dev\n"
	h.patchOK(path+"?fieldManager=ci", "writer", applyPatch, cfg, 200, &pr)
	if pr.Labels["stage"] != "dev" || pr.Labels["team"] != "web" || !owns(t, pr.ObjectMeta, "ci", "f:metadata/f:labels/f:stage") {
		t.Errorf("applied: %v %v", pr.Labels, managers(pr.ObjectMeta))
	}
	st := h.patchRefused(path+"?fieldManager=ops", "writer", applyPatch, strings.Replace(cfg, "stage: dev", "stage: prod", 1), 409)
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != ".metadata.labels.stage" ||
		st.Details.Causes[0].Message != `conflict with "ci"` {
		t.Errorf("conflict: %s %+v", st.Message, st.Details)
	}
	if got := h.revision(pr.Name); got.Labels["stage"] != "dev" {
		t.Errorf("a conflicting apply changed the label: %v", got.Labels)
	}
	// Removed from ci's configuration, the label goes.
	h.patchOK(path+"?fieldManager=ci", "writer", applyPatch, strings.Replace(cfg, "    stage: dev\n", "    owner: ci\n", 1), 200, &pr)
	if _, ok := pr.Labels["stage"]; ok || pr.Labels["owner"] != "ci" {
		t.Errorf("re-applied without stage: %v", pr.Labels)
	}

	// Readiness gates are a list keyed by condition type: each manager's
	// are its own.
	gates := func(gate string) string {
		return "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: " + pr.Name +
			"\nspec:\n  readinessGates:\n  - conditionType: " + gate + "\n"
	}
	h.patchOK(path+"?fieldManager=gate-a", "writer", applyPatch, gates("example.com/a"), 200, &pr)
	h.patchOK(path+"?fieldManager=gate-b", "writer", applyPatch, gates("example.com/b"), 200, &pr)
	if got := fmt.Sprint(pr.Spec.ReadinessGates); got != "[{example.com/a} {example.com/b}]" {
		t.Errorf("readiness gates of two managers: %s", got)
	}
	if got := git(t, dir, "show", "drafts/nginx/first:nginx/Kptfile"); !strings.Contains(got, "conditionType: example.com/b") {
		t.Errorf("Kptfile after the gates:\n%s", got)
	}
	// Left out of their managers' next applies, they go.
	for _, m := range []string{"gate-a", "gate-b"} {
		h.patchOK(path+"?fieldManager="+m, "writer", applyPatch, strings.TrimSuffix(gates(""), "spec:\n  readinessGates:\n  - conditionType: \n"), 200, &pr)
	}
	if len(pr.Spec.ReadinessGates) != 0 {
		t.Errorf("readiness gates left: %v", pr.Spec.ReadinessGates)
	}

	// A dry run changes nothing in git.
	head := git(t, dir, "rev-parse", "drafts/nginx/first")
	h.patchOK(path+"?dryRun=All", "writer", mergePatch, `{"metadata":{"labels":{"dry":"run"}}}`, 200, &pr)
	if pr.Labels["dry"] != "run" || git(t, dir, "rev-parse", "drafts/nginx/first") != head {
		t.Errorf("dry run: %v, branch moved: %v", pr.Labels, git(t, dir, "rev-parse", "drafts/nginx/first") != head)
	}
	// Identity fields are immutable; labels pkgserver sets are its own.
	h.patchRefused(path, "writer", mergePatch, `{"spec":{"packageName":"other"}}`, 422)
	h.patchRefused(path, "writer", mergePatch, `{"spec":{"lifecycle":"Published"}}`, 422)
	h.patchRefused(revsPath+"/blueprints.nginx.none", "writer", mergePatch, `{"metadata":{"labels":{"a":"b"}}}`, 404)
	h.patchRefused(path, "reader", mergePatch, `{"metadata":{"labels":{"a":"b"}}}`, 403)
	if got := git(t, dir, "rev-parse", "drafts/nginx/first"); got != head {
		t.Errorf("refused patches moved the draft's branch")
	}

	// Proposed by a merge patch, approved by a merge patch of the approval.
	h.patchOK(path, "writer", mergePatch, `{"spec":{"lifecycle":"Proposed"}}`, 200, &pr)
	if pr.Spec.Lifecycle != "Proposed" || git(t, dir, "branch", "--list", "proposed/nginx/first") == "" {
		t.Fatalf("proposed: %s; branches %s", pr.Spec.Lifecycle, git(t, dir, "branch", "--list"))
	}
	h.patchOK(path+"/approval", "writer", mergePatch, `{"spec":{"lifecycle":"Published"}}`, 200, &pr)
	if pr.Spec.Lifecycle != "Published" || git(t, dir, "tag", "--list", "nginx/v1") == "" {
		t.Errorf("approved: %s; tags %s", pr.Spec.Lifecycle, git(t, dir, "tag", "--list"))
	}
}

// TestServerSideApplyDraft: kubectl apply --server-side of a revision's
// configuration creates the Draft from its task, and applied again
// (tasks and all) changes only what changed.
func TestServerSideApplyDraft(t *testing.T) {
	h := start(t)
	h.hosted("blueprints")
	cfg := `apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevision
metadata:
  name: blueprints.nginx.applied
  labels:
    team: web
spec:
  repository: blueprints
  packageName: nginx
  workspaceName: applied
  lifecycle: Draft
  tasks:
  - type: init
    init:
      description: applied
`
	path := revsPath + "/blueprints.nginx.applied"
	var pr pkgv1alpha1.PackageRevision
	h.patchOK(path+"?fieldManager=kubectl", "writer", applyPatch, cfg, 201, &pr)
	if pr.Spec.Lifecycle != "Draft" || pr.Labels["team"] != "web" || !slices.Equal(managers(pr.ObjectMeta), []string{"kubectl/Apply"}) {
		t.Fatalf("created by apply: %s %v %v", pr.Spec.Lifecycle, pr.Labels, managers(pr.ObjectMeta))
	}
	h.patchOK(path+"?fieldManager=kubectl", "writer", applyPatch, strings.Replace(cfg, "team: web", "team: ops", 1), 200, &pr)
	if pr.Labels["team"] != "ops" {
		t.Errorf("applied again: %v", pr.Labels)
	}
	// Tasks are not kept, so no manager owns them: a client-side apply's
	// merge patch and another manager's apply may name them again.
	h.patchOK(path+"?fieldManager=kubectl-client-side-apply", "writer", mergePatch,
		`{"spec":{"tasks":[{"type":"init","init":{"description":"applied"}}]}}`, 200, &pr)
	h.patchOK(path+"?fieldManager=second", "writer", applyPatch, strings.Replace(cfg, "team: web", "team: ops", 1), 200, &pr)
	if len(pr.Spec.Tasks) != 0 || owns(t, pr.ObjectMeta, "kubectl", "f:spec/f:tasks") {
		t.Errorf("tasks kept or owned: %v %v", pr.Spec.Tasks, managers(pr.ObjectMeta))
	}

	// Deleted, its managers go with it: a Draft made anew under its name
	// starts with none.
	h.write(http.MethodDelete, path, nil, 200, nil)
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "applied", pkgv1alpha1.Task{Type: "init"}), 201, nil)
	h.patchOK(path+"?fieldManager=labeller", "writer", mergePatch, `{"metadata":{"labels":{"tier":"gold"}}}`, 200, &pr)
	if got := managers(pr.ObjectMeta); slices.Contains(got, "kubectl/Apply") || !slices.Contains(got, "labeller/Update") {
		t.Errorf("managers of the Draft made anew: %v", got)
	}

	// The URL must name the revision the configuration makes.
	h.patchRefused(revsPath+"/blueprints.nginx.other?fieldManager=kubectl", "writer", applyPatch,
		strings.Replace(cfg, "name: blueprints.nginx.applied", "name: blueprints.nginx.other", 1), 422)
	if code, _ := h.do(http.MethodGet, revsPath+"/blueprints.nginx.other", "reader", nil); code != 404 {
		t.Errorf("a refused apply created a revision: %d", code)
	}
}

// TestPatchResources: files of a Draft added and removed by merge patch of
// spec.resources; invalid content refused with nothing changed.
func TestPatchResources(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "files", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	path := resPath + "/" + pr.Name

	body, _ := json.Marshal(map[string]any{"spec": map[string]any{"resources": map[string]string{"deployment.yaml": deployment}}})
	var res pkgv1alpha1.PackageRevisionResources
	h.patchOK(path, "writer", mergePatch, string(body), 200, &res)
	if res.Spec.Resources["deployment.yaml"] != deployment || res.Spec.Resources["Kptfile"] == "" {
		t.Errorf("patched resources: %v", slices.Sorted(maps.Keys(res.Spec.Resources)))
	}
	if git(t, dir, "show", "drafts/nginx/files:nginx/deployment.yaml") != strings.TrimSpace(deployment) {
		t.Errorf("file not committed")
	}
	if !slices.Contains(managers(res.ObjectMeta), "Go-http-client/Update") {
		t.Errorf("managers: %v", managers(res.ObjectMeta))
	}

	head := git(t, dir, "rev-parse", "drafts/nginx/files")
	bad, _ := json.Marshal(map[string]any{"spec": map[string]any{"resources": map[string]string{
		"deployment.yaml": strings.Replace(deployment, "replicas: 3", "replicas: three", 1)}}})
	h.patchRefused(path, "writer", mergePatch, string(bad), 422)
	if git(t, dir, "rev-parse", "drafts/nginx/files") != head {
		t.Errorf("a refused patch moved the branch")
	}

	// Applied, a file is its manager's: the others stay, and it goes
	// when its manager's configuration leaves it out.
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n"
	cfg, _ := json.Marshal(map[string]any{"apiVersion": "pkg.pkgserver.dev/v1alpha1", "kind": "PackageRevisionResources",
		"metadata": map[string]any{"name": pr.Name}, "spec": map[string]any{"resources": map[string]string{"extra.yaml": cm}}})
	h.patchOK(path+"?fieldManager=files", "writer", applyPatch, string(cfg), 200, &res)
	if res.Spec.Resources["extra.yaml"] != cm || res.Spec.Resources["deployment.yaml"] != deployment || res.Spec.Resources["Kptfile"] == "" {
		t.Errorf("applied resources: %v", slices.Sorted(maps.Keys(res.Spec.Resources)))
	}
	h.patchOK(path+"?fieldManager=files", "writer", applyPatch, `{"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevisionResources","metadata":{"name":"`+pr.Name+`"}}`, 200, &res)
	if _, ok := res.Spec.Resources["extra.yaml"]; ok || res.Spec.Resources["deployment.yaml"] != deployment {
		t.Errorf("resources after the file was left out: %v", slices.Sorted(maps.Keys(res.Spec.Resources)))
	}

	h.patchOK(path, "writer", mergePatch, `{"spec":{"resources":{"deployment.yaml":null}}}`, 200, &res)
	if _, ok := res.Spec.Resources["deployment.yaml"]; ok {
		t.Errorf("file not removed")
	}
	if out, err := exec.Command("git", "-C", dir, "show", "drafts/nginx/files:nginx/deployment.yaml").CombinedOutput(); err == nil {
		t.Errorf("file still in git: %s", out)
	}
}

// TestPatchClientGo patches and applies with client-go's dynamic client, as
// controllers and kubectl do.
func TestPatchClientGo(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.hosted("hosted")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: h.url, BearerToken: h.tokens["admin"], UserAgent: "pkgctl/v1 (test)"})
	if err != nil {
		t.Fatal(err)
	}
	repos := dyn.Resource(schema.GroupVersionResource{Group: "config.pkg.pkgserver.dev", Version: "v1alpha1", Resource: "repositories"}).Namespace("default")
	prs := dyn.Resource(schema.GroupVersionResource{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Resource: "packagerevisions"}).Namespace("default")

	// Apply creates, then updates; a second manager's conflict is a
	// Conflict error client-go recognizes.
	cfg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "config.pkg.pkgserver.dev/v1alpha1", "kind": "Repository",
		"metadata": map[string]any{"name": "catalog", "labels": map[string]any{"team": "web"}},
		"spec":     map[string]any{"git": map[string]any{"url": g.Dir}},
	}}
	r, err := repos.Apply(ctx, "catalog", cfg, metav1.ApplyOptions{FieldManager: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetUID() == "" || r.GetLabels()["team"] != "web" || len(r.GetManagedFields()) != 1 || r.GetManagedFields()[0].Manager != "controller" {
		t.Fatalf("applied: %v %v", r.GetLabels(), r.GetManagedFields())
	}
	if err := unstructured.SetNestedField(cfg.Object, true, "spec", "deployment"); err != nil {
		t.Fatal(err)
	}
	if r, err = repos.Apply(ctx, "catalog", cfg, metav1.ApplyOptions{FieldManager: "controller"}); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := unstructured.NestedBool(r.Object, "spec", "deployment"); !d {
		t.Errorf("applied again: %v", r.Object["spec"])
	}
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "config.pkg.pkgserver.dev/v1alpha1", "kind": "Repository",
		"metadata": map[string]any{"name": "catalog", "labels": map[string]any{"team": "ops"}},
	}}
	if _, err := repos.Apply(ctx, "catalog", other, metav1.ApplyOptions{FieldManager: "intruder"}); !apierrors.IsConflict(err) {
		t.Errorf("conflicting apply: %v", err)
	}
	if r, err = repos.Apply(ctx, "catalog", other, metav1.ApplyOptions{FieldManager: "intruder", Force: true}); err != nil || r.GetLabels()["team"] != "ops" {
		t.Errorf("forced apply: %v %v", err, r)
	}

	// Merge and JSON patches; the manager of a patch is the client's
	// name from its User-Agent.
	r, err = repos.Patch(ctx, "catalog", types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/note":"merged"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetAnnotations()["example.com/note"] != "merged" || !slices.ContainsFunc(r.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == "pkgctl" && e.Operation == metav1.ManagedFieldsOperationUpdate
	}) {
		t.Errorf("merge patched: %v %v", r.GetAnnotations(), r.GetManagedFields())
	}
	if _, err := repos.Patch(ctx, "catalog", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/deployment","value":false}]`), metav1.PatchOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("failed test: %v", err)
	}
	if _, err := repos.Patch(ctx, "nothing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing repository: %v", err)
	}
	if _, err := repos.Patch(ctx, "catalog", types.StrategicMergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsUnsupportedMediaType(err) {
		t.Errorf("strategic merge patch: %v", err)
	}
	// A dry-run apply answers without writing.
	dry := other.DeepCopy()
	if err := unstructured.SetNestedField(dry.Object, "dry", "metadata", "labels", "team"); err != nil {
		t.Fatal(err)
	}
	if r, err = repos.Apply(ctx, "catalog", dry, metav1.ApplyOptions{FieldManager: "intruder", DryRun: []string{metav1.DryRunAll}}); err != nil || r.GetLabels()["team"] != "dry" {
		t.Errorf("dry-run apply: %v %v", err, r)
	}
	if r, err = repos.Get(ctx, "catalog", metav1.GetOptions{}); err != nil || r.GetLabels()["team"] != "ops" {
		t.Errorf("after a dry-run apply: %v %v", err, r)
	}

	// A Draft created and labelled by apply, proposed by a merge patch.
	draft := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pkg.pkgserver.dev/v1alpha1", "kind": "PackageRevision",
		"metadata": map[string]any{"name": "hosted.nginx.cg", "labels": map[string]any{"team": "web"}},
		"spec": map[string]any{"repository": "hosted", "packageName": "nginx", "workspaceName": "cg", "lifecycle": "Draft",
			"tasks": []any{map[string]any{"type": "init"}}},
	}}
	pr, err := prs.Apply(ctx, "hosted.nginx.cg", draft, metav1.ApplyOptions{FieldManager: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	if pr.GetLabels()["team"] != "web" || len(pr.GetManagedFields()) != 1 {
		t.Errorf("draft applied: %v %v", pr.GetLabels(), pr.GetManagedFields())
	}
	pr, err = prs.Patch(ctx, "hosted.nginx.cg", types.MergePatchType, []byte(`{"spec":{"lifecycle":"Proposed"}}`), metav1.PatchOptions{FieldManager: "reviewer"})
	if err != nil {
		t.Fatal(err)
	}
	if lc, _, _ := unstructured.NestedString(pr.Object, "spec", "lifecycle"); lc != "Proposed" || len(pr.GetManagedFields()) != 2 {
		t.Errorf("proposed: %s %v", lc, pr.GetManagedFields())
	}
}

// TestConcurrentPatches: patches that name no resource version, sent at
// once to one Draft, all land: each one that loses the race to another is
// applied again to the revision as the other left it.
func TestConcurrentPatches(t *testing.T) {
	h := start(t)
	h.hosted("blueprints")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "busy", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	path := revsPath + "/" + pr.Name
	keys := []string{"a", "b", "c"}
	answers := make([]patchAnswer, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			answers[i], errs[i] = h.tryPatch(path, "writer", mergePatch, `{"metadata":{"labels":{"`+k+`":"set"}}}`)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := h.revision(pr.Name)
	for i, k := range keys {
		if answers[i].code != 200 || got.Labels[k] != "set" {
			t.Errorf("label %s: patch answered %d %s, label %q", k, answers[i].code, answers[i].body, got.Labels[k])
		}
	}
}

// managedOf reads the managers of a revision or of its resources, which
// the answers of patches carry: a JSON patch that changes nothing.
func (h *harness) managedOf(path, name string) metav1.ObjectMeta {
	h.t.Helper()
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	h.patchOK(path, "writer", jsonPatch, `[{"op":"test","path":"/metadata/name","value":"`+name+`"}]`, 200, &obj)
	return obj.Metadata
}

// TestConcurrentApplies: applies by different managers of a label the
// Draft has, sent at once, all keep their managers.
func TestConcurrentApplies(t *testing.T) {
	h := start(t)
	h.hosted("blueprints")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "shared", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	path := revsPath + "/" + pr.Name
	// The label is there already: the applies change only who owns it,
	// and write nothing to git.
	h.patchOK(path+"?fieldManager=seed", "writer", mergePatch, `{"metadata":{"labels":{"team":"web"}}}`, 200, &pr)
	cfg := "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: " + pr.Name + "\n  labels:\n    team: web\n"
	const n = 8
	answers := make([]patchAnswer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = h.tryPatch(fmt.Sprintf("%s?fieldManager=m%d", path, i), "writer", applyPatch, cfg)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := h.managedOf(path, pr.Name)
	for i := range n {
		m := fmt.Sprintf("m%d", i)
		if answers[i].code != 200 || !owns(t, got, m, "f:metadata/f:labels/f:team") {
			t.Errorf("%s: apply answered %d %s; managers now %v", m, answers[i].code, answers[i].body, managers(got))
		}
	}
}

// TestUpdateTakesOwnershipFromApply: a PUT takes the fields it changes from their
// appliers, as kube-apiserver's Update does, so that an applier applying
// its old value again is told of the conflict; a PUT whose body carries no
// managed fields keeps those there.
func TestUpdateTakesOwnershipFromApply(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.hosted("hosted")

	t.Run("repository", func(t *testing.T) {
		path := reposPath + "/owned"
		cfg := "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: owned\n" +
			"spec:\n  git:\n    url: " + g.Dir + "\n    branch: main\n"
		h.patchOK(path+"?fieldManager=alice", "admin", applyPatch, cfg, 201, new(configv1alpha1.Repository))
		// Syncs change the status meanwhile: an update is read, edited
		// and retried on a conflict, as client-go's RetryOnConflict does.
		update := func(url string, edit func(*configv1alpha1.Repository)) {
			t.Helper()
			for try := 1; ; try++ {
				var r configv1alpha1.Repository
				h.get(path, "admin", &r)
				edit(&r)
				code, body := h.do(http.MethodPut, url, "admin", r)
				if code == 200 {
					return
				}
				if code != http.StatusConflict || try == 5 {
					t.Fatalf("PUT: %d %s", code, body)
				}
			}
		}
		update(path, func(r *configv1alpha1.Repository) { r.Spec.Git.Branch = "dev" })
		var got configv1alpha1.Repository
		h.get(path, "admin", &got)
		if owns(t, got.ObjectMeta, "alice", "f:spec/f:git/f:branch") || !owns(t, got.ObjectMeta, "Go-http-client", "f:spec/f:git/f:branch") ||
			!owns(t, got.ObjectMeta, "alice", "f:spec/f:git/f:url") {
			t.Errorf("after the PUT: %v", got.ManagedFields)
		}
		st := h.patchRefused(path+"?fieldManager=alice", "admin", applyPatch, cfg, 409)
		if !strings.Contains(st.Message, "spec.git.branch") {
			t.Errorf("conflict: %s", st.Message)
		}
		h.get(path, "admin", &got)
		if got.Spec.Git.Branch != "dev" {
			t.Errorf("branch %q after the refused apply", got.Spec.Git.Branch)
		}

		// A body without managers keeps alice's; the updater named by
		// fieldManager takes what it changes.
		update(path+"?fieldManager=bob", func(r *configv1alpha1.Repository) {
			r.ManagedFields = nil
			r.Labels = map[string]string{"team": "web"}
		})
		h.get(path, "admin", &got)
		if !owns(t, got.ObjectMeta, "alice", "f:spec/f:git/f:url") || !owns(t, got.ObjectMeta, "bob", "f:metadata/f:labels/f:team") {
			t.Errorf("after a PUT without managers: %v", got.ManagedFields)
		}
	})

	t.Run("revision", func(t *testing.T) {
		var pr pkgv1alpha1.PackageRevision
		h.write(http.MethodPost, revsPath, newRevision("hosted", "nginx", "owned", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
		path := revsPath + "/" + pr.Name
		if got := managers(h.managedOf(path, pr.Name)); !slices.Equal(got, []string{"Go-http-client/Update"}) {
			t.Errorf("managers of a created revision: %v", got)
		}
		cfg := "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: " + pr.Name + "\n  labels:\n    team: web\n"
		h.patchOK(path+"?fieldManager=alice", "writer", applyPatch, cfg, 200, new(pkgv1alpha1.PackageRevision))
		got := h.revision(pr.Name)
		got.Labels["team"] = "ops"
		h.write(http.MethodPut, path+"?fieldManager=bob", got, 200, nil)
		if m := h.managedOf(path, pr.Name); owns(t, m, "alice", "f:metadata/f:labels/f:team") || !owns(t, m, "bob", "f:metadata/f:labels/f:team") {
			t.Errorf("after the PUT: %v", m.ManagedFields)
		}
		h.patchRefused(path+"?fieldManager=alice", "writer", applyPatch, cfg, 409)
		if got := h.revision(pr.Name); got.Labels["team"] != "ops" {
			t.Errorf("label %q after the refused apply", got.Labels["team"])
		}

		// The resources too.
		var res pkgv1alpha1.PackageRevisionResources
		h.get(resPath+"/"+pr.Name, "reader", &res)
		res.Spec.Resources["deployment.yaml"] = deployment
		h.write(http.MethodPut, resPath+"/"+pr.Name+"?fieldManager=files", res, 200, nil)
		if m := h.managedOf(resPath+"/"+pr.Name, pr.Name); !owns(t, m, "files", "f:spec/f:resources/f:deployment.yaml") {
			t.Errorf("resources after the PUT: %v", m.ManagedFields)
		}
	})
}

// TestManagedFieldsGoWithRevision: the managers of a Draft whose branch is
// deleted in git go with it: the Draft's branch made again has none of
// them. (The branch is changed in the hosted repository itself: a push
// would run its hooks.)
func TestManagedFieldsGoWithRevision(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "gone", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	path := revsPath + "/" + pr.Name
	h.patchOK(path+"?fieldManager=ci", "writer", applyPatch,
		"apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\nmetadata:\n  name: "+pr.Name+"\n  labels:\n    team: web\n", 200, new(pkgv1alpha1.PackageRevision))

	commit := git(t, dir, "rev-parse", "refs/heads/drafts/nginx/gone")
	git(t, dir, "update-ref", "-d", "refs/heads/drafts/nginx/gone")
	h.sync("blueprints")
	if code, body := h.do(http.MethodGet, path, "reader", nil); code != 404 {
		t.Fatalf("after the branch is deleted: %d %s", code, body)
	}
	git(t, dir, "update-ref", "refs/heads/drafts/nginx/gone", commit)
	h.sync("blueprints")
	if got := h.revision(pr.Name); got.Labels["team"] != "web" {
		t.Fatalf("made again: labels %v", got.Labels)
	}
	// Untracked, its fields are before-first-apply's.
	if got := managers(h.managedOf(path, pr.Name)); slices.Contains(got, "ci/Apply") || slices.Contains(got, "Go-http-client/Update") {
		t.Errorf("made again: managers %v", got)
	}
}
