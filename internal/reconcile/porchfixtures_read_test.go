package reconcile

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// porchKey is a package revision as Porch's git_test.go identifies it:
// package name (relative to the registered directory), revision number (0
// for drafts and proposals, -1 for the package on the registered branch),
// workspace name, lifecycle.
type porchKey struct {
	Package   string
	Revision  int
	Workspace string
	Lifecycle revision.Lifecycle
}

// porchView reads pkgserver's revisions as Porch's keys. The one mapping
// is pkgserver's own rule: the branch revision's workspace is the branch
// name made a label ("nested/release" → "nested-release"), where Porch
// keeps the branch name, which pkgserver reports as its revision.
func porchView(cfg revision.Config, revs []revision.Revision) map[porchKey]bool {
	out := map[porchKey]bool{}
	for _, r := range revs {
		k := porchKey{Package: r.Package, Workspace: r.Workspace, Lifecycle: r.Lifecycle}
		switch {
		case r.Ref == revision.BranchesPrefix+cfg.Branch:
			k.Revision, k.Workspace = -1, r.Revision
		case r.Number > 0:
			k.Revision = r.Number
		}
		out[k] = true
	}
	return out
}

func keys(ks ...porchKey) map[porchKey]bool {
	out := map[porchKey]bool{}
	for _, k := range ks {
		out[k] = true
	}
	return out
}

func published(pkg string, n int) porchKey {
	return porchKey{pkg, n, fmt.Sprint("v", n), revision.Published}
}

func draft(pkg, ws string) porchKey { return porchKey{pkg, 0, ws, revision.Draft} }

func onBranch(branch string, pkgs ...string) []porchKey {
	var out []porchKey
	for _, p := range pkgs {
		out = append(out, porchKey{p, -1, branch, revision.Published})
	}
	return out
}

