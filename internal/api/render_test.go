package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/server"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

const (
	setNamespaceFn = "  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n    configMap:\n      namespace: staging\n"
	emptyLabelsFn  = "  - image: gcr.io/kpt-fn/set-labels:v0.2.0\n    configMap: {}\n"
	noRuntimeFn    = "  - image: gcr.io/kpt-fn/kubeval:v0.3\n"
	pushOnFailure  = "  annotations:\n    porch.kpt.dev/push-on-render-failure: \"true\"\n"
	renderedCM     = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n"
)

// pipelineKptfile is the Kptfile of package name with the given
// annotations (indented under metadata) and mutators.
func pipelineKptfile(name, annotations, mutators string) string {
	return "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: " + name + "\n" + annotations + "pipeline:\n  mutators:\n" + mutators
}

// draftState is where a draft is: its branch's commit and its resource
// version.
func (h *harness) draftState(dir, ref, name string) string {
	h.t.Helper()
	return git(h.t, dir, "rev-parse", ref) + " " + h.revision(name).ResourceVersion
}

// putFiles sends a draft's resources with the given files and returns the
// status code and body.
func (h *harness) putFiles(path, name string, files map[string]string) (int, []byte) {
	h.t.Helper()
	var res pkgv1alpha1.PackageRevisionResources
	h.get(resPath+"/"+name, "reader", &res)
	res.Spec.Resources = files
	return h.do(http.MethodPut, path, "writer", res)
}

// TestRenderOnPut: a PUT of a draft's resources commits them rendered and
// answers the render's results in status.renderStatus; a pipeline that
// fails, or that cannot run here, is 422 with the results as causes, and
// nothing is written; Porch's push-on-render-failure commits the files as
// given, the failure reported; a dry run renders and writes nothing.
func TestRenderOnPut(t *testing.T) {
	h := start(t)
	dir := h.hosted("deploy")
	var pr pkgv1alpha1.PackageRevision
	h.write(http.MethodPost, revsPath, newRevision("deploy", "app", "ws", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
	ref := "drafts/app/ws"

	code, body := h.putFiles(resPath+"/"+pr.Name, pr.Name, map[string]string{"Kptfile": pipelineKptfile("app", "", setNamespaceFn), "cm.yaml": renderedCM})
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	var out pkgv1alpha1.PackageRevisionResources
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "show", ref+":app/cm.yaml"); !strings.Contains(got, "namespace: staging") {
		t.Errorf("committed unrendered:\n%s", got)
	}
	if !strings.Contains(out.Spec.Resources["cm.yaml"], "namespace: staging") {
		t.Errorf("the answer's resources are not rendered:\n%s", out.Spec.Resources["cm.yaml"])
	}
	if out.Status == nil || out.Status.RenderStatus == nil {
		t.Fatalf("no renderStatus: %s", body)
	}
	rs := out.Status.RenderStatus
	if rs.Err != "" || rs.Result.Kind != "FunctionResultList" || rs.Result.ExitCode != 0 || len(rs.Result.Items) != 1 ||
		rs.Result.Items[0].Image != "gcr.io/kpt-fn/set-namespace:v0.4.1" {
		t.Errorf("renderStatus: %+v", rs)
	}
	if !strings.Contains(string(body), `"renderStatus":{"result":{"kind":"FunctionResultList","apiVersion":"kpt.dev/v1"`) {
		t.Errorf("renderStatus is not Porch's shape: %s", body)
	}

	// Failing pipelines: 422 with the results as causes, nothing written.
	before := h.draftState(dir, ref, pr.Name)
	for fn, says := range map[string]string{emptyLabelsFn: "set-labels", noRuntimeFn: "kubeval"} {
		code, body = h.putFiles(resPath+"/"+pr.Name, pr.Name, map[string]string{"Kptfile": pipelineKptfile("app", "", fn), "cm.yaml": renderedCM})
		st := h.status(code, body, 422)
		if !strings.Contains(st.Message, "do not render") || st.Details == nil || len(st.Details.Causes) == 0 ||
			!strings.Contains(st.Details.Causes[len(st.Details.Causes)-1].Message, says) {
			t.Errorf("%s: %s %+v", fn, st.Message, st.Details)
		}
		if after := h.draftState(dir, ref, pr.Name); after != before {
			t.Errorf("%s: a refused render moved the draft: %s → %s", fn, before, after)
		}
	}

	// A dry run renders and writes nothing.
	changed := strings.Replace(renderedCM, "a: b", "a: c", 1)
	code, body = h.putFiles(withQuery(resPath+"/"+pr.Name, "dryRun=All"), pr.Name, map[string]string{"Kptfile": pipelineKptfile("app", "", setNamespaceFn), "cm.yaml": changed})
	if code != 200 || !strings.Contains(string(body), `namespace: staging\n`) || !strings.Contains(string(body), `a: c`) || !strings.Contains(string(body), "renderStatus") {
		t.Errorf("dry run: %d %s", code, body)
	}
	if after := h.draftState(dir, ref, pr.Name); after != before {
		t.Errorf("a dry run moved the draft: %s → %s", before, after)
	}

	// Porch's annotation: committed as given, the failure reported.
	kf := pipelineKptfile("app", pushOnFailure, noRuntimeFn)
	code, body = h.putFiles(resPath+"/"+pr.Name, pr.Name, map[string]string{"Kptfile": kf, "cm.yaml": changed})
	if code != 200 {
		t.Fatalf("PUT with push-on-render-failure: %d %s", code, body)
	}
	out = pkgv1alpha1.PackageRevisionResources{}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "show", ref+":app/cm.yaml"); got != strings.TrimSpace(changed) {
		t.Errorf("not committed as given:\n%s", got)
	}
	if out.Status == nil || out.Status.RenderStatus == nil || out.Status.RenderStatus.Err == "" || out.Status.RenderStatus.Result.ExitCode != 1 {
		t.Fatalf("the failure is not reported: %s", body)
	}
	warned := false
	for _, r := range out.Status.Results {
		warned = warned || (r.Severity == "warning" && strings.Contains(r.Message, "kubeval"))
	}
	if !warned {
		t.Errorf("no warning of the failed render: %+v", out.Status.Results)
	}
}

