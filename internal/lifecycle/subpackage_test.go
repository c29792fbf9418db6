package lifecycle

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

// A subpackage is content of its package: a copy's resources hold its
// files, an update of them carrying its Kptfile is accepted, and a clone
// carries it, its Kptfile as it was (only the package's own names the
// clone's upstream).
func TestSubpackageCarried(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("a", "1")
	maps.Copy(files, gittest.Package("a/sub", "1"))
	w, st, bare := setupFilesWith(t, files, func(r *gittest.Repo) { r.Tag("a/v1", "HEAD", "") })
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "a", Workspace: "ws", CopyFrom: "blueprints.a.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Resources(ctx, "default", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Kptfile", "config.yaml", "sub/Kptfile", "sub/config.yaml"}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(res))); diff != "" {
		t.Fatalf("resources of the copy (-want +got):\n%s", diff)
	}
	res["sub/config.yaml"] = []byte(strings.Replace(string(res["sub/config.yaml"]), `"1"`, `"2"`, 1))
	if _, _, err := w.PutResources(ctx, "default", r.Name, r.ResourceVersion, res, by); err != nil {
		t.Fatalf("an update of the resources with the subpackage: %v", err)
	}
	if got := run(t, bare, "show", "drafts/a/ws:a/sub/config.yaml"); !strings.Contains(got, `"2"`) {
		t.Errorf("after PutResources, the subpackage holds %s", got)
	}
	if _, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "b", Workspace: "ws", CloneFrom: "blueprints.a.v1"}, by); err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "ls-tree", "-r", "--name-only", "drafts/b/ws", "b"); got != "b/Kptfile\nb/config.yaml\nb/sub/Kptfile\nb/sub/config.yaml" {
		t.Errorf("the clone holds:\n%s", got)
	}
	if got, want := run(t, bare, "show", "drafts/b/ws:b/sub/Kptfile"), strings.TrimSpace(files["a/sub/Kptfile"]); got != want {
		t.Errorf("the clone's subpackage Kptfile:\n%s\nwant\n%s", got, want)
	}
	if got := run(t, bare, "show", "drafts/b/ws:b/Kptfile"); !strings.Contains(got, "upstreamLock:") {
		t.Errorf("the clone's Kptfile has no upstream:\n%s", got)
	}
}
