package gitserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/store"
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

// hostedRequiringRendered registers a hosted repository whose packages
// must be pushed rendered.
func (h *host) hostedRequiringRendered(name string) {
	h.t.Helper()
	code, body := h.api(http.MethodPost, reposPath, configv1alpha1.Repository{
		TypeMeta:   metaType,
		ObjectMeta: objectMeta(name),
		Spec:       configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderHosted, RequireRendered: true},
	})
	if code != http.StatusCreated {
		h.t.Fatalf("create hosted repository: %d %s", code, body)
	}
	var r configv1alpha1.Repository
	if err := json.Unmarshal(body, &r); err != nil || !r.Spec.RequireRendered {
		h.t.Fatalf("registered: %s, %v; want spec.requireRendered", body, err)
	}
}

// TestPushNotRendered: a package pushed unrendered is accepted with a
// warning at the file and line rendering would change, and refused, every
// ref as it was, by a repository that requires rendered packages; pushed
// rendered it gets no finding there, and a pipeline the server cannot
// render is told of, never refused.
func TestPushNotRendered(t *testing.T) {
	h := startHost(t, options{})
	h.hosted("catalog")
	h.hostedRequiringRendered("strict")
	writer := h.token("writer", "default", store.RoleWrite)
	clone := func(repo string) (dir, url string) {
		url = "http://writer:" + writer + "@" + h.httpAddr + gitserver.HTTPPrefix + "default/" + repo + ".git"
		work := t.TempDir()
		h.mustGit(nil, work, "clone", "-q", url, "w")
		return filepath.Join(work, "w"), url
	}
	commitFiles := func(dir string, files map[string]string, msg string) {
		writeFiles(t, dir, files)
		h.mustGit(nil, dir, "add", ".")
		h.mustGit(nil, dir, "commit", "-qm", msg)
	}
	unrendered := gittest.Package("nginx", "1")
	unrendered["nginx/Kptfile"] = unrenderedKptfile
	const warning = "remote: nginx/config.yaml:5: warning: not rendered: rendering writes \"namespace: staging\" at this line"

	// Warned about, accepted, the warning kept for the revision.
	w, _ := clone("catalog")
	commitFiles(w, unrendered, "nginx, unrendered")
	out := h.mustGit(nil, w, "push", "origin", "HEAD:refs/heads/drafts/nginx/first")
	if !strings.Contains(out, warning) || !strings.Contains(out, "kpt fn render") || !strings.Contains(out, "pkgserver: indexed default/catalog") {
		t.Errorf("push of an unrendered package:\n%s", out)
	}
	r, err := h.store.GetRevision(context.Background(), "default", "catalog.nginx.first")
	if err != nil {
		t.Fatalf("the unrendered draft is not in the index: %v", err)
	}
	if r.Validation == nil || r.Validation.Errors != 0 || r.Validation.Warnings != 1 {
		t.Errorf("validation of the unrendered draft: %+v", r.Validation)
	}
	repo, _ := h.store.GetRepository(context.Background(), "default", "catalog")
	if v, err := h.store.Validation(context.Background(), repo.ID, r.Tree); err != nil || !strings.Contains(string(v.Results), `"render/not-rendered"`) {
		t.Errorf("findings kept: %+v, %v", v, err)
	}

	// Refused where rendered packages are required, nothing updated.
	s, url := clone("strict")
	before := h.mustGit(nil, s, "ls-remote", url)
	commitFiles(s, unrendered, "nginx, unrendered")
	out, err = h.git(nil, s, "push", "origin", "HEAD:refs/heads/drafts/nginx/first")
	if err == nil || !strings.Contains(out, strings.Replace(warning, "warning", "error", 1)) ||
		!strings.Contains(out, "pkgserver: refused: 1 validation error in the pushed packages") {
		t.Errorf("push of an unrendered package where rendered ones are required: %v\n%s", err, out)
	}
	if after := h.mustGit(nil, s, "ls-remote", url); after != before {
		t.Errorf("refs after a refused push:\n%s\nwant as before:\n%s", after, before)
	}

	// Rendered: no finding.
	commitFiles(s, map[string]string{"nginx/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\n  namespace: staging\ndata:\n  version: \"1\"\n"}, "nginx, rendered")
	out = h.mustGit(nil, s, "push", "origin", "HEAD:refs/heads/drafts/nginx/first")
	if strings.Contains(out, "render") || !strings.Contains(out, "pkgserver: validated 1 package: 0 errors, 0 warnings") {
		t.Errorf("push of a rendered package:\n%s", out)
	}

	// A function no built-in serves: not checked, accepted all the same.
	commitFiles(s, map[string]string{"nginx/Kptfile": unrenderedKptfile + "  validators:\n  - image: gcr.io/kpt-fn/kubeval:v0.3.0\n"}, "nginx, kubeval")
	out = h.mustGit(nil, s, "push", "origin", "HEAD:refs/heads/drafts/nginx/first")
	if !strings.Contains(out, "remote: nginx/Kptfile: warning: rendering not checked: ") || !strings.Contains(out, "kubeval") {
		t.Errorf("push of a pipeline the server cannot render:\n%s", out)
	}
}
