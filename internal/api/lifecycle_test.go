package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// hosted registers a hosted repository and returns its git directory.
func (h *harness) hosted(name string) string {
	h.t.Helper()
	h.addRepo(name, "", func(r *configv1alpha1.Repository) { r.Spec.Provider = configv1alpha1.ProviderHosted })
	return filepath.Join(h.dataDir, "repos", "default", name+".git")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newRevision(repo, pkg, ws string, task pkgv1alpha1.Task) pkgv1alpha1.PackageRevision {
	return pkgv1alpha1.PackageRevision{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgv1alpha1.APIVersion, Kind: "PackageRevision"},
		Spec: pkgv1alpha1.PackageRevisionSpec{Repository: repo, PackageName: pkg, WorkspaceName: ws, Lifecycle: "Draft",
			Tasks: []pkgv1alpha1.Task{task}},
	}
}

// write sends a write and decodes a successful answer.
func (h *harness) write(method, path string, body any, want int, out any) {
	h.t.Helper()
	code, data := h.do(method, path, "writer", body)
	if code != want {
		h.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) revision(name string) pkgv1alpha1.PackageRevision {
	h.t.Helper()
	var pr pkgv1alpha1.PackageRevision
	h.get(revsPath+"/"+name, "reader", &pr)
	return pr
}

func withLifecycle(pr pkgv1alpha1.PackageRevision, lc string) pkgv1alpha1.PackageRevision {
	pr.Spec.Lifecycle = lc
	return pr
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`

// TestLifecycle: init → resources → propose → approve publishes v1 (a tag
// on a commit of the branch, fetchable with git); copy → edit → approve
// gives v2 and moves latest; reject; propose-delete, reject, delete.
func TestLifecycle(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")

	var draft pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "first",
		pkgv1alpha1.Task{Type: "init", Init: &pkgv1alpha1.InitTaskSpec{Description: "a web server", Keywords: []string{"web"}}}), 201, &draft)
	if draft.Name != "blueprints.nginx.first" || draft.Spec.Lifecycle != "Draft" {
		t.Fatalf("created: %+v", draft)
	}
	if got := git(t, dir, "show", "drafts/nginx/first:nginx/Kptfile"); !strings.Contains(got, "description: a web server") {
		t.Errorf("Kptfile of the new package:\n%s", got)
	}

	// Resources: a valid update is a commit on the draft's branch.
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/blueprints.nginx.first", "reader", &res)
	res.Spec.Resources["deployment.yaml"] = deployment
	h.write(http.MethodPut, resPath+"/blueprints.nginx.first", res, 200, &res)
	if git(t, dir, "show", "drafts/nginx/first:nginx/deployment.yaml") != strings.TrimSpace(deployment) {
		t.Errorf("deployment not committed")
	}
	// An invalid one is refused with the finding and changes nothing.
	before := git(t, dir, "rev-parse", "drafts/nginx/first")
	bad := res
	bad.Spec.Resources = map[string]string{"Kptfile": res.Spec.Resources["Kptfile"], "deployment.yaml": strings.Replace(deployment, "replicas: 3", "replicas: three", 1)}
	code, body := h.do(http.MethodPut, resPath+"/blueprints.nginx.first", "writer", bad)
	st := h.status(code, body, 422)
	if st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "nginx/deployment.yaml:6" {
		t.Errorf("refusal: %s %+v", st.Message, st.Details)
	}
	if git(t, dir, "rev-parse", "drafts/nginx/first") != before {
		t.Errorf("a refused update moved the branch")
	}

	// Propose, approve: v1.
	draft = h.revision("blueprints.nginx.first")
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.first", withLifecycle(draft, "Proposed"), 200, &draft)
	if draft.Spec.Lifecycle != "Proposed" || git(t, dir, "branch", "--list", "drafts/*") != "" {
		t.Fatalf("proposed: %+v; branches %s", draft.Spec, git(t, dir, "branch", "--list"))
	}
	var pub pkgv1alpha1.PackageRevision
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(draft, "Published"), 200, &pub)
	if pub.Spec.Lifecycle != "Published" || pub.Spec.Revision != "v1" || pub.Labels[pkgv1alpha1.LatestRevisionLabel] != "true" {
		t.Fatalf("published: %+v %v", pub.Spec, pub.Labels)
	}
	if got := git(t, dir, "ls-remote", "--tags", dir, "nginx/v1"); !strings.Contains(got, "refs/tags/nginx/v1") {
		t.Errorf("ls-remote: %q", got)
	}
	if git(t, dir, "rev-parse", "nginx/v1") != git(t, dir, "rev-parse", "main") {
		t.Errorf("the tag is not on the branch head")
	}
	if msg := git(t, dir, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "Workspace: first") || !strings.Contains(msg, "Revision: v1") {
		t.Errorf("publish commit message:\n%s", msg)
	}
	clone := t.TempDir()
	git(t, clone, "clone", "-q", "--branch", "nginx/v1", dir, "c")
	if _, err := exec.Command("test", "-f", filepath.Join(clone, "c", "nginx", "deployment.yaml")).Output(); err != nil {
		t.Errorf("the tag does not hold the package")
	}

	// Copy → edit → approve: v2, latest moved.
	var second pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "second",
		pkgv1alpha1.Task{Type: "edit", Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: "blueprints.nginx.first"}}}), 201, &second)
	h.get(resPath+"/blueprints.nginx.second", "reader", &res)
	res.Spec.Resources["deployment.yaml"] = strings.Replace(deployment, "replicas: 3", "replicas: 5", 1)
	h.write(http.MethodPut, resPath+"/blueprints.nginx.second", res, 200, nil)
	second = h.revision("blueprints.nginx.second")
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.second", withLifecycle(second, "Proposed"), 200, &second)
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.second/approval", withLifecycle(second, "Published"), 200, &second)
	if second.Spec.Revision != "v2" || second.Labels[pkgv1alpha1.LatestRevisionLabel] != "true" {
		t.Errorf("second: %+v %v", second.Spec, second.Labels)
	}
	if first := h.revision("blueprints.nginx.first"); first.Labels[pkgv1alpha1.LatestRevisionLabel] == "true" {
		t.Errorf("latest not moved")
	}

	// Reject a proposal: a draft again.
	var third pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "third",
		pkgv1alpha1.Task{Type: "edit", Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: "blueprints.nginx.second"}}}), 201, &third)
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.third", withLifecycle(third, "Proposed"), 200, &third)
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.third/approval", withLifecycle(third, "Draft"), 200, &third)
	if third.Spec.Lifecycle != "Draft" {
		t.Errorf("rejected: %s", third.Spec.Lifecycle)
	}
	h.write(http.MethodDelete, revsPath+"/blueprints.nginx.third", nil, 200, nil)
	if code, _ := h.do(http.MethodGet, revsPath+"/blueprints.nginx.third", "reader", nil); code != 404 {
		t.Errorf("deleted draft: %d", code)
	}

	// Deletion: proposed, rejected, proposed again, approved.
	first := h.revision("blueprints.nginx.first")
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(first, "DeletionProposed"), 200, &first)
	if first.Spec.Lifecycle != "DeletionProposed" {
		t.Fatalf("deletion proposed: %s", first.Spec.Lifecycle)
	}
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(first, "Published"), 200, &first)
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(first, "DeletionProposed"), 200, &first)
	h.write(http.MethodDelete, revsPath+"/blueprints.nginx.first", nil, 200, nil)
	if tags := git(t, dir, "tag", "--list"); tags != "nginx/v2" {
		t.Errorf("tags after the deletion: %q", tags)
	}
	if code, _ := h.do(http.MethodGet, revsPath+"/blueprints.nginx.first", "reader", nil); code != 404 {
		t.Errorf("deleted revision: %d", code)
	}
}

// TestLifecycleRefusals: transitions the lifecycle does not allow, stale
// resource versions, bad bodies and readers are refused, and change
// nothing in git.
func TestLifecycleRefusals(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")
	var draft pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "first", pkgv1alpha1.Task{Type: "init"}), 201, &draft)
	refs := git(t, dir, "for-each-ref")
	_, index := h.do(http.MethodGet, revsPath, "reader", nil)

	stale := draft
	stale.ResourceVersion = "1"
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
		message                   string
	}{
		{"approve a draft", http.MethodPut, revsPath + "/blueprints.nginx.first/approval", "writer", withLifecycle(draft, "Published"), 422, "a Draft can be proposed"},
		{"publish by update", http.MethodPut, revsPath + "/blueprints.nginx.first", "writer", withLifecycle(draft, "Published"), 422, "is an approval"},
		{"stale resource version", http.MethodPut, revsPath + "/blueprints.nginx.first", "writer", withLifecycle(stale, "Proposed"), 409, "modified"},
		{"reader", http.MethodPut, revsPath + "/blueprints.nginx.first", "reader", withLifecycle(draft, "Proposed"), 403, ""},
		{"change the package", http.MethodPut, revsPath + "/blueprints.nginx.first", "writer",
			func() any { d := withLifecycle(draft, "Proposed"); d.Spec.PackageName = "redis"; return d }(), 422, "immutable"},
		{"workspace in use", http.MethodPost, revsPath, "writer", newRevision("blueprints", "nginx", "first", pkgv1alpha1.Task{Type: "init"}), 422, "in use"},
		{"two tasks", http.MethodPost, revsPath, "writer",
			func() any {
				r := newRevision("blueprints", "x", "a", pkgv1alpha1.Task{Type: "init"})
				r.Spec.Tasks = append(r.Spec.Tasks, r.Spec.Tasks[0])
				return r
			}(), 422, "exactly one task"},
		{"bad package name", http.MethodPost, revsPath, "writer", newRevision("blueprints", "Bad_Name", "a", pkgv1alpha1.Task{Type: "init"}), 422, "RFC 1123"},
		{"unknown repository", http.MethodPost, revsPath, "writer", newRevision("nope", "x", "a", pkgv1alpha1.Task{Type: "init"}), 422, "not found"},
		{"copy of a draft", http.MethodPost, revsPath, "writer", newRevision("blueprints", "nginx", "b",
			pkgv1alpha1.Task{Type: "edit", Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: "blueprints.nginx.first"}}}), 422, "published"},
		{"unknown field", http.MethodPost, revsPath + "?fieldValidation=Strict", "writer", `{"spec":{"repository":"blueprints","nope":1}}`, 400, ""},
		{"resources without a Kptfile", http.MethodPut, resPath + "/blueprints.nginx.first", "writer",
			pkgv1alpha1.PackageRevisionResources{Spec: pkgv1alpha1.PackageRevisionResourcesSpec{Resources: map[string]string{"a.yaml": "x: 1"}}}, 422, "Kptfile"},
		{"resources escaping the package", http.MethodPut, resPath + "/blueprints.nginx.first", "writer",
			pkgv1alpha1.PackageRevisionResources{Spec: pkgv1alpha1.PackageRevisionResourcesSpec{Resources: map[string]string{"Kptfile": "x", "../a.yaml": "x: 1"}}}, 422, "relative"},
		{"delete the branch revision", http.MethodDelete, revsPath + "/blueprints.nginx.main", "writer", nil, 404, ""},
		{"a label with a bad key on create", http.MethodPost, revsPath, "writer",
			func() any {
				r := newRevision("blueprints", "x", "a", pkgv1alpha1.Task{Type: "init"})
				r.Labels = map[string]string{"team a": "x"}
				return r
			}(), 422, `label \"team a\"`},
		{"a system label on update", http.MethodPut, revsPath + "/blueprints.nginx.first", "writer",
			func() any {
				d := withLifecycle(draft, "Proposed")
				d.Labels = map[string]string{"pkg.pkgserver.dev/validated": "yes"}
				return d
			}(), 422, "are set by pkgserver"},
		{"a KRM annotation on update", http.MethodPut, revsPath + "/blueprints.nginx.first", "writer",
			func() any {
				d := withLifecycle(draft, "Proposed")
				d.Annotations = map[string]string{"config.kubernetes.io/local-config": "false"}
				return d
			}(), 422, "edit the Kptfile to change it"},
		{"a label too long on update", http.MethodPut, revsPath + "/blueprints.nginx.first", "writer",
			func() any {
				d := withLifecycle(draft, "Proposed")
				d.Labels = map[string]string{"team": strings.Repeat("a", 64)}
				return d
			}(), 422, "must be no more than 63 bytes"},
	} {
		code, body := h.do(tc.method, tc.path, tc.token, tc.body)
		if code != tc.want || !strings.Contains(string(body), tc.message) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.want, tc.message)
		}
	}
	if got := git(t, dir, "for-each-ref"); got != refs {
		t.Errorf("refused writes changed refs:\n%s\nwas\n%s", got, refs)
	}
	if _, got := h.do(http.MethodGet, revsPath, "reader", nil); string(got) != string(index) {
		t.Errorf("refused writes changed the index:\n%s\nwas\n%s", got, index)
	}
}

