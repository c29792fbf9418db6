package api_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// serverState is what a dry run must leave as it was: the hosted
// repository's refs, every file of its object store and git's count of
// its objects, the index's lists of revisions and repositories and its
// resource version.
type serverState struct {
	Refs, Count string
	Objects     []string
	Revisions   string
	Repos       string
	RV          int64
}

var lastSyncTime = regexp.MustCompile(`"lastSyncTime":"[^"]*"`)

func (h *harness) state(dir string) serverState {
	h.t.Helper()
	s := serverState{Refs: git(h.t, dir, "for-each-ref"), Count: git(h.t, dir, "count-objects", "-v")}
	objects := filepath.Join(dir, "objects")
	err := filepath.WalkDir(objects, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			s.Objects = append(s.Objects, strings.TrimPrefix(p, objects))
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	_, revs := h.do(http.MethodGet, revsPath, "reader", nil)
	_, repos := h.do(http.MethodGet, reposPath, "admin", nil)
	// A repository's lastSyncTime moves whenever a background sync finds
	// git as it was; that is not a change a dry run could have made.
	s.Revisions, s.Repos = string(revs), lastSyncTime.ReplaceAllString(string(repos), `"lastSyncTime":"…"`)
	if s.RV, err = h.store.ResourceVersion(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func withQuery(path, q string) string {
	if strings.Contains(path, "?") {
		return path + "&" + q
	}
	return path + "?" + q
}

// validatedAt is the time in the validated condition's message.
var validatedAt = regexp.MustCompile(`\(\d{4}-\d\d-\d\dT[^)]*\)`)

// comparable is an answer without what differs between two writes made
// one after the other: resource versions, the times (and so the commits)
// of git and of validations, uids of repositories.
func comparable(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "resourceVersion")
		delete(md, "creationTimestamp")
		if m["kind"] == "Repository" {
			delete(md, "uid")
		}
	}
	if st, ok := m["status"].(map[string]any); ok {
		delete(st, "commit")
		delete(st, "publishTimestamp")
		conds, _ := st["conditions"].([]any)
		for _, c := range conds {
			c := c.(map[string]any)
			delete(c, "lastTransitionTime")
			if msg, ok := c["message"].(string); ok {
				c["message"] = validatedAt.ReplaceAllString(msg, "(time)")
			}
		}
	}
	return m
}

// dryThenReal sends a write as a dry run, checks that it changed nothing,
// then sends it for real: both must answer code. It returns both answers.
func (h *harness) dryThenReal(dir, method, path string, body any, code int) (dry, real []byte) {
	h.t.Helper()
	before := h.state(dir)
	got, _, dry := h.doHeader(method, withQuery(path, "dryRun=All"), "admin", body)
	if got != code {
		h.t.Fatalf("dry run of %s %s: %d, want %d: %s", method, path, got, code, dry)
	}
	if diff := cmp.Diff(before, h.state(dir)); diff != "" {
		h.t.Errorf("the dry run of %s %s changed git or the index (-before +after):\n%s", method, path, diff)
	}
	got, _, real = h.doHeader(method, path, "admin", body)
	if got != code {
		h.t.Fatalf("%s %s: %d, want %d: %s", method, path, got, code, real)
	}
	return dry, real
}

// sameAnswer checks that a dry run answered as the write did.
func sameAnswer(t *testing.T, what string, dry, real []byte) {
	t.Helper()
	if diff := cmp.Diff(comparable(t, real), comparable(t, dry)); diff != "" {
		t.Errorf("%s: the dry run answered otherwise than the write (-write +dry run):\n%s", what, diff)
	}
}

func resourceVersionOf(t *testing.T, body []byte) string {
	t.Helper()
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatal(err)
	}
	return obj.Metadata.ResourceVersion
}

