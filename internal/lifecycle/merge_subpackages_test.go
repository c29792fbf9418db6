package lifecycle

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// pkgFiles is a package's files as bytes, from gittest's text.
func pkgFiles(sets ...map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for _, s := range sets {
		for p, b := range s {
			out[p] = []byte(b)
		}
	}
	return out
}

// cm is a ConfigMap named name with the data given.
func cm(name, data string) []byte {
	return []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n" + data)
}

// A package and its subpackage each holding a ConfigMap of the same name
// are merged each on its own: an upstream change to one lands in it only,
// a local change to the other is kept.
func TestMergeSubpackageSameNames(t *testing.T) {
	kf := []byte(gittest.Kptfile("a"))
	subKf := []byte(gittest.Kptfile("sub"))
	o := map[string][]byte{"Kptfile": kf, "cm.yaml": cm("config", "  a: \"1\"\n"), "sub/Kptfile": subKf, "sub/cm.yaml": cm("config", "  b: \"1\"\n")}
	u := maps.Clone(o)
	u["sub/cm.yaml"] = cm("config", "  b: \"2\"\n")
	l := maps.Clone(o)
	l["cm.yaml"] = cm("config", "  a: \"1\"\n  local: \"yes\"\n")
	out, conflicts, err := mergeFiles(pkgv1alpha1.ResourceMerge, o, u, l)
	if err != nil || len(conflicts) > 0 {
		t.Fatalf("merge: %v %v", err, conflicts)
	}
	if got := string(out["sub/cm.yaml"]); !strings.Contains(got, `b: "2"`) || strings.Contains(got, "local") {
		t.Errorf("sub/cm.yaml:\n%s", got)
	}
	if got := string(out["cm.yaml"]); !strings.Contains(got, `local: "yes"`) || !strings.Contains(got, `a: "1"`) || strings.Contains(got, "b:") {
		t.Errorf("cm.yaml:\n%s", got)
	}
	if _, ok := out["Kptfile"]; ok {
		t.Error("the root Kptfile is the upgrade's to write")
	}
	if string(out["sub/Kptfile"]) != string(subKf) {
		t.Errorf("sub/Kptfile:\n%s", out["sub/Kptfile"])
	}
}