// readFixture reads a repository as pkgserver does, previewed from git and
// indexed through the reconciler, checks that both agree, and returns the
// preview.
func readFixture(t *testing.T, f *fixture, cfg revision.Config) ([]revision.Revision, []revision.Problem) {
	t.Helper()
	ctx := context.Background()
	g, err := gitrepo.Open(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	revs, problems, err := Preview(ctx, g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	repo := storetest.NewRepository("default", cfg.Repository)
	repo.Object.Spec.Git.URL, repo.Object.Spec.Git.Branch, repo.Object.Spec.Git.Directory = f.Dir, cfg.Branch, cfg.Directory
	if err := s.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	if _, err := New(s, &GitSource{}, quiet()).Sync(ctx, "default", cfg.Repository); err != nil {
		t.Fatal(err)
	}
	stored := indexed(t, s)
	for _, r := range revs {
		got, ok := stored[r.Name]
		if !ok {
			t.Errorf("%s previewed, not indexed", r.Name)
			continue
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("%s indexed differs from its preview (-preview +index):\n%s", r.Name, diff)
		}
	}
	if len(stored) != len(revs) {
		t.Errorf("indexed %d revisions, previewed %d", len(stored), len(revs))
	}
	return revs, problems
}

// TestPorchFixtures: repositories laid out as Porch's own test fixtures
// (porchfixtures_test.go) are read as Porch's tests read them — the same
// packages, revisions, workspaces and lifecycles — plus pkgserver's branch
// revisions' names and latest labels; where pkgserver differs by a rule of
// its own, the case says which (docs/index.md, "Porch's test repositories,
// as pkgserver reads them").
func TestPorchFixtures(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func(*testing.T) *fixture
		cfg   revision.Config
		// porch is what Porch's test lists (nephio-project/porch's
		// git_test.go; TestNested's main-branch revisions, which it skips,
		// added as the other tests list them).
		porch map[porchKey]bool
		// latest are the revisions pkgserver labels latest; problems the
		// refs it reports.
		latest   []string
		problems []string
	}{
		{name: "empty", build: emptyRepo, cfg: revision.Config{Repository: "empty", Directory: "/", Branch: "main"}, porch: keys()},
		{name: "trivial", build: trivialRepo, cfg: revision.Config{Repository: "trivial", Directory: "/", Branch: "main"}, porch: keys()},
		{name: "simple", build: func(t *testing.T) *fixture { f, _ := simpleRepo(t); return f },
			cfg: revision.Config{Repository: "simple", Directory: "/", Branch: "main"},
			porch: keys(append(onBranch("main", "empty", "basens", "istions"),
				published("empty", 1), published("basens", 1), published("basens", 2), published("istions", 1), published("istions", 2))...),
			latest: []string{"simple.basens.v2", "simple.empty.v1", "simple.istions.v2"}},
		{name: "drafts", build: draftsRepo, cfg: revision.Config{Repository: "drafts", Directory: "/", Branch: "main"},
			porch: keys(append(onBranch("main", "empty", "basens", "istions"),
				published("empty", 1), published("basens", 1), published("basens", 2), published("istions", 1), published("istions", 2),
				draft("bucket", "v1"), draft("none", "v1"), draft("pkg-with-history", "v1"))...),
			latest: []string{"drafts.basens.v2", "drafts.empty.v1", "drafts.istions.v2"}},
		{name: "nested", build: nestedRepo, cfg: revision.Config{Repository: "nested", Directory: "/", Branch: "main"},
			porch: keys(append(onBranch("main", "sample", "catalog/empty", "catalog/namespace/basens", "catalog/namespace/istions", "catalog/gcp/bucket"),
				published("sample", 1), published("sample", 2), published("catalog/empty", 1),
				published("catalog/namespace/basens", 1), published("catalog/namespace/basens", 2), published("catalog/namespace/basens", 3),
				published("catalog/namespace/istions", 1), published("catalog/namespace/istions", 2), published("catalog/namespace/istions", 3),
				published("catalog/gcp/bucket", 1), draft("catalog/gcp/bucket", "v2"),
				draft("catalog/gcp/cloud-sql", "v1"), draft("catalog/gcp/spanner", "v1"))...),
			latest: []string{"nested.catalog.empty.v1", "nested.catalog.gcp.bucket.v1", "nested.catalog.namespace.basens.v3",
				"nested.catalog.namespace.istions.v3", "nested.sample.v2"}},
		// TestNestedDirectories: packages are named below the directory.
		{name: "nested/catalog-gcp", build: nestedRepo, cfg: revision.Config{Repository: "directory", Directory: "catalog/gcp", Branch: "main"},
			porch: keys(append(onBranch("main", "bucket"),
				published("bucket", 1), draft("bucket", "v2"), draft("cloud-sql", "v1"), draft("spanner", "v1"))...),
			latest: []string{"directory.bucket.v1"}},
		// The kpt-era test registered the directory "sample", which is the
		// package: Porch listed sample/v1, sample/v2, sample/main. A
		// Kptfile at the registered directory itself is a problem to
		// pkgserver (a package has a path below the directory).
		{name: "nested/sample", build: nestedRepo, cfg: revision.Config{Repository: "directory", Directory: "sample", Branch: "main"},
			porch: keys(), problems: []string{"refs/heads/main"}},
		{name: "nested/nonexistent", build: nestedRepo, cfg: revision.Config{Repository: "directory", Directory: "nonexistent", Branch: "main"},
			porch: keys()},
		{name: "manually-tagged", build: manuallyTaggedRepo, cfg: revision.Config{Repository: "blueprint", Branch: "main"},
			porch:  keys(append(onBranch("main", "pkg"), published("pkg", 1), published("pkg", 2))...),
			latest: []string{"blueprint.pkg.v2"}},
		// bp1/v2's commit carries an invalid kpt: line: Porch now logs it
		// and names the revision v2 (older versions failed on it), as
		// pkgserver, which skips a kpt: line it cannot read.
		{name: "invalid-annotation/blueprint", build: invalidAnnotationRepo,
			cfg: revision.Config{Repository: "blueprint", Directory: "blueprint", Branch: "main"},
			porch: keys(append(onBranch("main", "bp1", "bp2"),
				published("bp1", 1), published("bp1", 2), published("bp1", 3), published("bp2", 1), published("bp2", 2))...),
			latest: []string{"blueprint.bp1.v3", "blueprint.bp2.v2"}},
		{name: "invalid-annotation/blueprint2", build: invalidAnnotationRepo,
			cfg:    revision.Config{Repository: "blueprint2", Directory: "blueprint2", Branch: "main"},
			porch:  keys(append(onBranch("main", "bp10"), published("bp10", 1))...),
			latest: []string{"blueprint2.bp10.v1"}},
		{name: "publishinfo", build: publishinfoRepo, cfg: revision.Config{Repository: "directory", Branch: "main"},
			porch: keys(append(onBranch("main", "pkg-with-anno", "pkg-without-anno"),
				published("pkg-with-anno", 1), published("pkg-without-anno", 1), draft("draft-pkg", "v1"))...),
			latest: []string{"directory.pkg-with-anno.v1", "directory.pkg-without-anno.v1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			revs, problems := readFixture(t, tt.build(t), tt.cfg)
			if diff := cmp.Diff(tt.porch, porchView(tt.cfg, revs)); diff != "" {
				t.Errorf("revisions as Porch's keys (-Porch +pkgserver):\n%s", diff)
			}
			var latest []string
			for _, r := range revs {
				if r.Latest {
					latest = append(latest, r.Name)
				}
			}
			slices.Sort(latest)
			if diff := cmp.Diff(tt.latest, latest); diff != "" {
				t.Errorf("latest (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, problemRefs(problems)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, problems)
			}
		})
	}
}

// TestPorchFixturesOnOtherBranches: Porch's tests run each repository
// with its branch renamed feature and nested/release. The branch revision
// is named after the branch made a label.
func TestPorchFixturesOnOtherBranches(t *testing.T) {
	for _, branch := range []string{"feature", "nested/release"} {
		t.Run(branch, func(t *testing.T) {
			f := draftsRepo(t)
			f.Git("branch", "-m", "main", branch)
			cfg := revision.Config{Repository: "drafts", Branch: branch}
			revs, problems := readFixture(t, f, cfg)
			want := keys(append(onBranch(branch, "empty", "basens", "istions"),
				published("empty", 1), published("basens", 1), published("basens", 2), published("istions", 1), published("istions", 2),
				draft("bucket", "v1"), draft("none", "v1"), draft("pkg-with-history", "v1"))...)
			if diff := cmp.Diff(want, porchView(cfg, revs)); diff != "" || len(problems) != 0 {
				t.Errorf("revisions as Porch's keys (-Porch +pkgserver):\n%s\nproblems %v", diff, problems)
			}
			label := revision.LabelFrom(branch)
			for _, r := range revs {
				if r.Ref == revision.BranchesPrefix+branch && (r.Workspace != label || r.Name != "drafts."+r.Package+"."+label) {
					t.Errorf("%s: workspace %q on branch %s, want %q", r.Name, r.Workspace, branch, label)
				}
			}
		})
	}
}

// TestPorchFixturePublishInfo: who published and when, as Porch's
// TestAuthor checks on publishinfo-repository, and as pkgserver records it
// on the other fixtures' Porch-made tags.
func TestPorchFixturePublishInfo(t *testing.T) {
	approved := publishinfoApprover.at
	for _, tt := range []struct {
		name  string
		build func(*testing.T) *fixture
		cfg   revision.Config
		want  map[string]string // revision name -> "by @ RFC 3339 time"
	}{
		{name: "publishinfo", build: publishinfoRepo, cfg: revision.Config{Repository: "directory", Branch: "main"},
			want: map[string]string{
				// Porch: the approval's author, as for every tag. The Porch
				// of 2022 wrote no kpt: line in its approval commits: it is
				// known by its message "Approve pkg-with-anno/v1" and its
				// committer, Porch.
				"directory.pkg-with-anno.v1": "pkg-with-anno-author@example.com @ " + approved.Format(time.RFC3339),
				// Porch: "" and no time, the draft being unpublished.
				"directory.draft-pkg.v1": " @ 0001-01-01T00:00:00Z",
				// Porch: the author of the newest commit whose kpt: line
				// names the package (pkg-with-anno-author@example.com at the
				// same time); pkgserver: the committer of the newest commit
				// of the branch that changed the package — the replayed
				// intermediate commit, which Porch committed.
				"directory.pkg-with-anno.main": "Package Orchestration Service <porch@kpt.dev> @ " + approved.Format(time.RFC3339),
				// Porch: nobody, no commit's kpt: line naming the package;
				// pkgserver: the committer of the commit that added it.
				"directory.pkg-without-anno.main": "Ada Author <ada@example.com> @ 2022-08-26T22:48:35Z",
				// Porch: ada@example.com, the tagged commit's author email.
				"directory.pkg-without-anno.v1": "Ada Author <ada@example.com> @ 2022-08-26T22:48:35Z",
			}},
		// Porch reports the tagged commit's author email for every tag;
		// pkgserver does for the tags Porch published, and otherwise the
		// tagger of an annotated tag or the commit's committer, as git
		// prints them.
		{name: "manually-tagged", build: manuallyTaggedRepo, cfg: revision.Config{Repository: "blueprint", Branch: "main"},
			want: map[string]string{
				"blueprint.pkg.v1": "jane@example.com @ 2022-06-01T09:03:00Z",
				// Porch: ada@example.com, the author of "manual v2".
				"blueprint.pkg.v2": "Tina Tagger <tina@example.com> @ 2022-06-01T09:05:00Z",
			}},
		{name: "invalid-annotation", build: invalidAnnotationRepo, cfg: revision.Config{Repository: "blueprint", Directory: "blueprint", Branch: "main"},
			want: map[string]string{
				"blueprint.bp1.v1": "jane@example.com @ 2022-06-01T09:03:00Z",
				// Porch: ada@example.com.
				"blueprint.bp1.v2": "Ada Author <ada@example.com> @ 2022-06-01T09:06:00Z",
				// A commit by hand whose kpt: line names bp1 v3 reads as
				// Porch's.
				"blueprint.bp1.v3": "ada@example.com @ 2022-06-01T09:07:00Z",
				"blueprint.bp2.v2": "jane@example.com @ 2022-06-01T09:09:00Z",
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			revs, _ := readFixture(t, tt.build(t), tt.cfg)
			got := map[string]string{}
			for _, r := range revs {
				if _, ok := tt.want[r.Name]; ok {
					got[r.Name] = r.PublishedBy + " @ " + r.PublishedAt.UTC().Format(time.RFC3339)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("published by @ at (-want +got):\n%s", diff)
			}
		})
	}
}