// TestDryRun: every write of a package revision, its resources and a
// repository, sent with dryRun=All, answers what the write answers (but
// for resource versions and times) and leaves git and the index as they
// were; refusals are refused the same; dryRun takes All only.
func TestDryRun(t *testing.T) {
	h := start(t)
	// No periodic sync during the test: the index changes by writes only.
	h.addRepo("blueprints", "", func(r *configv1alpha1.Repository) {
		r.Spec.Provider = configv1alpha1.ProviderHosted
		r.Spec.Sync = &configv1alpha1.Sync{Interval: metav1.Duration{Duration: 24 * time.Hour}}
	})
	dir := filepath.Join(h.dataDir, "repos", "default", "blueprints.git")

	// Create: the new Draft, without a resource version.
	create := newRevision("blueprints", "nginx", "first", pkgv1alpha1.Task{Type: "init", Init: &pkgv1alpha1.InitTaskSpec{Description: "a web server"}})
	create.Labels = map[string]string{"team": "web"}
	dry, real := h.dryThenReal(dir, http.MethodPost, revsPath, create, http.StatusCreated)
	sameAnswer(t, "create", dry, real)
	if rv := resourceVersionOf(t, dry); rv != "" {
		t.Errorf("the dry run of a create answered resource version %q, want none", rv)
	}
	var draft pkgv1alpha1.PackageRevision
	if err := json.Unmarshal(real, &draft); err != nil {
		t.Fatal(err)
	}
	if draft.Name != "blueprints.nginx.first" || draft.Spec.Lifecycle != "Draft" || draft.Labels["team"] != "web" {
		t.Fatalf("created: %s", real)
	}
	// A create of what exists is refused, dry or not.
	h.dryThenReal(dir, http.MethodPost, revsPath, create, http.StatusUnprocessableEntity)

	// Resources: the new files and the findings of their validation.
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/blueprints.nginx.first", "reader", &res)
	res.Spec.Resources["deployment.yaml"] = deployment
	dry, real = h.dryThenReal(dir, http.MethodPut, resPath+"/blueprints.nginx.first", res, http.StatusOK)
	sameAnswer(t, "resources", dry, real)
	if rv := resourceVersionOf(t, dry); rv != res.ResourceVersion {
		t.Errorf("the dry run of an update answered resource version %q, want the object's, %s", rv, res.ResourceVersion)
	}
	// The same resources again (a stale resource version now): 409.
	dry, real = h.dryThenReal(dir, http.MethodPut, resPath+"/blueprints.nginx.first", res, http.StatusConflict)
	sameAnswer(t, "stale resources", dry, real)
	// Invalid resources: 422 with the same findings.
	bad := res
	bad.ResourceVersion = ""
	bad.Spec.Resources = map[string]string{"Kptfile": res.Spec.Resources["Kptfile"], "deployment.yaml": strings.Replace(deployment, "replicas: 3", "replicas: three", 1)}
	dry, real = h.dryThenReal(dir, http.MethodPut, resPath+"/blueprints.nginx.first", bad, http.StatusUnprocessableEntity)
	sameAnswer(t, "invalid resources", dry, real)
	if st := h.status(http.StatusUnprocessableEntity, dry, 422); st.Details == nil || len(st.Details.Causes) == 0 {
		t.Errorf("the dry run's refusal has no findings: %s", dry)
	}

	// Propose, with a label changed: a commit and a rename.
	draft = h.revision("blueprints.nginx.first")
	propose := withLifecycle(draft, "Proposed")
	propose.Labels = map[string]string{"team": "edge"}
	dry, real = h.dryThenReal(dir, http.MethodPut, revsPath+"/blueprints.nginx.first", propose, http.StatusOK)
	sameAnswer(t, "propose", dry, real)
	// A stale resource version: 409.
	h.dryThenReal(dir, http.MethodPut, revsPath+"/blueprints.nginx.first", withLifecycle(draft, "Draft"), http.StatusConflict)

	// Approve: v1 published.
	proposed := h.revision("blueprints.nginx.first")
	dry, real = h.dryThenReal(dir, http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(proposed, "Published"), http.StatusOK)
	sameAnswer(t, "approve", dry, real)
	var pub pkgv1alpha1.PackageRevision
	if err := json.Unmarshal(dry, &pub); err != nil {
		t.Fatal(err)
	}
	if pub.Spec.Revision != "v1" || pub.Spec.Lifecycle != "Published" || pub.Labels[pkgv1alpha1.LatestRevisionLabel] != "true" {
		t.Errorf("the dry run of the approval: %s", dry)
	}
	// A transition the lifecycle does not allow: 422.
	published := h.revision("blueprints.nginx.first")
	h.dryThenReal(dir, http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(published, "Draft"), http.StatusUnprocessableEntity)

	// Propose the deletion, then delete: with dryRun in the query, and in
	// the body's DeleteOptions as kubectl sends it.
	dry, real = h.dryThenReal(dir, http.MethodPut, revsPath+"/blueprints.nginx.first/approval", withLifecycle(published, "DeletionProposed"), http.StatusOK)
	sameAnswer(t, "propose the deletion", dry, real)
	before := h.state(dir)
	code, _, body := h.doHeader(http.MethodDelete, revsPath+"/blueprints.nginx.first", "admin",
		metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}, DryRun: []string{metav1.DryRunAll}})
	if code != http.StatusOK {
		t.Fatalf("dry run of a delete with DeleteOptions: %d %s", code, body)
	}
	if diff := cmp.Diff(before, h.state(dir)); diff != "" {
		t.Errorf("the dry run of a delete (DeleteOptions) changed git or the index:\n%s", diff)
	}
	dry, real = h.dryThenReal(dir, http.MethodDelete, revsPath+"/blueprints.nginx.first", nil, http.StatusOK)
	sameAnswer(t, "delete", dry, real)
	if code, _ := h.do(http.MethodGet, revsPath+"/blueprints.nginx.first", "reader", nil); code != http.StatusNotFound {
		t.Errorf("after the delete: %d", code)
	}
	h.dryThenReal(dir, http.MethodDelete, revsPath+"/blueprints.nginx.first", nil, http.StatusNotFound)

	// Repositories: a dry-run create registers nothing and creates no
	// hosted repository.
	catalog := configv1alpha1.Repository{TypeMeta: metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "Repository"},
		ObjectMeta: metav1.ObjectMeta{Name: "catalog", Labels: map[string]string{"tier": "gold"}},
		Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderHosted,
			Sync: &configv1alpha1.Sync{Interval: metav1.Duration{Duration: 24 * time.Hour}}}}
	catalogDir := filepath.Join(h.dataDir, "repos", "default", "catalog.git")
	before = h.state(dir)
	code, _, dry = h.doHeader(http.MethodPost, reposPath+"?dryRun=All", "admin", catalog)
	if code != http.StatusCreated {
		t.Fatalf("dry run of a repository create: %d %s", code, dry)
	}
	if diff := cmp.Diff(before, h.state(dir)); diff != "" {
		t.Errorf("the dry run of a repository create changed the index:\n%s", diff)
	}
	if _, err := os.Stat(catalogDir); !os.IsNotExist(err) {
		t.Errorf("the dry run of a create of a hosted repository made its git repository: %v", err)
	}
	var dryRepo configv1alpha1.Repository
	if err := json.Unmarshal(dry, &dryRepo); err != nil {
		t.Fatal(err)
	}
	if dryRepo.ResourceVersion != "" || dryRepo.UID == "" || dryRepo.CreationTimestamp.IsZero() || dryRepo.Status.CloneURLs == nil {
		t.Errorf("the dry run of a repository create: %s", dry)
	}
	code, _, real = h.doHeader(http.MethodPost, reposPath, "admin", catalog)
	if code != http.StatusCreated {
		t.Fatalf("repository create: %d %s", code, real)
	}
	sameAnswer(t, "repository create", dry, real)
	h.waitReady("catalog")
	h.dryThenReal(dir, http.MethodPost, reposPath, catalog, http.StatusConflict)

	// Update, stale update, delete, sync.
	var repo configv1alpha1.Repository
	h.get(reposPath+"/catalog", "admin", &repo)
	repo.Labels = map[string]string{"tier": "silver"}
	dry, real = h.dryThenReal(dir, http.MethodPut, reposPath+"/catalog", repo, http.StatusOK)
	sameAnswer(t, "repository update", dry, real)
	if rv := resourceVersionOf(t, dry); rv != repo.ResourceVersion {
		t.Errorf("the dry run of a repository update answered resource version %q, want the object's, %s", rv, repo.ResourceVersion)
	}
	dry, real = h.dryThenReal(dir, http.MethodPut, reposPath+"/catalog", repo, http.StatusConflict)
	sameAnswer(t, "stale repository update", dry, real)
	repo.Spec.Provider = configv1alpha1.ProviderGit
	h.dryThenReal(dir, http.MethodPut, reposPath+"/catalog", repo, http.StatusUnprocessableEntity)

	before = h.state(dir)
	code, header, body := h.doHeader(http.MethodPost, reposPath+"/catalog/sync?dryRun=All", "admin", nil)
	if code != http.StatusOK || !strings.Contains(header.Get("Warning"), "not synced") {
		t.Errorf("dry run of a sync: %d %v %s", code, header, body)
	}
	if diff := cmp.Diff(before, h.state(dir)); diff != "" {
		t.Errorf("the dry run of a sync changed the index:\n%s", diff)
	}
	dry, real = h.dryThenReal(dir, http.MethodDelete, reposPath+"/catalog", nil, http.StatusOK)
	sameAnswer(t, "repository delete", dry, real)

	// dryRun takes All only, given once or more; the options of a write
	// are checked before anything else.
	before = h.state(dir)
	for _, q := range []string{"dryRun=Foo", "dryRun=All&dryRun=Foo", "dryRun=", "fieldValidation=Loose", "fieldManager=" + strings.Repeat("m", 129)} {
		code, _, body := h.doHeader(http.MethodPost, withQuery(revsPath, q), "admin", newRevision("blueprints", "nginx", "second", pkgv1alpha1.Task{Type: "init"}))
		st := h.status(code, body, http.StatusBadRequest)
		if st.Reason != metav1.StatusReasonBadRequest {
			t.Errorf("%s: %s", q, body)
		}
		if strings.HasPrefix(q, "dryRun") {
			code, _, body = h.doHeader(http.MethodDelete, withQuery(reposPath+"/blueprints", q), "admin", nil)
			h.status(code, body, http.StatusBadRequest)
		}
	}
	code, _, body = h.doHeader(http.MethodDelete, revsPath+"/blueprints.nginx.first", "admin", `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["Foo"]}`)
	h.status(code, body, http.StatusBadRequest)
	if code, _, body := h.doHeader(http.MethodPost, reposPath+"/blueprints/sync?dryRun=Foo", "admin", nil); code != http.StatusBadRequest {
		t.Errorf("sync with dryRun=Foo: %d %s", code, body)
	}
	code, _, body = h.doHeader(http.MethodPost, withQuery(revsPath, "dryRun=All&dryRun=All"), "admin", newRevision("blueprints", "redis", "second", pkgv1alpha1.Task{Type: "init"}))
	if code != http.StatusCreated {
		t.Errorf("dryRun=All twice: %d %s", code, body)
	}
	if diff := cmp.Diff(before, h.state(dir)); diff != "" {
		t.Errorf("refused options changed git or the index:\n%s", diff)
	}
}