// The subpackage cases kpt's resource-merge decides without merging.
func TestMergeSubpackageCases(t *testing.T) {
	root := pkgFiles(gittest.Package(".", "1"))
	root = map[string][]byte{"Kptfile": root["./Kptfile"], "config.yaml": root["./config.yaml"]}
	with := func(base map[string][]byte, sets ...map[string]string) map[string][]byte {
		out := maps.Clone(base)
		maps.Copy(out, pkgFiles(sets...))
		return out
	}
	sub1, sub2 := gittest.Package("sub", "1"), gittest.Package("sub", "2")
	changed := gittest.Package("sub", "local")
	for _, tc := range []struct {
		name      string
		o, u, l   map[string][]byte
		want      string // sub/config.yaml's version, "" when the subpackage is gone
		conflicts int
	}{
		{"added upstream", root, with(root, sub1), root, `"1"`, 0},
		{"added here", root, root, with(root, sub1), `"1"`, 0},
		{"added both", root, with(root, sub1), with(root, sub2), `"2"`, 1},
		{"removed here", with(root, sub1), with(root, sub2), root, "", 0},
		{"removed upstream, unchanged here", with(root, sub1), root, with(root, sub1), "", 0},
		{"removed upstream, changed here", with(root, sub1), root, with(root, changed), `"local"`, 0},
		{"changed upstream", with(root, sub1), with(root, sub2), with(root, sub1), `"2"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, conflicts, err := mergeFiles(pkgv1alpha1.ResourceMerge, tc.o, tc.u, tc.l)
			if err != nil {
				t.Fatal(err)
			}
			if len(conflicts) != tc.conflicts {
				t.Errorf("conflicts %v, want %d", conflicts, tc.conflicts)
			}
			got, ok := out["sub/config.yaml"]
			switch {
			case tc.want == "" && ok:
				t.Errorf("the subpackage stayed: %s", got)
			case tc.want != "" && !strings.Contains(string(got), "version: "+tc.want):
				t.Errorf("sub/config.yaml:\n%s\nwant version %s", got, tc.want)
			}
			if _, kf := out["sub/Kptfile"]; kf != ok {
				t.Errorf("sub/Kptfile present %v, config %v", kf, ok)
			}
		})
	}
}

// A subpackage's Kptfile is merged three ways: a pipeline added upstream
// arrives, a label added here stays. A subpackage whose upstream was
// changed here (it was updated from its own upstream) is left as it is.
func TestMergeSubpackageKptfile(t *testing.T) {
	kf := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n"
	o := map[string][]byte{"Kptfile": []byte(kf), "sub/Kptfile": []byte(kf), "sub/cm.yaml": cm("x", "  a: \"1\"\n")}
	u := maps.Clone(o)
	u["sub/Kptfile"] = []byte(kf + "pipeline:\n  mutators:\n  - image: gcr.io/kpt-fn/set-namespace:v0.4.1\n    configMap:\n      namespace: prod\n")
	u["sub/cm.yaml"] = cm("x", "  a: \"2\"\n")
	l := maps.Clone(o)
	l["sub/Kptfile"] = []byte(strings.Replace(kf, "  name: sub\n", "  name: sub\n  labels:\n    team: web\n", 1))
	out, conflicts, err := mergeFiles(pkgv1alpha1.ResourceMerge, o, u, l)
	if err != nil || len(conflicts) > 0 {
		t.Fatalf("merge: %v %v", err, conflicts)
	}
	if got := string(out["sub/Kptfile"]); !strings.Contains(got, "team: web") || !strings.Contains(got, "set-namespace") {
		t.Errorf("sub/Kptfile:\n%s", got)
	}

	own := "upstream:\n  type: git\n  git:\n    repo: https://example.com/other\n    directory: /sub\n    ref: v2\n"
	l["sub/Kptfile"] = []byte(kf + own)
	o["sub/Kptfile"] = []byte(kf + strings.Replace(own, "v2", "v1", 1))
	out, conflicts, err = mergeFiles(pkgv1alpha1.ResourceMerge, o, u, l)
	if err != nil || len(conflicts) > 0 {
		t.Fatalf("merge: %v %v", err, conflicts)
	}
	if string(out["sub/Kptfile"]) != string(l["sub/Kptfile"]) || string(out["sub/cm.yaml"]) != string(l["sub/cm.yaml"]) {
		t.Errorf("a subpackage updated on its own was changed:\n%s\n%s", out["sub/Kptfile"], out["sub/cm.yaml"])
	}
	if diff := cmp.Diff([]string{"sub/Kptfile", "sub/cm.yaml"}, slices.Sorted(maps.Keys(out))); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// A conflict inside a subpackage names the file by its path in the
// package.
func TestMergeSubpackageConflictPath(t *testing.T) {
	o := map[string][]byte{"Kptfile": []byte(gittest.Kptfile("a")), "sub/Kptfile": []byte(gittest.Kptfile("sub")), "sub/cm.yaml": cm("x", "  a: \"1\"\n")}
	u, l := maps.Clone(o), maps.Clone(o)
	u["sub/cm.yaml"] = cm("x", "  a: \"2\"\n")
	l["sub/cm.yaml"] = cm("x", "  a: \"3\"\n")
	_, conflicts, err := mergeFiles(pkgv1alpha1.ResourceMerge, o, u, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) == 0 || conflicts[0].File == nil || conflicts[0].File.Path != "sub/cm.yaml" {
		t.Errorf("conflicts %+v", conflicts)
	}
}

// An upgrade of a clone carries its subpackage: the upstream's change to
// the subpackage arrives, the clone's change to its own resource stays.
func TestUpgradeCarriesSubpackage(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("a", "1")
	maps.Copy(files, gittest.Package("a/sub", "1"))
	w, _, bare := setupFilesWith(t, files, func(r *gittest.Repo) {
		r.Tag("a/v1", "HEAD", "")
		r.Write(map[string]string{"a/sub/config.yaml": strings.Replace(files["a/sub/config.yaml"], `"1"`, `"2"`, 1)})
		r.Commit("Change the subpackage")
		r.Tag("a/v2", "HEAD", "")
	})
	by := Author{Name: "ada"}
	publish := func(r *store.Revision) *store.Revision {
		t.Helper()
		r, _, err := w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, nil, by)
		if err != nil {
			t.Fatal(err)
		}
		if r, _, err = w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by); err != nil {
			t.Fatal(err)
		}
		return r
	}
	b, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "b", Workspace: "ws", CloneFrom: "blueprints.a.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Store.Resources(ctx, "default", b.Name)
	if err != nil {
		t.Fatal(err)
	}
	res["config.yaml"] = []byte(strings.Replace(string(res["config.yaml"]), "\ndata:\n", "\ndata:\n  local: \"yes\"\n", 1))
	if b, _, err = w.PutResources(ctx, "default", b.Name, b.ResourceVersion, res, by); err != nil {
		t.Fatalf("%v %+v", err, err.(*Invalid).Results)
	}
	b1 := publish(b)
	up, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "b", Workspace: "up",
		Upgrade: &Upgrade{OldUpstream: "blueprints.a.v1", NewUpstream: "blueprints.a.v2", Local: b1.Name}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "show", up.Ref+":b/sub/config.yaml"); !strings.Contains(got, `version: "2"`) {
		t.Errorf("the upgraded subpackage holds:\n%s", got)
	}
	if got := run(t, bare, "show", up.Ref+":b/config.yaml"); !strings.Contains(got, `local: "yes"`) || !strings.Contains(got, `version: "1"`) {
		t.Errorf("the upgraded package's own resource:\n%s", got)
	}
	if got := run(t, bare, "show", up.Ref+":b/Kptfile"); !strings.Contains(got, "ref: a/v2") {
		t.Errorf("the upgraded Kptfile:\n%s", got)
	}
}
