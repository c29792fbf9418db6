package webhooks_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/webhooks/forgetest"
)

// unrenderedKptfile is package nginx's Kptfile with a pipeline that sets
// the namespace staging, which gittest's ConfigMap does not have.
const unrenderedKptfile = `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: nginx
pipeline:
  mutators:
  - image: gcr.io/kpt-fn/set-namespace:v0.4.1
    configMap:
      namespace: staging
`

// unrendered is package nginx at a version, unrendered.
func unrendered(version string) map[string]string {
	files := gittest.Package("nginx", version)
	files["nginx/Kptfile"] = unrenderedKptfile
	return files
}

// requireRendered sets a registered repository's spec.requireRendered.
func (f *forge) requireRendered(name string) {
	f.t.Helper()
	path := "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/" + name
	code, body := f.api(http.MethodGet, path, nil)
	var r configv1alpha1.Repository
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil {
		f.t.Fatalf("get %s: %d %s", name, code, body)
	}
	r.Spec.RequireRendered = true
	if code, body = f.api(http.MethodPut, path, r); code != http.StatusOK {
		f.t.Fatalf("update %s: %d %s", name, code, body)
	}
}

// annotated tells whether a check run has an annotation at a file and
// line, of a level, whose message contains text.
func annotated(run *forgetest.CheckRun, path string, line int, level, text string) bool {
	for _, a := range run.Annotations {
		if a.Path == path && a.StartLine == line && a.AnnotationLevel == level && strings.Contains(a.Message, text) {
			return true
		}
	}
	return false
}

// TestChecksNotRendered: a push of an unrendered package gets a check run
// with a warning annotation at the file and line rendering would change;
// where the repository requires rendered packages, the check fails with
// a failure annotation there. GitLab's commit status tells the warning.
func TestChecksNotRendered(t *testing.T) {
	f := setup(t)
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(unrendered("2"))
	c := f.remote.Commit("nginx 2, unrendered")
	f.githubPush("p-1", "refs/heads/drafts/nginx/first", "0000000000000000000000000000000000000000", c)
	var run *forgetest.CheckRun
	f.waitFor("check run of the unrendered commit", func() bool { run = f.checkRun(c); return run != nil })
	if run.Conclusion != "neutral" || !annotated(run, "nginx/config.yaml", 5, "warning", "not rendered") {
		t.Errorf("check run of an unrendered package: %+v", run)
	}

	f.gitlabDeliver("Push Hook", "g-1", payload(t, "gitlab-push.json", "refs/heads/drafts/nginx/first", c))
	f.waitFor("commit status", func() bool { return len(f.gitlab.Statuses()) == 1 })
	if s := f.gitlab.Statuses()[0]; s.SHA != c || s.State != "success" || !strings.Contains(s.Description, "1 warning") {
		t.Errorf("GitLab status of an unrendered package: %+v", s)
	}

	f.requireRendered("gh")
	f.remote.Write(unrendered("3"))
	c2 := f.remote.Commit("nginx 3, unrendered")
	f.githubPush("p-2", "refs/heads/drafts/nginx/first", c, c2)
	f.waitFor("check run of the second unrendered commit", func() bool { run = f.checkRun(c2); return run != nil })
	if run.Conclusion != "failure" || !annotated(run, "nginx/config.yaml", 5, "failure", "not rendered") {
		t.Errorf("check run of an unrendered package where rendered ones are required: %+v", run)
	}
}