// TestFieldValidation: unknown and duplicate fields of a write's body are
// refused under fieldValidation=Strict, reported in Warning headers under
// Warn (the default) and dropped under Ignore; field names match
// case-sensitively, as in kube-apiserver.
func TestFieldValidation(t *testing.T) {
	h := start(t)
	h.hosted("blueprints")
	body := func(ws string) string {
		return `{"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevision",` +
			`"spec":{"repository":"blueprints","packageName":"nginx","workspaceName":"` + ws + `","lifecycle":"Draft",` +
			`"tasks":[{"type":"init"}],"nope":1,"Repository":"x"},"metadata":{"labels":{"a":"b"},"labels":{"a":"c"}}}`
	}
	wantWarnings := []string{`299 - "unknown field \"spec.nope\""`, `299 - "unknown field \"spec.Repository\""`, `299 - "duplicate field \"metadata.labels\""`}

	code, header, resp := h.doHeader(http.MethodPost, revsPath+"?fieldValidation=Strict", "writer", body("strict"))
	st := h.status(code, resp, http.StatusBadRequest)
	for _, want := range []string{`PackageRevision in version "v1alpha1" cannot be handled as a PackageRevision: strict decoding error: `,
		`unknown field "spec.nope"`, `unknown field "spec.Repository"`, `duplicate field "metadata.labels"`} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("Strict: %q does not say %q", st.Message, want)
		}
	}
	if len(header.Values("Warning")) != 0 {
		t.Errorf("Strict: warnings %q", header.Values("Warning"))
	}
	if code, _ := h.do(http.MethodGet, revsPath+"/blueprints.nginx.strict", "reader", nil); code != http.StatusNotFound {
		t.Errorf("Strict: the refused revision exists (%d)", code)
	}

	for _, q := range []string{"", "?fieldValidation=Warn"} {
		ws := "warn" + strings.TrimPrefix(q, "?fieldValidation=W")
		code, header, resp = h.doHeader(http.MethodPost, revsPath+q, "writer", body(ws))
		if code != http.StatusCreated {
			t.Fatalf("Warn %q: %d %s", q, code, resp)
		}
		got := header.Values("Warning")
		if diff := cmp.Diff(wantWarnings, got); diff != "" {
			t.Errorf("Warn %q: Warning headers (-want +got):\n%s", q, diff)
		}
		var pr pkgv1alpha1.PackageRevision
		if err := json.Unmarshal(resp, &pr); err != nil {
			t.Fatal(err)
		}
		// The last of duplicate fields wins, as in kube-apiserver.
		if pr.Name != "blueprints.nginx."+ws || pr.Labels["a"] != "c" {
			t.Errorf("Warn %q: %s", q, resp)
		}
	}

	code, header, resp = h.doHeader(http.MethodPost, revsPath+"?fieldValidation=Ignore", "writer", body("ignore"))
	if code != http.StatusCreated || len(header.Values("Warning")) != 0 {
		t.Errorf("Ignore: %d %q %s", code, header.Values("Warning"), resp)
	}

	// Every write with a body: a repository update, an update of a
	// revision and of its resources.
	var repo configv1alpha1.Repository
	h.get(reposPath+"/blueprints", "admin", &repo)
	data, err := json.Marshal(repo)
	if err != nil {
		t.Fatal(err)
	}
	withExtra := strings.Replace(string(data), `"spec":{`, `"spec":{"extra":true,`, 1)
	code, _, resp = h.doHeader(http.MethodPut, reposPath+"/blueprints?fieldValidation=Strict", "admin", withExtra)
	if st := h.status(code, resp, http.StatusBadRequest); !strings.Contains(st.Message, `Repository in version "v1alpha1" cannot be handled as a Repository: strict decoding error: unknown field "spec.extra"`) {
		t.Errorf("repository, Strict: %s", st.Message)
	}
	code, header, resp = h.doHeader(http.MethodPut, reposPath+"/blueprints", "admin", withExtra)
	if code != http.StatusOK || header.Get("Warning") != `299 - "unknown field \"spec.extra\""` {
		t.Errorf("repository, Warn: %d %q %s", code, header.Values("Warning"), resp)
	}

	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/blueprints.nginx.ignore", "reader", &res)
	data, err = json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	withExtra = strings.Replace(string(data), `"metadata":{`, `"metadata":{"nickname":"x",`, 1)
	code, _, resp = h.doHeader(http.MethodPut, resPath+"/blueprints.nginx.ignore?fieldValidation=Strict&dryRun=All", "writer", withExtra)
	if st := h.status(code, resp, http.StatusBadRequest); !strings.Contains(st.Message, `unknown field "metadata.nickname"`) {
		t.Errorf("resources, Strict: %s", st.Message)
	}
	pr := h.revision("blueprints.nginx.ignore")
	data, err = json.Marshal(withLifecycle(pr, "Proposed"))
	if err != nil {
		t.Fatal(err)
	}
	withExtra = strings.Replace(string(data), `"spec":{`, `"spec":{"approved":true,`, 1)
	code, header, resp = h.doHeader(http.MethodPut, revsPath+"/blueprints.nginx.ignore", "writer", withExtra)
	if code != http.StatusOK || header.Get("Warning") != `299 - "unknown field \"spec.approved\""` {
		t.Errorf("revision, Warn: %d %q %s", code, header.Values("Warning"), resp)
	}
}

