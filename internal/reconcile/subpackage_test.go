package reconcile

import (
	"context"
	"database/sql"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// subpackageRepo is a repository whose package parent holds the subpackage
// parent/sub: published at a tag and on the branch, edited in a draft (the
// subpackage changed) and in a proposal (a file added to the subpackage).
func subpackageRepo(t *testing.T) *gittest.Repo {
	r := gittest.New(t)
	files := gittest.Package("parent", "1")
	maps.Copy(files, gittest.Package("parent/sub", "1"))
	r.Write(files)
	c := r.Commit("Add parent with its subpackage")
	r.Tag("parent/v1", c, "")
	r.Checkout("-b", "drafts/parent/edit")
	r.Write(gittest.Package("parent/sub", "2"))
	r.Commit("Edit the subpackage")
	r.Checkout("main")
	r.Checkout("-b", "proposed/parent/more")
	r.Write(map[string]string{"parent/sub/more.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: more\n"})
	r.Commit("Add to the subpackage")
	r.Checkout("main")
	return r
}

// TestSubpackageIsContent: a package holding a subpackage is listed at its
// tag, on the branch, as a draft and as a proposal, each with the
// subpackage's files among its resources; the subpackage is no package of
// its own and no problem, and a ref naming it is one.
func TestSubpackageIsContent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	repo := subpackageRepo(t)
	// A tag naming the subpackage names no package of the index.
	repo.Tag("parent/sub/v1", "main", "")
	res, err := register(t, s, repo, "r").Sync(ctx, "default", "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 1 || res.Problems[0].Ref != "refs/tags/parent/sub/v1" ||
		!strings.Contains(res.Problems[0].Message, "parent/sub is a subpackage of parent") {
		t.Errorf("problems: %v", res.Problems)
	}
	got := map[string]revision.Lifecycle{}
	for name, r := range indexed(t, s) {
		got[name] = r.Lifecycle
	}
	want := map[string]revision.Lifecycle{"r.parent.v1": revision.Published, "r.parent.main": revision.Published,
		"r.parent.edit": revision.Draft, "r.parent.more": revision.Proposed}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("revisions (-want +got):\n%s", diff)
	}
	for name, files := range map[string][]string{
		"r.parent.v1":   {"Kptfile", "config.yaml", "sub/Kptfile", "sub/config.yaml"},
		"r.parent.main": {"Kptfile", "config.yaml", "sub/Kptfile", "sub/config.yaml"},
		"r.parent.edit": {"Kptfile", "config.yaml", "sub/Kptfile", "sub/config.yaml"},
		"r.parent.more": {"Kptfile", "config.yaml", "sub/Kptfile", "sub/config.yaml", "sub/more.yaml"},
	} {
		res, err := s.Resources(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(files, slices.Sorted(maps.Keys(res))); diff != "" {
			t.Errorf("resources of %s (-want +got):\n%s", name, diff)
		}
		if v := `"2"`; name == "r.parent.edit" && !strings.Contains(string(res["sub/config.yaml"]), v) {
			t.Errorf("the draft's subpackage holds %s", res["sub/config.yaml"])
		}
	}
}

// TestSubpackagesAfterUpgrade opens an index as a version that judged a
// subpackage a nested package left it — the refs of the parent and its
// package on the branch with that problem, no revision of it, its trees not
// held — and syncs: the parent's revisions come back, as a fresh index
// derives them, with no step but the sync the scheduler then runs.
func TestSubpackagesAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	rec := register(t, s, subpackageRepo(t), "r")
	if _, err := rec.Sync(ctx, "default", "r"); err != nil {
		t.Fatal(err)
	}
	want := indexed(t, s)
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	const nested = "nested package: a Kptfile below the package root (sub/Kptfile)"
	for _, q := range []string{
		`DELETE FROM trees WHERE id IN (SELECT tree_id FROM revisions WHERE package = 'parent')`,
		`DELETE FROM revisions WHERE package = 'parent'`,
		`UPDATE refs SET problem = '` + nested + `' WHERE package = 'parent' AND kind <> 1`,
		`UPDATE branch_packages SET problem = '` + nested + `' WHERE package = 'parent'`,
		`INSERT INTO problems (repository_id, package, ref, message) SELECT repository_id, package, name, problem FROM refs WHERE package = 'parent'`,
		`DELETE FROM schema_migrations WHERE version = 11`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err = sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := indexed(t, s); len(got) != 0 {
		t.Fatalf("before the sync, the index holds %v", slices.Sorted(maps.Keys(got)))
	}
	repo, err := s.GetRepository(ctx, "default", "r")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.RefsHash(ctx, repo.ID); err != nil || h != "" {
		t.Errorf("the upgraded index keeps the digest of refs %q (%v): the scheduler would not sync", h, err)
	}
	res, err := New(s, &GitSource{}, quiet()).Sync(ctx, "default", "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 0 {
		t.Errorf("problems after the sync: %v", res.Problems)
	}
	if diff := cmp.Diff(want, indexed(t, s)); diff != "" {
		t.Errorf("after the upgrade and a sync (-fresh +upgraded):\n%s", diff)
	}
}
