package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// porchRepo builds a repository laid out as Porch leaves it: approval
// commits with the draft as second parent and a kpt: line, a
// deletionProposed branch, plus refs pkgserver must report or ignore.
func porchRepo(t *testing.T, dir string) *gittest.Repo {
	r := gittest.New(t)
	p := func(name string) string { return strings.TrimPrefix(dir+"/"+name, "/") }
	files := map[string]string{}
	for _, pkg := range []string{"nginx", "redis", "network/vpc"} {
		for k, v := range gittest.Package(p(pkg), "1") {
			files[k] = v
		}
	}
	files["README.md"] = "# packages\n"
	r.Write(files)
	c1 := r.Commit("Initial packages")
	r.Tag(p("nginx")+"/v1", c1, "")
	r.Tag(p("redis")+"/v1", c1, "Release redis v1")

	// A draft, approved the way Porch approves.
	r.Checkout("-b", "drafts/"+p("nginx")+"/tuning")
	r.Write(gittest.Package(p("nginx"), "2"))
	d1 := r.Commit("Intermediate commit: eval")
	r.Checkout("main")
	c2 := r.MergeCommit("main", d1, "Approving package revision "+p("nginx")+"/2\n\nkpt:{\"package\":\""+p("nginx")+"\",\"workspaceName\":\"tuning\",\"revision\":2}\n", c1, d1)
	r.Git("reset", "-q", "--hard", "main")
	r.Tag(p("nginx")+"/v2", c2, "")
	r.Git("branch", "-D", "drafts/"+p("nginx")+"/tuning")
	r.Tag(p("nginx")+"/v1.2.0", c2, "")

	r.Git("branch", "deletionProposed/"+p("nginx")+"/v1", c1)
	r.Checkout("-b", "proposed/"+p("redis")+"/upgrade")
	r.Write(gittest.Package(p("redis"), "2"))
	r.Commit("Upgrade redis")
	r.Checkout("main")

	r.Checkout("-b", "drafts/"+p("network/vpc")+"/nested")
	r.Write(map[string]string{p("network/vpc/subnet/Kptfile"): gittest.Kptfile("subnet")})
	r.Commit("Add a subpackage")
	r.Checkout("main")

	r.Git("branch", "drafts/"+p("missing")+"/ws", "main")
	r.Git("branch", "drafts/"+p("Bad_Name")+"/ws", "main")
	r.Git("branch", "feature/x", "main")
	r.Tag("v1.0.0", c1, "")
	return r
}