// TestDeletePreconditions: the preconditions of a delete's DeleteOptions
// (uid, resourceVersion) refuse the delete of another object or of a
// changed one with 409, for repositories and package revisions alike.
func TestDeletePreconditions(t *testing.T) {
	h := start(t)
	h.hosted("blueprints")
	var draft pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("blueprints", "nginx", "first", pkgv1alpha1.Task{Type: "init"}), 201, &draft)
	var repo configv1alpha1.Repository
	h.get(reposPath+"/blueprints", "admin", &repo)

	opts := func(uid, rv string) metav1.DeleteOptions {
		o := metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}, Preconditions: &metav1.Preconditions{}}
		if uid != "" {
			o.Preconditions.UID = (*types.UID)(&uid)
		}
		if rv != "" {
			o.Preconditions.ResourceVersion = &rv
		}
		return o
	}
	for _, tc := range []struct {
		name, path string
		body       metav1.DeleteOptions
		want       int
	}{
		{"revision, another uid", revsPath + "/blueprints.nginx.first", opts("0e5cb3e8-1f0b-4bb2-9cd4-0e1f4a1b2c3d", ""), http.StatusConflict},
		{"revision, an old resource version", revsPath + "/blueprints.nginx.first", opts("", "1"), http.StatusConflict},
		{"repository, another uid", reposPath + "/blueprints", opts("0e5cb3e8-1f0b-4bb2-9cd4-0e1f4a1b2c3d", ""), http.StatusConflict},
		{"repository, an old resource version", reposPath + "/blueprints", opts("", "1"), http.StatusConflict},
		{"revision, its uid and resource version", revsPath + "/blueprints.nginx.first", opts(string(draft.UID), draft.ResourceVersion), http.StatusOK},
	} {
		code, body := h.do(http.MethodDelete, tc.path, "admin", tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	// The delete of the revision changed the repository's status.
	h.get(reposPath+"/blueprints", "admin", &repo)
	if code, body := h.do(http.MethodDelete, reposPath+"/blueprints", "admin", opts(string(repo.UID), repo.ResourceVersion)); code != http.StatusOK {
		t.Errorf("repository, its uid and resource version: %d %s", code, body)
	}
	if code, _ := h.do(http.MethodGet, reposPath+"/blueprints", "admin", nil); code != http.StatusNotFound {
		t.Errorf("the repository is still there: %d", code)
	}
}