// TestConcurrentWrites: two clients updating one draft with the same
// resource version: exactly one wins; two approvals of two drafts of one
// package in parallel: v1 and v2.
func TestConcurrentWrites(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")
	var a, b pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "a", pkgv1alpha1.Task{Type: "init"}), 201, &a)
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/blueprints.nginx.a", "reader", &res)
	codes := make(chan int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := res
			r.Spec.Resources = map[string]string{"Kptfile": res.Spec.Resources["Kptfile"], "cm.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n", i)}
			code, _ := h.do(http.MethodPut, resPath+"/blueprints.nginx.a", "writer", r)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[200] != 1 || got[409] != 1 {
		t.Errorf("two updates with one resource version: %v, want one 200 and one 409", got)
	}

	// Two proposals of one package approved at once: v1 and v2.
	a = h.revision("blueprints.nginx.a")
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.a", withLifecycle(a, "Proposed"), 200, &a)
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "b", pkgv1alpha1.Task{Type: "init"}), 201, &b)
	h.write(http.MethodPut, revsPath+"/blueprints.nginx.b", withLifecycle(b, "Proposed"), 200, &b)
	var results [2]pkgv1alpha1.PackageRevision
	for i, name := range []string{"blueprints.nginx.a", "blueprints.nginx.b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr := h.revision(name)
			h.write(http.MethodPut, revsPath+"/"+name+"/approval", withLifecycle(pr, "Published"), 200, &results[i])
		}()
	}
	wg.Wait()
	if n := []string{results[0].Spec.Revision, results[1].Spec.Revision}; !(n[0] == "v1" && n[1] == "v2" || n[0] == "v2" && n[1] == "v1") {
		t.Errorf("approved as %v, want v1 and v2", n)
	}
	if got := git(t, dir, "tag", "--list"); got != "nginx/v1\nnginx/v2" {
		t.Errorf("tags: %q", got)
	}
	if got := git(t, dir, "rev-list", "--count", "--first-parent", "main"); got != "3" {
		t.Errorf("first-parent commits of main: %s, want 3 (the initial one and two publications)", got)
	}
}