func newStore(t *testing.T) *sqlstore.Store {
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type summary struct {
	Lifecycle revision.Lifecycle
	Revision  string
	Workspace string
	Latest    bool
	Ref       string
}

func summarize(revs []revision.Revision) map[string]summary {
	out := map[string]summary{}
	for _, r := range revs {
		out[r.Name] = summary{r.Lifecycle, r.Revision, r.Workspace, r.Latest, r.Ref}
	}
	return out
}

func problemRefs(problems []revision.Problem) []string {
	var out []string
	for _, p := range problems {
		out = append(out, p.Ref)
	}
	slices.Sort(out)
	return out
}

func TestPreviewPorchLayout(t *testing.T) {
	for _, dir := range []string{"", "blueprints"} {
		t.Run("directory="+dir, func(t *testing.T) {
			r := porchRepo(t, dir)
			g, err := gitrepo.Open(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			revs, problems, err := Preview(context.Background(), g, revision.Config{Repository: "cat", Directory: dir, Branch: "main"})
			if err != nil {
				t.Fatal(err)
			}
			ref := func(s string) string {
				if dir == "" {
					return s
				}
				i := strings.Index(s, "/nginx/")
				if i < 0 {
					i = strings.Index(s, "/redis/")
				}
				if i < 0 {
					i = strings.Index(s, "/network/")
				}
				return s[:i] + "/" + dir + s[i:]
			}
			want := map[string]summary{
				"cat.nginx.v1":         {revision.DeletionProposed, "v1", "v1", false, ref("refs/tags/nginx/v1")},
				"cat.nginx.tuning":     {revision.Published, "v2", "tuning", true, ref("refs/tags/nginx/v2")},
				"cat.nginx.v1-2-0":     {revision.Published, "v1.2.0", "v1-2-0", false, ref("refs/tags/nginx/v1.2.0")},
				"cat.nginx.main":       {revision.Published, "main", "main", false, "refs/heads/main"},
				"cat.redis.v1":         {revision.Published, "v1", "v1", true, ref("refs/tags/redis/v1")},
				"cat.redis.main":       {revision.Published, "main", "main", false, "refs/heads/main"},
				"cat.redis.upgrade":    {revision.Proposed, "", "upgrade", false, ref("refs/heads/proposed/redis/upgrade")},
				"cat.network.vpc.main": {revision.Published, "main", "main", false, "refs/heads/main"},
				// A draft adding a subpackage: content of its package.
				"cat.network.vpc.nested": {revision.Draft, "", "nested", false, ref("refs/heads/drafts/network/vpc/nested")},
			}
			if diff := cmp.Diff(want, summarize(revs)); diff != "" {
				t.Errorf("revisions (-want +got):\n%s", diff)
			}
			wantProblems := []string{
				"refs/heads/drafts/" + strings.TrimPrefix(dir+"/Bad_Name", "/") + "/ws",
				"refs/heads/drafts/" + strings.TrimPrefix(dir+"/missing", "/") + "/ws",
			}
			slices.Sort(wantProblems)
			if diff := cmp.Diff(wantProblems, problemRefs(problems)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, problems)
			}
			for _, rv := range revs {
				if rv.Commit == "" || rv.Tree == "" {
					t.Errorf("%s has no commit or tree", rv.Name)
				}
			}
			byName := map[string]revision.Revision{}
			for _, rv := range revs {
				byName[rv.Name] = rv
			}
			// The annotated tag's tagger publishes; a lightweight tag's commit's committer.
			if got := byName["cat.redis.v1"].PublishedBy; got != "Carl Committer <carl@example.com>" {
				t.Errorf("redis v1 published by %q", got)
			}
			if got := byName["cat.nginx.tuning"].Commit; got != r.Rev("main") {
				t.Errorf("nginx v2 commit %s, want the approval commit", got)
			}
			if byName["cat.nginx.main"].Commit != r.Rev("main") || byName["cat.redis.main"].Commit != r.Rev("main~1") {
				t.Errorf("branch revisions carry the last commit changing each package: nginx %s, redis %s",
					byName["cat.nginx.main"].Commit, byName["cat.redis.main"].Commit)
			}
		})
	}
}

// indexed lists everything the index holds for comparison, resource
// versions left out.
func indexed(t *testing.T, s store.Index) map[string]revision.Revision {
	t.Helper()
	list, err := s.ListRevisions(context.Background(), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]revision.Revision{}
	for _, r := range list.Items {
		out[r.Name] = r.Revision
	}
	return out
}

func register(t *testing.T, s Store, r *gittest.Repo, name string) *Reconciler {
	t.Helper()
	repo := storetest.NewRepository("default", name)
	repo.Object.Spec.Git.URL = r.Dir
	if err := s.CreateRepository(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	return New(s, &GitSource{}, quiet())
}

func TestIncrementalMatchesReindex(t *testing.T) {
	ctx := context.Background()
	r := porchRepo(t, "")
	s := newStore(t)
	rec := register(t, s, r, "cat")
	if _, err := rec.Sync(ctx, "default", "cat"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.ListRevisions(ctx, store.ListOptions{})
	rvBefore := map[string]int64{}
	for _, rv := range before.Items {
		rvBefore[rv.Name] = rv.ResourceVersion
	}

	// A push to main changing redis only.
	old := r.Rev("main")
	r.Write(gittest.Package("redis", "3"))
	c3 := r.Commit("Tune redis")
	res, err := rec.Sync(ctx, "default", "cat", revision.RefUpdate{Ref: "refs/heads/main", Old: old, New: c3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Packages != 1 {
		t.Errorf("a push changing one package re-derived %d packages", res.Packages)
	}
	got, err := s.GetRevision(ctx, "default", "cat.redis.main")
	if err != nil || got.Commit != c3 {
		t.Fatalf("redis.main = %+v, %v", got, err)
	}
	nginxMain, _ := s.GetRevision(ctx, "default", "cat.nginx.main")
	if nginxMain.ResourceVersion != rvBefore["cat.nginx.main"] {
		t.Error("an untouched package's branch revision changed")
	}

	// Publishing redis v2 from the proposal, with pkgserver's trailers, and
	// withdrawing the deletion proposal of nginx v1.
	r.Tag("redis/v2", c3, "Publish redis\n\nPackage: redis\nWorkspace: upgrade\nRevision: v2\n")
	r.Git("branch", "-D", "proposed/redis/upgrade")
	r.Git("branch", "-D", "deletionProposed/nginx/v1")
	if _, err := rec.Sync(ctx, "default", "cat",
		revision.RefUpdate{Ref: "refs/tags/redis/v2", New: r.Rev("redis/v2")},
		revision.RefUpdate{Ref: "refs/heads/proposed/redis/upgrade"},
		revision.RefUpdate{Ref: "refs/heads/deletionProposed/nginx/v1"}); err != nil {
		t.Fatal(err)
	}
	upgrade, err := s.GetRevision(ctx, "default", "cat.redis.upgrade")
	if err != nil || upgrade.Lifecycle != revision.Published || upgrade.Revision.Revision != "v2" || !upgrade.Latest {
		t.Fatalf("redis.upgrade = %+v, %v", upgrade, err)
	}
	if v1, _ := s.GetRevision(ctx, "default", "cat.redis.v1"); v1.Latest {
		t.Error("redis v1 kept the latest label")
	}
	if v1, _ := s.GetRevision(ctx, "default", "cat.nginx.v1"); v1.Lifecycle != revision.Published {
		t.Errorf("nginx v1 is %s after its deletion proposal was withdrawn", v1.Lifecycle)
	}

	// A new package on main, and one removed; the bad draft's package fixed.
	old = r.Rev("main")
	r.Write(gittest.Package("apps/web", "1"))
	r.Remove("network")
	c4 := r.Commit("Add web, drop vpc")
	r.Git("branch", "-D", "drafts/Bad_Name/ws")
	if _, err := rec.Sync(ctx, "default", "cat", revision.RefUpdate{Ref: "refs/heads/main", Old: old, New: c4},
		revision.RefUpdate{Ref: "refs/heads/drafts/Bad_Name/ws"}); err != nil {
		t.Fatal(err)
	}

	// The index built step by step equals one built from nothing.
	fresh := newStore(t)
	rec2 := register(t, fresh, r, "cat")
	if _, err := rec2.Reindex(ctx, "default", "cat"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(indexed(t, fresh), indexed(t, s)); diff != "" {
		t.Errorf("incremental index differs from a reindex (-reindex +incremental):\n%s", diff)
	}
	a, _ := s.GetRepository(ctx, "default", "cat")
	b, _ := fresh.GetRepository(ctx, "default", "cat")
	if diff := cmp.Diff(b.Object.Status.Problems, a.Object.Status.Problems); diff != "" {
		t.Errorf("problems differ (-reindex +incremental):\n%s", diff)
	}
	// network/vpc, gone from main, lives on in its draft adding a
	// subpackage.
	if a.Object.Status.PackageCount != 4 || a.Object.Status.Commit != c4 {
		t.Errorf("status = %+v", a.Object.Status)
	}
	ha, _ := s.RefsHash(ctx, 1)
	hb, _ := fresh.RefsHash(ctx, 1)
	if ha != hb || ha == "" {
		t.Errorf("refs hash %s (incremental) vs %s (reindex)", ha, hb)
	}
	// A sync of everything finds nothing to do.
	res, err = rec.Sync(ctx, "default", "cat")
	if err != nil || res.RefsChanged != 0 || res.Packages != 0 {
		t.Errorf("a second full sync did work: %+v, %v", res, err)
	}
	files, err := s.Resources(ctx, "default", "cat.apps.web.main")
	if err != nil || !strings.Contains(string(files["config.yaml"]), `version: "1"`) || len(files) != 2 {
		t.Errorf("resources of the new package: %v, %v", files, err)
	}
}

func TestForcePushAndBranchDeletion(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	r.Write(gittest.Package("a", "1"))
	r.Write(gittest.Package("b", "1"))
	base := r.Commit("a and b")
	r.Write(gittest.Package("a", "2"))
	r.Commit("a2")
	s := newStore(t)
	rec := register(t, s, r, "repo")
	if _, err := rec.Sync(ctx, "default", "repo"); err != nil {
		t.Fatal(err)
	}
	// History rewritten: main no longer descends from what was indexed.
	old := r.Rev("main")
	r.Git("reset", "-q", "--hard", base)
	r.Remove("b")
	r.Write(gittest.Package("c", "1"))
	c := r.Commit("rewrite")
	if _, err := rec.Sync(ctx, "default", "repo", revision.RefUpdate{Ref: "refs/heads/main", Old: old, New: c}); err != nil {
		t.Fatal(err)
	}
	names := indexed(t, s)
	if _, ok := names["repo.b.main"]; ok || names["repo.c.main"].Commit != c || names["repo.a.main"].Commit != base {
		t.Errorf("after a force push: %v", names)
	}
	// The branch deleted: its revisions go.
	r.Checkout("-b", "other")
	r.Git("branch", "-D", "main")
	if _, err := rec.Sync(ctx, "default", "repo", revision.RefUpdate{Ref: "refs/heads/main", Old: c}); err != nil {
		t.Fatal(err)
	}
	if names := indexed(t, s); len(names) != 0 {
		t.Errorf("revisions after the branch was deleted: %v", names)
	}
}

func TestConcurrentSyncs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var repos []*gittest.Repo
	var rec *Reconciler
	for i, name := range []string{"one", "two"} {
		r := gittest.New(t)
		r.Write(gittest.Package("a", "1"))
		r.Commit("a")
		repos = append(repos, r)
		rec = register(t, s, r, name)
		_ = i
	}
	// Pushes to both repositories while both are synced from several
	// goroutines: work on one repository is serialized, and the index ends
	// where git is.
	done := make(chan error, 16)
	for k := range 8 {
		go func() {
			name := []string{"one", "two"}[k%2]
			_, err := rec.Sync(ctx, "default", name)
			done <- err
		}()
	}
	for k := range 3 {
		for _, r := range repos {
			r.Write(gittest.Package("a", fmt.Sprint(k+2)))
			r.Commit(fmt.Sprint("change ", k))
		}
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"one", "two"} {
		if _, err := rec.Sync(ctx, "default", name); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRevision(ctx, "default", name+".a.main")
		if err != nil || got.Commit != repos[i].Rev("main") {
			t.Errorf("%s: %+v, %v; want the head %s", name, got, err, repos[i].Rev("main"))
		}
	}
}

// TestKptfileMeta: what a pushed Kptfile says of its revision is indexed
// (without what pkgserver or KRM tooling own), and trees indexed before it
// was kept get it from the Kptfiles the index holds.
func TestKptfileMeta(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	r.Write(map[string]string{"nginx/Kptfile": `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: nginx
  labels:
    tier: gold
    pkg.pkgserver.dev/latest-revision: "true"
  annotations:
    config.kubernetes.io/local-config: "true"
    example.com/owner: alice
info:
  readinessGates:
  - conditionType: example.com/reviewed
status:
  conditions:
  - type: example.com/reviewed
    status: "True"
    reason: Reviewed
  - type: pkg.pkgserver.dev/validated
    status: "True"
`, "redis/Kptfile": gittest.Kptfile("redis")})
	r.Commit("Packages")
	path := filepath.Join(t.TempDir(), "index.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := register(t, s, r, "cat")
	if _, err := rec.Sync(ctx, "default", "cat"); err != nil {
		t.Fatal(err)
	}
	want := revision.Meta{Labels: map[string]string{"tier": "gold"}, Annotations: map[string]string{"example.com/owner": "alice"},
		ReadinessGates: []string{"example.com/reviewed"}, Conditions: []revision.Condition{{Type: "example.com/reviewed", Status: "True", Reason: "Reviewed"}}}
	check := func(when string) {
		t.Helper()
		got, err := s.GetRevision(ctx, "default", "cat.nginx.main")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got.Meta); diff != "" {
			t.Errorf("%s: meta (-want +got):\n%s", when, diff)
		}
		list, err := s.ListRevisions(ctx, store.ListOptions{Labels: []store.LabelRequirement{{Key: "tier", Operator: store.LabelIn, Values: []string{"gold"}}}})
		if err != nil || len(list.Items) != 1 || list.Items[0].Name != "cat.nginx.main" {
			t.Errorf("%s: tier=gold lists %+v, %v", when, list, err)
		}
	}
	check("indexed")

	// As an index written before meta was kept has it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE trees SET meta = NULL; DELETE FROM tree_labels; UPDATE revisions SET meta = ''`); err != nil {
		t.Fatal(err)
	}
	before, _ := s.GetRevision(ctx, "default", "cat.nginx.main")
	n, err := FillTreeMeta(ctx, s)
	if err != nil || n != 2 {
		t.Fatalf("filled %d trees, %v", n, err)
	}
	check("filled")
	// The revision changed: a new resource version, and an event a watch
	// with a label selector sees it enter by.
	after, _ := s.GetRevision(ctx, "default", "cat.nginx.main")
	events, err := s.Events(ctx, before.ResourceVersion, 10)
	if err != nil || after.ResourceVersion <= before.ResourceVersion || len(events) != 1 || events[0].Revision.Meta.Labels["tier"] != "gold" {
		t.Errorf("after filling: rv %d (was %d), events %+v, %v", after.ResourceVersion, before.ResourceVersion, events, err)
	}
	if redis, _ := s.GetRevision(ctx, "default", "cat.redis.main"); redis.ResourceVersion > before.ResourceVersion {
		t.Errorf("a revision whose Kptfile says nothing changed: rv %d", redis.ResourceVersion)
	}
	if n, err := FillTreeMeta(ctx, s); err != nil || n != 0 {
		t.Errorf("filled again: %d, %v", n, err)
	}
}
