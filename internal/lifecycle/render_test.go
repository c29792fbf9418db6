package lifecycle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// kptfileWith is the Kptfile of package name with a pipeline of one
// mutator and the given annotations block (indented under metadata).
func kptfileWith(name, mutator, annotations string) string {
	return "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: " + name + "\n" + annotations +
		"pipeline:\n  mutators:\n" + mutator
}

const (
	setNamespace = "  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n    configMap:\n      namespace: staging\n"
	noRuntime    = "  - image: gcr.io/kpt-fn/kubeval:v0.3\n"
	pushAnyway   = "  annotations:\n    porch.kpt.dev/push-on-render-failure: \"true\"\n"
	configMap    = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n"
)

// Every write that makes a Draft's content renders it: a PUT of the
// resources commits them rendered; a pipeline that cannot run refuses the
// write and writes nothing, unless the Kptfile asks for Porch's
// push-on-render-failure, which commits the files as given and reports the
// failure as warnings.
func TestPutResourcesRenders(t *testing.T) {
	ctx := context.Background()
	w, _, bare := setupFiles(t, nil)
	var renders []bool
	w.Rendered = func(took time.Duration, ok bool) {
		if took <= 0 {
			t.Errorf("a render took %v", took)
		}
		renders = append(renders, ok)
	}
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "app", Workspace: "ws", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"Kptfile": []byte(kptfileWith("app", setNamespace, "")), "cm.yaml": []byte(configMap)}
	out, err := w.WriteResources(ctx, "default", r.Name, r.ResourceVersion, files, by)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "show", "drafts/app/ws:app/cm.yaml"); !strings.Contains(got, "namespace: staging") {
		t.Errorf("the committed resource is not rendered:\n%s", got)
	}
	if rd := out.Rendering; rd == nil || rd.Err != nil || rd.Results == nil || len(rd.Results.Items) != 1 ||
		rd.Results.Items[0].Image != "gcr.io/kpt-fn/set-namespace:v0.4.1" || rd.Results.ExitCode != 0 {
		t.Errorf("rendering: %+v", rd)
	}

	if len(renders) != 1 || !renders[0] {
		t.Errorf("renders observed: %v", renders)
	}

	// A pipeline that cannot run: refused, nothing written.
	r = out.Revision
	before := run(t, bare, "rev-parse", "drafts/app/ws")
	files["Kptfile"] = []byte(kptfileWith("app", noRuntime, ""))
	_, err = w.WriteResources(ctx, "default", r.Name, r.ResourceVersion, files, by)
	var inv *Invalid
	if !errors.As(err, &inv) || !strings.Contains(inv.Message, "do not render") || len(inv.Results) == 0 ||
		inv.Results[len(inv.Results)-1].Severity != result.Error {
		t.Fatalf("a pipeline that cannot run: %v", err)
	}
	if after := run(t, bare, "rev-parse", "drafts/app/ws"); after != before {
		t.Errorf("a refused render moved the draft")
	}
	if now, err := w.Store.GetRevision(ctx, "default", r.Name); err != nil || now.ResourceVersion != r.ResourceVersion {
		t.Errorf("a refused render changed the index: %v", err)
	}

	// With Porch's annotation: committed as given, the failure reported.
	files["Kptfile"] = []byte(kptfileWith("app", noRuntime, pushAnyway))
	files["cm.yaml"] = []byte(strings.Replace(configMap, "a: b", "a: c", 1))
	out, err = w.WriteResources(ctx, "default", r.Name, r.ResourceVersion, files, by)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "show", "drafts/app/ws:app/cm.yaml"); got != strings.TrimSpace(string(files["cm.yaml"])) {
		t.Errorf("not committed as given:\n%s", got)
	}
	if out.Rendering == nil || out.Rendering.Err == nil || out.Rendering.Results.ExitCode != 1 {
		t.Errorf("the failure is not reported: %+v", out.Rendering)
	}
	warned := false
	for _, res := range out.Warnings {
		warned = warned || (res.Severity == result.Warning && strings.Contains(res.Message, "kubeval"))
	}
	if !warned {
		t.Errorf("no warning of the failed render: %+v", out.Warnings)
	}
}