// publishNew creates, proposes and approves a package from init with the
// given extra files.
func (h *harness) publishNew(repo, pkg, ws string, files map[string]string) pkgv1alpha1.PackageRevision {
	h.t.Helper()
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision(repo, pkg, ws, pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	var edit func(map[string]string)
	if len(files) > 0 {
		edit = func(r map[string]string) { maps.Copy(r, files) }
	}
	return h.publishDraft(pr, edit)
}

// publishDraft edits a draft's resources (edit nil: none), then proposes
// and approves it.
func (h *harness) publishDraft(pr pkgv1alpha1.PackageRevision, edit func(map[string]string)) pkgv1alpha1.PackageRevision {
	h.t.Helper()
	if edit != nil {
		var res pkgv1alpha1.PackageRevisionResources
		h.get(resPath+"/"+pr.Name, "reader", &res)
		edit(res.Spec.Resources)
		h.write(http.MethodPut, resPath+"/"+pr.Name, res, 200, nil)
		pr = h.revision(pr.Name)
	}
	h.write(http.MethodPut, revsPath+"/"+pr.Name, withLifecycle(pr, "Proposed"), 200, &pr)
	h.write(http.MethodPut, revsPath+"/"+pr.Name+"/approval", withLifecycle(pr, "Published"), 200, &pr)
	return pr
}

// TestClone: a published catalog package cloned into a deployment
// repository is a new package there whose Kptfile records its upstream and
// the exact commit.
func TestClone(t *testing.T) {
	h := start(t)
	catalog := h.hosted("catalog")
	deploy := h.hosted("deploy")
	src := h.publishNew("catalog", "nginx", "first", map[string]string{"deployment.yaml": deployment})
	var clone pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("deploy", "nginx-prod", "prod",
		pkgv1alpha1.Task{Type: "clone", Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: &pkgv1alpha1.PackageRevisionRef{Name: src.Name}}}), 201, &clone)
	if clone.Name != "deploy.nginx-prod.prod" || clone.Spec.Lifecycle != "Draft" {
		t.Fatalf("clone: %+v", clone)
	}
	kf := git(t, deploy, "show", "drafts/nginx-prod/prod:nginx-prod/Kptfile")
	commit := git(t, catalog, "rev-parse", "nginx/v1^{commit}")
	for _, want := range []string{"name: nginx-prod", "upstream:", "type: git", "directory: nginx", "ref: nginx/v1", "updateStrategy: resource-merge",
		"upstreamLock:", "commit: " + commit, "/git/default/catalog.git"} {
		if !strings.Contains(kf, want) {
			t.Errorf("Kptfile of the clone lacks %q:\n%s", want, kf)
		}
	}
	if git(t, deploy, "show", "drafts/nginx-prod/prod:nginx-prod/deployment.yaml") != strings.TrimSpace(deployment) {
		t.Errorf("resources not cloned")
	}
	// A draft cannot be cloned; a package that exists cannot be cloned over.
	var draft pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("catalog", "redis", "a", pkgv1alpha1.Task{Type: "init"}), 201, &draft)
	code, body := h.do(http.MethodPost, revsPath, "writer", newRevision("deploy", "redis", "a",
		pkgv1alpha1.Task{Type: "clone", Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: &pkgv1alpha1.PackageRevisionRef{Name: draft.Name}}}))
	if code != 422 || !strings.Contains(string(body), "published") {
		t.Errorf("clone of a draft: %d %s", code, body)
	}
}

