package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

func TestAuthentication(t *testing.T) {
	h := start(t)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := h.do(http.MethodGet, p, "", nil); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s", p, code, body)
		}
	}
	for _, tc := range []struct {
		method, path, token string
		body                any
		want                int
	}{
		{"GET", revsPath, "", nil, 401},
		{"GET", "/apis", "", nil, 401},
		{"GET", revsPath, "pks_not-a-token-of-this-server", nil, 401},
		{"GET", revsPath, "Basic x", nil, 401},
		{"GET", revsPath, "reader", nil, 200},
		{"GET", revsPath, "otherreader", nil, 403},
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions", "reader", nil, 403},
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions", "admin", nil, 200},
		{"GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/other/packagerevisions", "otherreader", nil, 200},
		{"POST", reposPath, "reader", `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x"}}}`, 403},
		{"POST", reposPath, "writer", `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x"}}}`, 403},
		{"POST", reposPath + "/x/sync", "reader", nil, 403},
		{"DELETE", reposPath + "/x", "writer", nil, 403},
		{"POST", reposPath + "/x/sync", "writer", nil, 404},
		{"DELETE", reposPath + "/x", "nsadmin", nil, 404},
	} {
		code, body := h.do(tc.method, tc.path, tc.token, tc.body)
		if code != tc.want {
			t.Errorf("%s %s as %q: %d, want %d: %s", tc.method, tc.path, tc.token, code, tc.want, body)
			continue
		}
		if code >= 400 {
			st := h.status(code, body, tc.want)
			if want := map[int]metav1.StatusReason{401: metav1.StatusReasonUnauthorized, 403: metav1.StatusReasonForbidden,
				404: metav1.StatusReasonNotFound}[code]; st.Reason != want {
				t.Errorf("%s %s: reason %s, want %s", tc.method, tc.path, st.Reason, want)
			}
		}
	}
	// A token's secret never appears in what the server answers.
	_, body := h.do("GET", revsPath, "otherreader", nil)
	if strings.Contains(string(body), h.tokens["otherreader"]) {
		t.Error("the 403 answer shows the token")
	}
}

