package api_test

import (
	"net/http"
	"strings"
	"testing"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// TestUpgradeStrategies: the strategies of an upgrade, with Porch's
// meanings. The local package changed the replicas and added a file; the
// upstream changed the image, then the replicas too.
func TestUpgradeStrategies(t *testing.T) {
	h := start(t)
	h.hosted("catalog")
	deploy := h.hosted("deploy")
	v1 := h.publishNew("catalog", "nginx", "first", map[string]string{"deployment.yaml": deployment})
	clone := func(pkg string, edit func(map[string]string)) pkgv1alpha1.PackageRevision {
		t.Helper()
		var local pkgv1alpha1.PackageRevision
		h.write(http.MethodPost, revsPath, newRevision("deploy", pkg, "prod",
			pkgv1alpha1.Task{Type: "clone", Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: &pkgv1alpha1.PackageRevisionRef{Name: v1.Name}}}), 201, &local)
		return h.publishDraft(local, edit)
	}
	edited := clone("nginx", func(r map[string]string) {
		r["deployment.yaml"] = strings.Replace(r["deployment.yaml"], "replicas: 3", "replicas: 5", 1)
		r["local.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\ndata:\n  a: b\n"
	})
	untouched := clone("plain", nil)
	v2 := h.editAndPublish(v1, "newer", func(r map[string]string) {
		r["deployment.yaml"] = strings.Replace(r["deployment.yaml"], "nginx:1.27", "nginx:1.28", 1)
		r["deployment.yaml"] = strings.Replace(r["deployment.yaml"], "replicas: 3", "replicas: 4", 1)
	})
	upgrade := func(local pkgv1alpha1.PackageRevision, ws, strategy string) (int, []byte) {
		task := upgradeTask(v1.Name, v2.Name, local.Name)
		task.Upgrade.Strategy = strategy
		return h.do(http.MethodPost, revsPath, "writer", newRevision("deploy", local.Spec.PackageName, ws, task))
	}
	show := func(ref, path string) string { return git(t, deploy, "show", ref+":"+path) }

	// resource-merge, the default: both sides changed the replicas.
	refs := git(t, deploy, "for-each-ref")
	code, body := upgrade(edited, "merge", "")
	if st := h.status(code, body, 422); !strings.Contains(st.Message, "conflicts") {
		t.Errorf("resource-merge: %s", st.Message)
	}

	// fast-forward refuses a package changed since its lock, naming what changed.
	code, body = upgrade(edited, "ff", pkgv1alpha1.FastForward)
	if st := h.status(code, body, 422); !strings.Contains(st.Message, "changed since its upstream lock") ||
		!strings.Contains(st.Message, "deployment.yaml") || !strings.Contains(st.Message, "local.yaml") {
		t.Errorf("fast-forward of a changed package: %s", st.Message)
	}
	// An unknown strategy is refused.
	code, body = upgrade(edited, "rebase", "rebase")
	if st := h.status(code, body, 422); !strings.Contains(st.Message, `"rebase" is not one of`) {
		t.Errorf("unknown strategy: %s", st.Message)
	}
	if git(t, deploy, "for-each-ref") != refs {
		t.Errorf("refused upgrades changed refs")
	}

	// copy-merge: upstream files over local ones, the local-only file kept.
	code, body = upgrade(edited, "copy", pkgv1alpha1.CopyMerge)
	if code != 201 {
		t.Fatalf("copy-merge: %d %s", code, body)
	}
	if d := show("drafts/nginx/copy", "nginx/deployment.yaml"); !strings.Contains(d, "replicas: 4") || !strings.Contains(d, "nginx:1.28") {
		t.Errorf("copy-merge deployment:\n%s", d)
	}
	if !strings.Contains(show("drafts/nginx/copy", "nginx/local.yaml"), "name: local") {
		t.Errorf("copy-merge dropped the local-only file")
	}
	if kf := show("drafts/nginx/copy", "nginx/Kptfile"); !strings.Contains(kf, "updateStrategy: copy-merge") || !strings.Contains(kf, "ref: nginx/v2") {
		t.Errorf("copy-merge Kptfile:\n%s", kf)
	}

	// force-delete-replace: the upstream package as it is.
	code, body = upgrade(edited, "replace", pkgv1alpha1.ForceDeleteReplace)
	if code != 201 {
		t.Fatalf("force-delete-replace: %d %s", code, body)
	}
	if d := show("drafts/nginx/replace", "nginx/deployment.yaml"); !strings.Contains(d, "replicas: 4") {
		t.Errorf("force-delete-replace deployment:\n%s", d)
	}
	if files := git(t, deploy, "ls-tree", "--name-only", "drafts/nginx/replace:nginx"); strings.Contains(files, "local.yaml") {
		t.Errorf("force-delete-replace kept the local file: %s", files)
	}
	if kf := show("drafts/nginx/replace", "nginx/Kptfile"); !strings.Contains(kf, "name: nginx") || !strings.Contains(kf, "updateStrategy: force-delete-replace") {
		t.Errorf("force-delete-replace Kptfile:\n%s", kf)
	}

	// fast-forward of a package unchanged since its lock: the upstream one.
	code, body = upgrade(untouched, "ff", pkgv1alpha1.FastForward)
	if code != 201 {
		t.Fatalf("fast-forward: %d %s", code, body)
	}
	if d := show("drafts/plain/ff", "plain/deployment.yaml"); !strings.Contains(d, "replicas: 4") || !strings.Contains(d, "nginx:1.28") {
		t.Errorf("fast-forward deployment:\n%s", d)
	}
	if kf := show("drafts/plain/ff", "plain/Kptfile"); !strings.Contains(kf, "name: plain") || !strings.Contains(kf, "updateStrategy: fast-forward") {
		t.Errorf("fast-forward Kptfile:\n%s", kf)
	}
}