func (h *harness) editAndPublish(from pkgv1alpha1.PackageRevision, ws string, edit func(map[string]string)) pkgv1alpha1.PackageRevision {
	h.t.Helper()
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision(from.Spec.Repository, from.Spec.PackageName, ws,
		pkgv1alpha1.Task{Type: "edit", Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: from.Name}}}), 201, &pr)
	return h.publishDraft(pr, edit)
}

func upgradeTask(oldUp, newUp, local string) pkgv1alpha1.Task {
	return pkgv1alpha1.Task{Type: "upgrade", Upgrade: &pkgv1alpha1.UpgradeTaskSpec{OldUpstream: &pkgv1alpha1.PackageRevisionRef{Name: oldUp},
		NewUpstream: &pkgv1alpha1.PackageRevisionRef{Name: newUp}, LocalPackageRevision: &pkgv1alpha1.PackageRevisionRef{Name: local}}}
}

// TestUpgrade: after the catalog publishes v2, the deployment package is
// upgraded with a three-way merge: the upstream change applied, the local
// edit kept, the lock at the new upstream commit; an upstream change to a
// field edited locally is a conflict, and no draft is made.
func TestUpgrade(t *testing.T) {
	h := start(t)
	catalog := h.hosted("catalog")
	deploy := h.hosted("deploy")
	v1 := h.publishNew("catalog", "nginx", "first", map[string]string{"deployment.yaml": deployment})
	var local pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("deploy", "nginx", "prod",
		pkgv1alpha1.Task{Type: "clone", Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: &pkgv1alpha1.PackageRevisionRef{Name: v1.Name}}}), 201, &local)
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/"+local.Name, "reader", &res)
	res.Spec.Resources["deployment.yaml"] = strings.Replace(res.Spec.Resources["deployment.yaml"], "replicas: 3", "replicas: 5", 1)
	h.write(http.MethodPut, resPath+"/"+local.Name, res, 200, nil)
	local = h.revision(local.Name)
	h.write(http.MethodPut, revsPath+"/"+local.Name, withLifecycle(local, "Proposed"), 200, &local)
	h.write(http.MethodPut, revsPath+"/"+local.Name+"/approval", withLifecycle(local, "Published"), 200, &local)

	v2 := h.editAndPublish(v1, "newer", func(r map[string]string) {
		r["deployment.yaml"] = strings.Replace(r["deployment.yaml"], "nginx:1.27", "nginx:1.28", 1)
	})
	var up pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("deploy", "nginx", "upgrade", upgradeTask(v1.Name, v2.Name, local.Name)), 201, &up)
	got := git(t, deploy, "show", "drafts/nginx/upgrade:nginx/deployment.yaml")
	if !strings.Contains(got, "replicas: 5") || !strings.Contains(got, "image: nginx:1.28") {
		t.Errorf("upgraded deployment:\n%s", got)
	}
	kf := git(t, deploy, "show", "drafts/nginx/upgrade:nginx/Kptfile")
	if !strings.Contains(kf, "commit: "+git(t, catalog, "rev-parse", "nginx/v2^{commit}")) || !strings.Contains(kf, "ref: nginx/v2") {
		t.Errorf("Kptfile after the upgrade:\n%s", kf)
	}

	// Upstream now changes the replicas too: a conflict.
	v3 := h.editAndPublish(v2, "replicas", func(r map[string]string) {
		r["deployment.yaml"] = strings.Replace(r["deployment.yaml"], "replicas: 3", "replicas: 4", 1)
	})
	refs := git(t, deploy, "for-each-ref")
	code, body := h.do(http.MethodPost, revsPath, "writer", newRevision("deploy", "nginx", "conflict", upgradeTask(v1.Name, v3.Name, local.Name)))
	st := h.status(code, body, 422)
	if !strings.Contains(st.Message, "conflicts") || st.Details == nil || len(st.Details.Causes) != 1 ||
		!strings.Contains(st.Details.Causes[0].Message, `spec.replicas is "5" here and "4" upstream (was "3")`) {
		t.Errorf("conflict: %s %+v", st.Message, st.Details)
	}
	if git(t, deploy, "for-each-ref") != refs {
		t.Errorf("a conflicting upgrade changed refs")
	}
}