func TestRepositoryLifecycle(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	refsBefore := g.Git("for-each-ref")
	r := h.addRepo("blueprints", g.Dir)
	if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c.Status != metav1.ConditionTrue || c.Reason != "Synced" {
		t.Fatalf("Ready = %+v", c)
	}
	if r.Status.PackageCount != 2 || r.Status.Commit != g.Rev("main") || r.Status.LastSyncTime == nil {
		t.Errorf("status = %+v", r.Status)
	}
	if r.Spec.Git.Branch != "main" || r.Spec.Type != "git" || r.Spec.Provider != "git" || r.UID == "" || r.Generation != 1 {
		t.Errorf("defaults and server-owned fields: %+v %+v", r.Spec, r.ObjectMeta)
	}
	got := h.revisions("")
	want := []string{"blueprints.nginx.main", "blueprints.nginx.tuning", "blueprints.nginx.v1", "blueprints.nginx.v2",
		"blueprints.redis.main", "blueprints.redis.upgrade", "blueprints.redis.v1"}
	if !slices.Equal(got, want) {
		t.Fatalf("revisions = %v, want %v", got, want)
	}

	// Creating it again is a conflict.
	code, body := h.do("POST", reposPath, "admin", map[string]any{"metadata": map[string]any{"name": "blueprints"},
		"spec": map[string]any{"git": map[string]any{"url": g.Dir}}})
	if st := h.status(code, body, 409); st.Reason != metav1.StatusReasonAlreadyExists {
		t.Errorf("reason %s", st.Reason)
	}

	var l configv1alpha1.RepositoryList
	h.get("/apis/config.pkg.pkgserver.dev/v1alpha1/repositories", "admin", &l)
	if len(l.Items) != 1 || l.Items[0].Name != "blueprints" || l.Kind != "RepositoryList" || l.ResourceVersion == "" {
		t.Errorf("list = %+v", l)
	}

	// Update: a new interval; then a stale update is a conflict.
	r.Spec.Sync = &configv1alpha1.Sync{Interval: metav1.Duration{Duration: 30 * time.Second}}
	code, body = h.do("PUT", reposPath+"/blueprints", "nsadmin", r)
	if code != 200 {
		t.Fatalf("update: %d %s", code, body)
	}
	var updated configv1alpha1.Repository
	if err := json.Unmarshal(body, &updated); err != nil {
		t.Fatal(err)
	}
	if updated.Generation != 2 || updated.ResourceVersion == r.ResourceVersion || updated.Spec.Sync.Interval.Duration != 30*time.Second {
		t.Errorf("updated = %+v", updated.ObjectMeta)
	}
	r.Spec.Git.Directory = "elsewhere"
	code, body = h.do("PUT", reposPath+"/blueprints", "nsadmin", r)
	if st := h.status(code, body, 409); st.Reason != metav1.StatusReasonConflict {
		t.Errorf("stale update: reason %s", st.Reason)
	}

	// Sync on demand, after a new tag.
	g.Tag("redis/v2", g.Rev("proposed/redis/upgrade"), "")
	code, body = h.do("POST", reposPath+"/blueprints/sync", "writer", nil)
	if code != 200 {
		t.Fatalf("sync: %d %s", code, body)
	}
	if got := h.revisions("?fieldSelector=spec.packageName%3Dredis"); !slices.Contains(got, "blueprints.redis.v2") {
		t.Errorf("after sync: %v", got)
	}

	// Delete: the revisions leave the index, git is untouched.
	code, body = h.do("DELETE", reposPath+"/blueprints", "nsadmin", nil)
	if code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Status != metav1.StatusSuccess {
		t.Errorf("delete answered %s", body)
	}
	if got := h.revisions(""); len(got) != 0 {
		t.Errorf("revisions after delete: %v", got)
	}
	code, body = h.do("GET", reposPath+"/blueprints", "admin", nil)
	h.status(code, body, 404)
	if after := g.Git("for-each-ref"); after != refsBefore+"\n"+g.Git("for-each-ref", "refs/tags/redis/v2") &&
		!strings.Contains(after, "refs/tags/nginx/v2") {
		t.Errorf("git changed:\n%s", after)
	}
	if n := strings.Count(g.Git("for-each-ref"), "\n") + 1; n != strings.Count(refsBefore, "\n")+2 {
		t.Errorf("git has %d refs, want the %d before plus the new tag", n, strings.Count(refsBefore, "\n")+1)
	}
}