// TestRenderOnClone: a clone of a package with a pipeline is committed
// rendered; one whose pipeline fails is refused and nothing is written.
func TestRenderOnClone(t *testing.T) {
	h := start(t)
	g := gittest.New(t)
	g.Write(map[string]string{
		"app/Kptfile": pipelineKptfile("app", "", setNamespaceFn), "app/cm.yaml": renderedCM,
		"bad/Kptfile": pipelineKptfile("bad", "", noRuntimeFn), "bad/cm.yaml": renderedCM,
		"soft/Kptfile": pipelineKptfile("soft", pushOnFailure, noRuntimeFn), "soft/cm.yaml": renderedCM,
	})
	g.Commit("packages, not rendered")
	for _, pkg := range []string{"app", "bad", "soft"} {
		g.Tag(pkg+"/v1", "HEAD", "")
	}
	h.addRepo("catalog", g.Dir)
	deploy := h.hosted("deploy")
	clone := func(pkg, from string) (int, []byte) {
		return h.do(http.MethodPost, revsPath, "writer", newRevision("deploy", pkg, "ws",
			pkgv1alpha1.Task{Type: "clone", Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: &pkgv1alpha1.PackageRevisionRef{Name: from}}}))
	}
	if code, body := clone("app", "catalog.app.v1"); code != 201 {
		t.Fatalf("clone: %d %s", code, body)
	}
	if got := git(t, deploy, "show", "drafts/app/ws:app/cm.yaml"); !strings.Contains(got, "namespace: staging") {
		t.Errorf("the clone is not rendered:\n%s", got)
	}
	refs := git(t, deploy, "for-each-ref")
	code, body := clone("bad", "catalog.bad.v1")
	if st := h.status(code, body, 422); !strings.Contains(st.Message, "does not render") {
		t.Errorf("clone of a package whose pipeline cannot run: %s", st.Message)
	}
	if git(t, deploy, "for-each-ref") != refs {
		t.Errorf("a refused clone wrote refs")
	}

	// With Porch's annotation: cloned as it is, the failure told in a
	// Warning header.
	code, header, body := h.doHeader(http.MethodPost, revsPath, "writer", newRevision("deploy", "soft", "ws",
		pkgv1alpha1.Task{Type: "clone", Clone: &pkgv1alpha1.CloneTaskSpec{UpstreamRef: &pkgv1alpha1.PackageRevisionRef{Name: "catalog.soft.v1"}}}))
	if code != 201 || !strings.Contains(header.Get("Warning"), "does not render") {
		t.Errorf("clone with push-on-render-failure: %d %v %s", code, header, body)
	}
	if got := git(t, deploy, "show", "drafts/soft/ws:soft/cm.yaml"); got != strings.TrimSpace(renderedCM) {
		t.Errorf("not cloned as it is:\n%s", got)
	}
}

// TestRenderExec: exec functions run only where serve allows them
// (--allow-exec-functions), for at most --exec-function-timeout.
func TestRenderExec(t *testing.T) {
	files := func(exec string) map[string]string {
		return map[string]string{"Kptfile": pipelineKptfile("app", "", "  - exec: "+exec+"\n"), "cm.yaml": renderedCM}
	}
	for _, allow := range []bool{false, true} {
		h := startWith(t, func(c *server.Config) { c.Render.AllowExec, c.Render.ExecTimeout = allow, 2*time.Second })
		dir := h.hosted("deploy")
		var pr pkgv1alpha1.PackageRevision
		h.write(http.MethodPost, revsPath, newRevision("deploy", "app", "ws", pkgv1alpha1.Task{Type: "init"}), 201, &pr)
		code, body := h.putFiles(resPath+"/"+pr.Name, pr.Name, files(`'sed "s/a: b/a: z/"'`))
		if !allow {
			if st := h.status(code, body, 422); !strings.Contains(st.Message, "not allowed") {
				t.Errorf("an exec function, not allowed: %s", st.Message)
			}
			continue
		}
		if code != 200 {
			t.Fatalf("an exec function, allowed: %d %s", code, body)
		}
		if got := git(t, dir, "show", "drafts/app/ws:app/cm.yaml"); !strings.Contains(got, "a: z") {
			t.Errorf("the exec function's output is not committed:\n%s", got)
		}
		code, body = h.putFiles(resPath+"/"+pr.Name, pr.Name, files("sleep 10"))
		if st := h.status(code, body, 422); !strings.Contains(st.Message, "did not finish") {
			t.Errorf("an exec function past its time: %s", st.Message)
		}
	}
}