// TestReadinessGates: approval waits for the package's readiness gates:
// refused while a gate's condition is not True in the Kptfile, allowed once
// it is; pkgserver's own validated gate is the validation itself.
func TestReadinessGates(t *testing.T) {
	h := start(t)
	h.hosted("blueprints")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "gated", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	gated := func(status string) string {
		return "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: nginx\ninfo:\n  readinessGates:\n  - conditionType: example.com/reviewed\n" +
			"  - conditionType: pkg.pkgserver.dev/validated\n" + status
	}
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/"+pr.Name, "reader", &res)
	res.Spec.Resources["Kptfile"] = gated("")
	h.write(http.MethodPut, resPath+"/"+pr.Name, res, 200, nil)
	pr = h.revision(pr.Name)
	h.write(http.MethodPut, revsPath+"/"+pr.Name, withLifecycle(pr, "Proposed"), 200, &pr)
	code, body := h.do(http.MethodPut, revsPath+"/"+pr.Name+"/approval", "writer", withLifecycle(pr, "Published"))
	if st := h.status(code, body, 422); !strings.Contains(st.Message, "readiness gate example.com/reviewed is not met") {
		t.Errorf("approval with a gate not met: %s", st.Message)
	}
	h.write(http.MethodPut, revsPath+"/"+pr.Name+"/approval", withLifecycle(pr, "Draft"), 200, &pr)
	h.get(resPath+"/"+pr.Name, "reader", &res)
	res.Spec.Resources["Kptfile"] = gated("status:\n  conditions:\n  - type: example.com/reviewed\n    status: \"True\"\n")
	h.write(http.MethodPut, resPath+"/"+pr.Name, res, 200, nil)
	pr = h.revision(pr.Name)
	h.write(http.MethodPut, revsPath+"/"+pr.Name, withLifecycle(pr, "Proposed"), 200, &pr)
	if got := fmt.Sprint(pr.Spec.ReadinessGates); got != "[{example.com/reviewed} {pkg.pkgserver.dev/validated}]" {
		t.Errorf("spec.readinessGates: %s", got)
	}
	if got := fmt.Sprint(pr.Status.Conditions); !strings.HasPrefix(got, "[{example.com/reviewed True  } {pkg.pkgserver.dev/validated True Valid no errors, 0 warnings") {
		t.Errorf("status.conditions: %s", got)
	}
	h.write(http.MethodPut, revsPath+"/"+pr.Name+"/approval", withLifecycle(pr, "Published"), 200, &pr)
	if pr.Spec.Lifecycle != "Published" {
		t.Errorf("approval with the gate met: %s", pr.Spec.Lifecycle)
	}
}