// TestBadRequestsChangeNothing sends what a careless or hostile client
// might, and checks each gets a 4xx Status and the index stays as it was.
func TestBadRequestsChangeNothing(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	snapshot := func() string {
		var l configv1alpha1.RepositoryList
		h.get("/apis/config.pkg.pkgserver.dev/v1alpha1/repositories", "admin", &l)
		var rl pkgv1alpha1.PackageRevisionList
		h.get(revsPath, "admin", &rl)
		b, _ := json.Marshal([]any{l.Items, rl.Items})
		return string(b)
	}
	before := snapshot()
	repo := func(name, url string) string {
		return fmt.Sprintf(`{"apiVersion":"config.pkg.pkgserver.dev/v1alpha1","kind":"Repository","metadata":{"name":%q},"spec":{"git":{"url":%q}}}`, name, url)
	}
	big := `{"metadata":{"name":"big","annotations":{"a":"` + strings.Repeat("x", 1<<20) + `"}},"spec":{"git":{"url":"/x"}}}`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		reason                   metav1.StatusReason
		message                  string
	}{
		{"malformed JSON", "POST", reposPath, `{"metadata":{"name":"x"`, 400, metav1.StatusReasonBadRequest, "invalid JSON"},
		{"not an object", "POST", reposPath, `[1,2]`, 400, metav1.StatusReasonBadRequest, "invalid JSON"},
		{"trailing data", "POST", reposPath, repo("x", "/x") + `{}`, 400, metav1.StatusReasonBadRequest, "after the object"},
		{"unknown field", "POST", reposPath + "?fieldValidation=Strict", `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x","brnach":"dev"}}}`, 400, metav1.StatusReasonBadRequest, `unknown field "spec.git.brnach"`},
		{"name not RFC 1123", "POST", reposPath, repo("Blue_Prints", "/x"), 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"name too long", "POST", reposPath, repo(strings.Repeat("a", 64), "/x"), 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"no name", "POST", reposPath, repo("", "/x"), 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"body over the limit", "POST", reposPath, big, 413, metav1.StatusReasonRequestEntityTooLarge, "larger than"},
		{"relative path", "POST", reposPath, repo("x", "repos/x"), 422, metav1.StatusReasonInvalid, "absolute path"},
		{"unsupported scheme", "POST", reposPath, repo("x", "ftp://host/x"), 422, metav1.StatusReasonInvalid, "scheme ftp"},
		{"password in URL", "POST", reposPath, repo("x", "https://ci:hunter2@git.example.com/x.git"), 422, metav1.StatusReasonInvalid, "must not hold a password"},
		{"no URL", "POST", reposPath, repo("x", ""), 422, metav1.StatusReasonInvalid, "spec.git.url"},
		{"github without coordinates", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"provider":"github","git":{"url":"/x"},"webhookSecret":"s"}}`, 422, metav1.StatusReasonInvalid, "spec.github"},
		{"github without a webhook secret", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"provider":"github","git":{"url":"/x"},"github":{"owner":"o","repo":"r"}}}`, 422, metav1.StatusReasonInvalid, "spec.webhookSecret"},
		{"gitlab with a bad base URL", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"provider":"gitlab","git":{"url":"/x"},"webhookSecret":"s","gitlab":{"project":"g/p","baseURL":"ftp://x"}}}`, 422, metav1.StatusReasonInvalid, "spec.gitlab.baseURL"},
		{"local path in the data directory", "POST", reposPath, repo("x", h.dataDir+"/repos/other/secret.git"), 422, metav1.StatusReasonInvalid, "inside the server's data directory"},
		{"hosted with a URL", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"provider":"hosted","git":{"url":"/x"}}}`, 422, metav1.StatusReasonInvalid, "spec.git.url"},
		{"unknown provider", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"provider":"svn","git":{"url":"/x"}}}`, 422, metav1.StatusReasonInvalid, "spec.provider"},
		{"interval too short", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x"},"sync":{"interval":"1s"}}}`, 422, metav1.StatusReasonInvalid, "spec.sync.interval"},
		{"interval not a duration", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x"},"sync":{"interval":"often"}}}`, 400, metav1.StatusReasonBadRequest, "invalid JSON"},
		{"branch not a ref", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x","branch":"a..b"}}}`, 422, metav1.StatusReasonInvalid, "spec.git.branch"},
		{"directory escapes", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x","directory":"../etc"}}}`, 422, metav1.StatusReasonInvalid, "spec.git.directory"},
		{"bad credentials name", "POST", reposPath, `{"metadata":{"name":"x"},"spec":{"git":{"url":"/x","credentials":"A B"}}}`, 422, metav1.StatusReasonInvalid, "spec.git.credentials"},
		{"bad label", "POST", reposPath, `{"metadata":{"name":"x","labels":{"a b":"c"}},"spec":{"git":{"url":"/x"}}}`, 422, metav1.StatusReasonInvalid, "metadata.labels"},
		{"wrong kind", "POST", reposPath, `{"kind":"Deployment","metadata":{"name":"x"},"spec":{"git":{"url":"/x"}}}`, 422, metav1.StatusReasonInvalid, "kind"},
		{"namespace mismatch", "POST", reposPath, `{"metadata":{"name":"x","namespace":"other"},"spec":{"git":{"url":"/x"}}}`, 400, metav1.StatusReasonBadRequest, "namespace"},
		{"namespace not RFC 1123", "POST", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/Not_A_NS/repositories", repo("x", "/x"), 400, metav1.StatusReasonBadRequest, "namespace"},
		{"update without resourceVersion", "PUT", reposPath + "/blueprints", repo("blueprints", "/x"), 422, metav1.StatusReasonInvalid, "resourceVersion"},
		{"update of another name", "PUT", reposPath + "/blueprints", repo("other", "/x"), 400, metav1.StatusReasonBadRequest, "name"},
		{"update of a missing one", "PUT", reposPath + "/missing", `{"metadata":{"name":"missing","resourceVersion":"1"},"spec":{"git":{"url":"/x"}}}`, 404, metav1.StatusReasonNotFound, "missing"},
		{"bad fieldSelector", "GET", revsPath + "?fieldSelector=spec.packageName", "", 400, metav1.StatusReasonBadRequest, "fieldSelector"},
		{"unsupported field", "GET", revsPath + "?fieldSelector=spec.tasks%3Dx", "", 400, metav1.StatusReasonBadRequest, "not supported"},
		{"field inequality", "GET", revsPath + "?fieldSelector=spec.packageName!%3Dx", "", 400, metav1.StatusReasonBadRequest, "only = and =="},
		{"bad labelSelector", "GET", revsPath + "?labelSelector=" + url.QueryEscape("a in (b"), "", 400, metav1.StatusReasonBadRequest, "labelSelector"},
		{"labelSelector of 998 terms", "GET", revsPath + "?labelSelector=" + url.QueryEscape(selectorTerms(998)), "", 400, metav1.StatusReasonBadRequest, "at most 100"},
		{"repositories' labelSelector of 101 terms", "GET", reposPath + "?labelSelector=" + url.QueryEscape(selectorTerms(101)), "", 400, metav1.StatusReasonBadRequest, "at most 100"},
		{"bad limit", "GET", revsPath + "?limit=-1", "", 400, metav1.StatusReasonBadRequest, "limit"},
		{"bad continue", "GET", revsPath + "?limit=1&continue=garbage", "", 400, metav1.StatusReasonBadRequest, "continue"},
		{"bad resourceVersion", "GET", revsPath + "?watch=true&resourceVersion=abc", "", 400, metav1.StatusReasonBadRequest, "resourceVersion"},
		{"unknown route", "GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/widgets", "", 404, metav1.StatusReasonNotFound, ""},
		{"unknown method", "PUT", revsPath, `{}`, 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"missing revision", "GET", revsPath + "/blueprints.nginx.v9", "", 404, metav1.StatusReasonNotFound, "blueprints.nginx.v9"},
		{"missing resources", "GET", resPath + "/blueprints.nginx.v9", "", 404, metav1.StatusReasonNotFound, "blueprints.nginx.v9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, url: h.url, tokens: h.tokens}
			var body any
			if tc.body != "" {
				body = tc.body
			}
			code, resp := h.do(tc.method, tc.path, "admin", body)
			st := h.status(code, resp, tc.want)
			if st.Reason != tc.reason || !strings.Contains(st.Message, tc.message) || st.Status != metav1.StatusFailure {
				t.Errorf("Status = %s %q, want %s and %q", st.Reason, st.Message, tc.reason, tc.message)
			}
		})
	}
	// A local path reads the server's disk: only an admin of every
	// namespace registers one.
	code, resp := h.do("POST", reposPath, "nsadmin", repo("x", "/x"))
	if st := h.status(code, resp, 403); !strings.Contains(st.Message, "admin token of every namespace") {
		t.Errorf("a local path by a namespace's admin: %s", st.Message)
	}
	code, resp = h.do("POST", reposPath, "admin", repo("x", "/x"))
	req, _ := http.NewRequest("POST", h.url+reposPath, strings.NewReader(repo("x", "/x")))
	req.Header.Set("Authorization", "Bearer "+h.tokens["admin"])
	req.Header.Set("Content-Type", "application/yaml")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("YAML body: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
	if code != 201 {
		t.Fatalf("a good request after the bad ones: %d %s", code, resp)
	}
	// Only the good request changed anything: drop it and compare.
	if code, resp := h.do("DELETE", reposPath+"/x", "admin", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, resp)
	}
	if after := snapshot(); after != before {
		t.Errorf("bad requests changed the index:\nbefore %s\nafter  %s", before, after)
	}
}

func TestListRevisions(t *testing.T) {
	h := start(t)
	h.addRepo("blueprints", blueprints(t).Dir)
	deploy := gittest.New(t)
	deploy.Write(gittest.Package("sites/berlin", "1"))
	deploy.Tag("sites/berlin/v1", deploy.Commit("berlin"), "")
	h.addRepo("deploy", deploy.Dir, func(r *configv1alpha1.Repository) { r.Spec.Deployment = true })

	all := h.revisions("")
	if len(all) != 9 {
		t.Fatalf("all = %v", all)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?fieldSelector=spec.repository%3Ddeploy", []string{"deploy.sites.berlin.main", "deploy.sites.berlin.v1"}},
		{"?fieldSelector=spec.packageName%3Dnginx,spec.lifecycle%3DPublished", []string{"blueprints.nginx.main", "blueprints.nginx.v1", "blueprints.nginx.v2"}},
		{"?fieldSelector=spec.lifecycle%3D%3DDraft", []string{"blueprints.nginx.tuning"}},
		{"?fieldSelector=spec.lifecycle%3DProposed", []string{"blueprints.redis.upgrade"}},
		{"?fieldSelector=spec.workspaceName%3Dtuning", []string{"blueprints.nginx.tuning"}},
		{"?fieldSelector=spec.revision%3Dv1,spec.repository%3Dblueprints", []string{"blueprints.nginx.v1", "blueprints.redis.v1"}},
		{"?fieldSelector=metadata.namespace%3Ddefault,spec.packageName%3Dredis,spec.revision%3Dv1", []string{"blueprints.redis.v1"}},
		{"?labelSelector=" + url.QueryEscape(pkgv1alpha1.LatestRevisionLabel+"=true"), []string{"blueprints.nginx.v2", "blueprints.redis.v1", "deploy.sites.berlin.v1"}},
		{"?labelSelector=" + url.QueryEscape(pkgv1alpha1.LatestRevisionLabel+"=true") + "&fieldSelector=spec.packageName%3Dnginx", []string{"blueprints.nginx.v2"}},
		{"?labelSelector=" + url.QueryEscape("!"+pkgv1alpha1.LatestRevisionLabel) + "&fieldSelector=spec.packageName%3Dredis", []string{"blueprints.redis.main", "blueprints.redis.upgrade"}},
		{"?labelSelector=nothing%3Dhere", []string{}},
		{"?labelSelector=" + url.QueryEscape(selectorTerms(100)), []string{}},
		{"?fieldSelector=spec.packageName%3Dabsent", []string{}},
	} {
		if got := h.revisions(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}

	// Pages of two walk the whole list in its order, on one snapshot.
	var paged []string
	cont := ""
	var firstRV string
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		var l pkgv1alpha1.PackageRevisionList
		h.get(revsPath+"?limit=2&continue="+url.QueryEscape(cont), "reader", &l)
		if len(l.Items) > 2 {
			t.Fatalf("page of %d", len(l.Items))
		}
		if firstRV == "" {
			firstRV = l.ResourceVersion
		} else if l.ResourceVersion != firstRV {
			t.Errorf("page resourceVersion %s, first page %s", l.ResourceVersion, firstRV)
		}
		for _, pr := range l.Items {
			paged = append(paged, pr.Name)
		}
		if cont = l.Continue; cont == "" {
			break
		}
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged = %v, want %v", paged, all)
	}

	// Across namespaces, for a token of every namespace.
	var l pkgv1alpha1.PackageRevisionList
	h.get("/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions?fieldSelector=spec.repository%3Ddeploy", "admin", &l)
	if len(l.Items) != 2 || l.Items[0].Namespace != "default" {
		t.Errorf("cross-namespace list: %+v", l.Items)
	}
}

func TestGetRevisionAndResources(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	var pr pkgv1alpha1.PackageRevision
	h.get(revsPath+"/blueprints.nginx.v2", "reader", &pr)
	if pr.Kind != "PackageRevision" || pr.APIVersion != pkgv1alpha1.APIVersion || pr.Spec.PackageName != "nginx" ||
		pr.Spec.Revision != "v2" || pr.Spec.Lifecycle != "Published" || pr.Status.Commit != g.Rev("nginx/v2") ||
		pr.Labels[pkgv1alpha1.LatestRevisionLabel] != "true" || pr.ResourceVersion == "" {
		t.Errorf("revision = %+v", pr)
	}
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/blueprints.nginx.tuning", "reader", &res)
	want := gittest.Package("nginx", "3")
	if len(res.Spec.Resources) != len(want) || res.Kind != "PackageRevisionResources" || res.Spec.WorkspaceName != "tuning" {
		t.Fatalf("resources = %+v", res)
	}
	for p, content := range want {
		if got := res.Spec.Resources[strings.TrimPrefix(p, "nginx/")]; got != content {
			t.Errorf("%s = %q, want %q", p, got, content)
		}
	}
	code, body := h.do("GET", resPath+"/blueprints.nginx.v1", "otherreader", nil)
	h.status(code, body, 403)

	// A revision read again after a sync is read as it is now, not as it
	// was answered before: v2 is no longer the latest once v3 is tagged.
	g.Checkout("-q", "main")
	g.Write(gittest.Package("nginx", "3"))
	g.Tag("nginx/v3", g.Commit("nginx 3"), "")
	h.sync("blueprints")
	var again pkgv1alpha1.PackageRevision
	h.get(revsPath+"/blueprints.nginx.v2", "reader", &again)
	if again.Labels[pkgv1alpha1.LatestRevisionLabel] != "" || again.ResourceVersion == pr.ResourceVersion {
		t.Errorf("v2 after v3 was tagged: labels %v, resourceVersion %s (was %s)", again.Labels, again.ResourceVersion, pr.ResourceVersion)
	}
	if code, body := h.do("DELETE", reposPath+"/blueprints", "admin", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	code, body = h.do("GET", revsPath+"/blueprints.nginx.v2", "reader", nil)
	h.status(code, body, 404)
}

// TestWatch follows revisions across a push and a sync, resumes from a
// resource version, and is told to list again once that is too old.
func TestWatch(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	h.addRepo("blueprints", g.Dir)
	var l pkgv1alpha1.PackageRevisionList
	h.get(revsPath+"?fieldSelector=spec.packageName%3Dnginx", "reader", &l)

	w := h.watch(revsPath + "?watch=true&fieldSelector=spec.packageName%3Dnginx&resourceVersion=" + l.ResourceVersion)
	g.Checkout("-q", "main")
	g.Write(gittest.Package("nginx", "3"))
	g.Tag("nginx/v3", g.Commit("nginx 3"), "")
	h.sync("blueprints")
	got := map[string]string{}
	for len(got) < 3 {
		e := w.next(t)
		got[e.Type+" "+e.Object.Name] = e.Object.Labels[pkgv1alpha1.LatestRevisionLabel]
		if e.Object.Spec.PackageName != "nginx" {
			t.Errorf("event of another package: %+v", e)
		}
	}
	want := map[string]string{"ADDED blueprints.nginx.v3": "true", "MODIFIED blueprints.nginx.v2": "", "MODIFIED blueprints.nginx.main": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	w.close()

	// From the start (no resource version): one ADDED per revision.
	w = h.watch(revsPath + "?watch=1&fieldSelector=spec.lifecycle%3DPublished,spec.packageName%3Dnginx")
	var added []string
	for range 4 { // main, v1, v2, v3
		e := w.next(t)
		if e.Type != "ADDED" {
			t.Errorf("initial event %s", e.Type)
		}
		added = append(added, e.Object.Name)
	}
	if !slices.Equal(added, []string{"blueprints.nginx.main", "blueprints.nginx.v1", "blueprints.nginx.v2", "blueprints.nginx.v3"}) {
		t.Errorf("initial events: %v", added)
	}
	w.close()

	// Revisions leave and enter a selection as their labels and
	// lifecycles change: the client sees DELETED and ADDED.
	latest := h.watch(revsPath + "?watch=true&fieldSelector=spec.packageName%3Dnginx&labelSelector=" +
		url.QueryEscape(pkgv1alpha1.LatestRevisionLabel+"=true"))
	if e := latest.next(t); e.Type != "ADDED" || e.Object.Name != "blueprints.nginx.v3" {
		t.Fatalf("initial event %s %s", e.Type, e.Object.Name)
	}
	drafts := h.watch(revsPath + "?watch=true&fieldSelector=spec.lifecycle%3DDraft")
	if e := drafts.next(t); e.Type != "ADDED" || e.Object.Name != "blueprints.nginx.tuning" {
		t.Fatalf("initial event %s %s", e.Type, e.Object.Name)
	}
	g.Git("branch", "-m", "drafts/nginx/tuning", "proposed/nginx/tuning")
	g.Write(gittest.Package("nginx", "4"))
	g.Tag("nginx/v4", g.Commit("nginx 4"), "")
	h.sync("blueprints")
	got = map[string]string{}
	for len(got) < 2 {
		e := latest.next(t)
		got[e.Type+" "+e.Object.Name] = e.Object.Labels[pkgv1alpha1.LatestRevisionLabel]
	}
	if want := map[string]string{"DELETED blueprints.nginx.v3": "", "ADDED blueprints.nginx.v4": "true"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("latest events = %v, want %v", got, want)
	}
	if e := drafts.next(t); e.Type != "DELETED" || e.Object.Name != "blueprints.nginx.tuning" || e.Object.Spec.Lifecycle != "Proposed" {
		t.Errorf("draft proposed: %s %s %s", e.Type, e.Object.Name, e.Object.Spec.Lifecycle)
	}
	latest.close()
	drafts.close()

	// Deleting the repository deletes its revisions.
	h.get(revsPath, "reader", &l)
	w = h.watch(revsPath + "?watch=true&resourceVersion=" + l.ResourceVersion)
	if code, body := h.do("DELETE", reposPath+"/blueprints", "admin", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	for range l.Items {
		if e := w.next(t); e.Type != "DELETED" {
			t.Errorf("event %s %s after the repository was deleted", e.Type, e.Object.Name)
		}
	}
	w.close()

	// Events older than the retention are gone: a watch from then is
	// told to list again.
	if err := h.store.CompactEvents(context.Background(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	w = h.watch(revsPath + "?watch=true&resourceVersion=1")
	e := w.nextRaw(t)
	var st metav1.Status
	if err := json.Unmarshal(e.Object, &st); err != nil || e.Type != "ERROR" || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Errorf("stale watch: %s %s", e.Type, e.Object)
	}
	w.close()
}

// TestSyncFailureIsolated registers a repository that cannot be read next
// to one that can: the first is not Ready, with the reason, and the second
// and the API are unaffected.
func TestSyncFailureIsolated(t *testing.T) {
	h := start(t)
	bad := h.addRepo("gone", "/nonexistent/repository")
	c := meta.FindStatusCondition(bad.Status.Conditions, "Ready")
	if c.Status != metav1.ConditionFalse || c.Reason != "SyncFailed" || !strings.Contains(c.Message, "/nonexistent/repository") {
		t.Errorf("Ready = %+v", c)
	}
	missingSecret := h.addRepo("locked", "https://127.0.0.1:1/x.git", func(r *configv1alpha1.Repository) { r.Spec.Git.Credentials = "deploy-key" })
	c = meta.FindStatusCondition(missingSecret.Status.Conditions, "Ready")
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `credentials "deploy-key": no such secret`) {
		t.Errorf("Ready = %+v", c)
	}
	good := h.addRepo("blueprints", blueprints(t).Dir)
	if c := meta.FindStatusCondition(good.Status.Conditions, "Ready"); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	// Syncing the failing one answers with its status, not an error.
	code, body := h.do("POST", reposPath+"/gone/sync", "writer", nil)
	var r configv1alpha1.Repository
	if code != 200 || json.Unmarshal(body, &r) != nil || meta.IsStatusConditionTrue(r.Status.Conditions, "Ready") {
		t.Errorf("sync of a failing repository: %d %s", code, body)
	}
}

func TestMetrics(t *testing.T) {
	h := start(t)
	h.addRepo("blueprints", blueprints(t).Dir)
	h.revisions("")
	h.do("GET", revsPath+"/nope", "reader", nil)
	code, body := h.do("GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{
		`pkgserver_http_requests_total{code="200",method="GET",route="/apis/pkg.pkgserver.dev/v1alpha1/namespaces/:ns/packagerevisions"} 1`,
		`pkgserver_http_requests_total{code="404",method="GET",route="/apis/pkg.pkgserver.dev/v1alpha1/namespaces/:ns/packagerevisions/:name"} 1`,
		`pkgserver_http_request_duration_seconds_bucket{method="GET"`,
		`pkgserver_reconcile_duration_seconds_count`,
		`pkgserver_sync_queue_depth`,
		`pkgserver_index_revisions 7`,
		`pkgserver_index_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestShutdown stops the server with a watch open: the watch ends, the
// server returns, and the index is closed.
func TestShutdown(t *testing.T) {
	h := start(t)
	w := h.watch(revsPath + "?watch=true")
	done := make(chan struct{})
	go func() {
		h.stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown waits for an open watch")
	}
	if err := w.wait(5 * time.Second); err != nil {
		t.Error(err)
	}
	if err := h.store.Ping(context.Background()); err == nil {
		t.Error("the index is still open")
	}
}

// TestCredentials registers a repository behind basic authentication, served
// by git http-backend, with a secret stored as `pkgserver secret set` stores
// it: the server opens it and fetches; a repository naming a secret of
// another namespace cannot use it.
func TestCredentials(t *testing.T) {
	h := start(t)
	g := blueprints(t)
	base := gittest.ServeHTTP(t, filepath.Dir(g.Dir), "ci", "hunter2-pa55")
	keys, err := auth.LoadKeyring(h.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := keys.Seal("default", "git-ci", gitrepo.Credentials{Username: "ci", Password: "hunter2-pa55"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutSecret(context.Background(), "default", "git-ci", sealed); err != nil {
		t.Fatal(err)
	}
	url := base + "/" + filepath.Base(g.Dir)
	r := h.addRepo("private", url, func(r *configv1alpha1.Repository) { r.Spec.Git.Credentials = "git-ci" })
	if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c.Status != metav1.ConditionTrue || r.Status.PackageCount != 2 {
		t.Fatalf("Ready = %+v, %d packages", c, r.Status.PackageCount)
	}
	if got := h.revisions("?fieldSelector=spec.repository%3Dprivate"); len(got) != 7 {
		t.Errorf("revisions = %v", got)
	}
	// The same secret name in another namespace does not exist.
	other := &configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Name: "private"},
		Spec: configv1alpha1.RepositorySpec{Git: configv1alpha1.GitSpec{URL: url, Credentials: "git-ci"}}}
	code, body := h.do("POST", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/other/repositories", "admin", other)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var r configv1alpha1.Repository
		h.get("/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/other/repositories/private", "admin", &r)
		if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c != nil && c.Status != metav1.ConditionUnknown {
			if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "no such secret in namespace other") {
				t.Errorf("Ready = %+v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not synced")
		}
	}
	// Nothing the server answers or stores in the clear holds the password.
	_, body = h.do("GET", "/apis/config.pkg.pkgserver.dev/v1alpha1/repositories", "admin", nil)
	if strings.Contains(string(body), "hunter2") {
		t.Error("the repository list shows the password")
	}
	db, err := os.ReadFile(filepath.Join(h.dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(h.dataDir, "index.db-wal"))
	if strings.Contains(string(db)+string(wal), "hunter2") {
		t.Error("the index holds the password in the clear")
	}
}

// selectorTerms is a label selector of n requirements that no object meets.
func selectorTerms(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf("k%d=v", i)
	}
	return strings.Join(terms, ",")
}