// A clone of a package with a pipeline is committed rendered, and a dry
// run renders as the write does, writing nothing.
func TestCloneRenders(t *testing.T) {
	ctx := context.Background()
	files := map[string]string{"app/Kptfile": kptfileWith("app", setNamespace, ""), "app/cm.yaml": configMap}
	w, _, bare := setupFilesWith(t, files, func(r *gittest.Repo) { r.Tag("app/v1", "HEAD", "") })
	by := Author{Name: "ada"}
	refs := run(t, bare, "for-each-ref")
	dry, _, err := w.DryRun().Create(ctx, "default", Create{Repository: "blueprints", Package: "copy", Workspace: "ws", CloneFrom: "blueprints.app.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	if run(t, bare, "for-each-ref") != refs {
		t.Errorf("a dry run wrote refs")
	}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "copy", Workspace: "ws", CloneFrom: "blueprints.app.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "show", "drafts/copy/ws:copy/cm.yaml"); !strings.Contains(got, "namespace: staging") {
		t.Errorf("the clone is not rendered:\n%s", got)
	}
	if dry.Tree != r.Tree {
		t.Errorf("the dry run's tree %s is not the write's %s", dry.Tree, r.Tree)
	}

	// A package whose pipeline fails cannot be cloned; nothing is written.
	w2, _, bare2 := setupFilesWith(t, map[string]string{"bad/Kptfile": kptfileWith("bad", noRuntime, ""), "bad/cm.yaml": configMap},
		func(r *gittest.Repo) { r.Tag("bad/v1", "HEAD", "") })
	refs = run(t, bare2, "for-each-ref")
	_, _, err = w2.Create(ctx, "default", Create{Repository: "blueprints", Package: "copy", Workspace: "ws", CloneFrom: "blueprints.bad.v1"}, by)
	var inv *Invalid
	if !errors.As(err, &inv) || !strings.Contains(inv.Message, "does not render") {
		t.Fatalf("a clone whose pipeline fails: %v", err)
	}
	if run(t, bare2, "for-each-ref") != refs {
		t.Errorf("a refused clone wrote refs")
	}
}

// Exec functions run only where the server allows them.
func TestRenderExecRefused(t *testing.T) {
	ctx := context.Background()
	w, _, _ := setupFiles(t, nil)
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "app", Workspace: "ws", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"Kptfile": []byte(kptfileWith("app", "  - exec: ./fn.sh\n", "")), "cm.yaml": []byte(configMap)}
	_, err = w.WriteResources(ctx, "default", r.Name, r.ResourceVersion, files, by)
	var inv *Invalid
	if !errors.As(err, &inv) || !strings.Contains(inv.Message, "exec") {
		t.Fatalf("an exec function, not allowed: %v", err)
	}
}

// An upgrade commits the merged package rendered: a resource the new
// upstream adds gets what the pipeline sets.
func TestUpgradeRenders(t *testing.T) {
	ctx := context.Background()
	setLabels := "  - image: gcr.io/kpt-fn/set-labels:v0.2.0\n    configMap:\n      team: web\n"
	files := map[string]string{"app/Kptfile": kptfileWith("app", setLabels, ""), "app/cm.yaml": configMap}
	w, _, bare := setupFilesWith(t, files, func(r *gittest.Repo) {
		r.Tag("app/v1", "HEAD", "")
		r.Write(map[string]string{"app/more.yaml": strings.Replace(configMap, "name: cm", "name: more", 1)})
		r.Commit("another resource")
		r.Tag("app/v2", "HEAD", "")
	})
	by := Author{Name: "ada"}
	local, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "copy", Workspace: "ws", CloneFrom: "blueprints.app.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	if local, _, err = w.Update(ctx, "default", local.Name, local.ResourceVersion, revision.Proposed, nil, by); err != nil {
		t.Fatal(err)
	}
	if local, _, err = w.Approval(ctx, "default", local.Name, local.ResourceVersion, revision.Published, by); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "copy", Workspace: "up",
		Upgrade: &Upgrade{OldUpstream: "blueprints.app.v1", NewUpstream: "blueprints.app.v2", Local: local.Name}}, by); err != nil {
		t.Fatalf("%v %+v", err, err.(*Invalid).Results)
	}
	if got := run(t, bare, "show", "drafts/copy/up:copy/more.yaml"); !strings.Contains(got, "team: web") {
		t.Errorf("the upgrade is not rendered:\n%s", got)
	}
}