// TestRevisionMetadata: labels, annotations and readiness gates live in
// the package's Kptfile: set when a draft is created, changed by a PUT of
// the Draft (with its proposal, in one transaction), indexed for label
// selectors, kept by the published revision and immutable there.
func TestRevisionMetadata(t *testing.T) {
	h := start(t)
	dir := h.hosted("blueprints")
	create := newRevision("blueprints", "nginx", "labelled", pkgv1alpha1.Task{Type: "init"})
	create.Labels = map[string]string{"team": "web"}
	create.Annotations = map[string]string{"example.com/owner": "alice"}
	create.Spec.ReadinessGates = []pkgv1alpha1.ReadinessGate{{ConditionType: "pkg.pkgserver.dev/validated"}}
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, create, 201, &pr)
	kptfile := git(t, dir, "show", "drafts/nginx/labelled:nginx/Kptfile")
	for _, want := range []string{"team: web", "example.com/owner: alice", "config.kubernetes.io/local-config: \"true\"", "conditionType: pkg.pkgserver.dev/validated"} {
		if !strings.Contains(kptfile, want) {
			t.Errorf("Kptfile of the new draft lacks %q:\n%s", want, kptfile)
		}
	}
	pr = h.revision(pr.Name)
	if fmt.Sprint(pr.Labels, pr.Annotations, pr.Spec.ReadinessGates) != "map[team:web] map[example.com/owner:alice] [{pkg.pkgserver.dev/validated}]" {
		t.Errorf("created: %v %v %v", pr.Labels, pr.Annotations, pr.Spec.ReadinessGates)
	}
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "redis", "plain", pkgv1alpha1.Task{Type: "init"}), 201, nil)

	// Labels changed and the draft proposed: one commit, one transaction.
	commits := git(t, dir, "rev-list", "--count", "drafts/nginx/labelled")
	pr.Labels = map[string]string{"team": "web", "tier": "gold", pkgv1alpha1.LatestRevisionLabel: "false"}
	h.write(http.MethodPut, revsPath+"/"+pr.Name, withLifecycle(pr, "Proposed"), 200, &pr)
	if pr.Spec.Lifecycle != "Proposed" || pr.Labels["tier"] != "gold" {
		t.Errorf("updated: %s %v", pr.Spec.Lifecycle, pr.Labels)
	}
	if got := git(t, dir, "rev-list", "--count", "proposed/nginx/labelled"); got == commits {
		t.Errorf("no commit for the labels")
	}
	if got := git(t, dir, "for-each-ref", "--format=%(refname)", "refs/heads/drafts/nginx"); got != "" {
		t.Errorf("draft branch left: %s", got)
	}

	// Label selectors are answered by the index.
	for sel, want := range map[string]string{
		"tier=gold":          "blueprints.nginx.labelled",
		"tier in (gold,tin)": "blueprints.nginx.labelled",
		"tier!=gold":         "blueprints.redis.plain",
		"!tier":              "blueprints.redis.plain",
		"team,tier":          "blueprints.nginx.labelled",
		"team=ops":           "",
	} {
		var list pkgv1alpha1.PackageRevisionList
		h.get(revsPath+"?labelSelector="+url.QueryEscape(sel), "reader", &list)
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("labelSelector %s: %q, want %q", sel, got, want)
		}
	}

	// A Proposed revision's labels are refused; so is any change of a
	// published one, which keeps the labels it was published with.
	refs := git(t, dir, "for-each-ref")
	changed := pr
	changed.Labels = map[string]string{"team": "ops"}
	code, body := h.do(http.MethodPut, revsPath+"/"+pr.Name, "writer", changed)
	if st := h.status(code, body, 422); !strings.Contains(st.Message, "only a Draft's writes change") {
		t.Errorf("labels of a proposal: %s", st.Message)
	}
	if git(t, dir, "for-each-ref") != refs {
		t.Errorf("a refused label change of a proposal changed refs")
	}
	// The approval subresource looks at nothing but the lifecycle.
	pr.Labels["pkg.pkgserver.dev/other"] = "x"
	var published pkgv1alpha1.PackageRevision
	h.write(http.MethodPut, revsPath+"/"+pr.Name+"/approval", withLifecycle(pr, "Published"), 200, &published)
	pr = published
	if pr.Labels["tier"] != "gold" || pr.Labels[pkgv1alpha1.LatestRevisionLabel] != "true" || pr.Annotations["example.com/owner"] != "alice" {
		t.Errorf("published: %v %v", pr.Labels, pr.Annotations)
	}
	refs = git(t, dir, "for-each-ref")
	changed = pr
	changed.Annotations = map[string]string{}
	code, body = h.do(http.MethodPut, revsPath+"/"+pr.Name, "writer", changed)
	if st := h.status(code, body, 422); !strings.Contains(st.Message, "is Published") {
		t.Errorf("annotations of a published revision: %s", st.Message)
	}
	if git(t, dir, "for-each-ref") != refs {
		t.Errorf("a refused write changed refs")
	}
	// A PUT is the whole object: what it leaves out, it removes. The
	// approval subresource does not look at them.
	var draft pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "next",
		pkgv1alpha1.Task{Type: "edit", Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: pr.Name}}}), 201, &draft)
	if draft.Labels["tier"] != "gold" {
		t.Errorf("a copy's labels: %v", draft.Labels)
	}
	// A new revision keeps what its source says of what the body leaves out.
	relabelled := newRevision("blueprints", "nginx", "relabelled",
		pkgv1alpha1.Task{Type: "edit", Edit: &pkgv1alpha1.EditTaskSpec{SourceRef: &pkgv1alpha1.PackageRevisionRef{Name: pr.Name}}})
	relabelled.Labels = map[string]string{"tier": "tin"}
	h.write(http.MethodPost, revsPath, relabelled, 201, &relabelled)
	if fmt.Sprint(relabelled.Labels, relabelled.Annotations, relabelled.Spec.ReadinessGates) != "map[tier:tin] map[example.com/owner:alice] [{pkg.pkgserver.dev/validated}]" {
		t.Errorf("a copy with other labels: %v %v %v", relabelled.Labels, relabelled.Annotations, relabelled.Spec.ReadinessGates)
	}
	draft.Labels, draft.Spec.ReadinessGates = nil, nil
	h.write(http.MethodPut, revsPath+"/"+draft.Name, withLifecycle(draft, "Proposed"), 200, &draft)
	if len(draft.Labels) != 0 || len(draft.Spec.ReadinessGates) != 0 || draft.Annotations["example.com/owner"] != "alice" {
		t.Errorf("left out: %v %v %v", draft.Labels, draft.Spec.ReadinessGates, draft.Annotations)
	}
	unrelated := withLifecycle(draft, "Draft")
	unrelated.Labels = map[string]string{"tier": "tin"}
	h.write(http.MethodPut, revsPath+"/"+draft.Name+"/approval", unrelated, 200, &draft)
	if draft.Spec.Lifecycle != "Draft" || len(draft.Labels) != 0 {
		t.Errorf("rejected: %s %v", draft.Spec.Lifecycle, draft.Labels)
	}
	if kf := git(t, dir, "show", "drafts/nginx/next:nginx/Kptfile"); strings.Contains(kf, "readinessGates") || strings.Contains(kf, "tier") ||
		!strings.Contains(kf, "local-config") {
		t.Errorf("Kptfile after clearing:\n%s", kf)
	}
}
