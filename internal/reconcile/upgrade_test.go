package reconcile

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// TestCreationTimesAfterUpgrade opens an index as a version before
// creation times (migration 010) left it and syncs: every revision gets the
// creation time a fresh index derives. Published revisions, the head of the
// branch among them, keep their publisher and publish time; drafts and
// proposals get a creation time and no publish time.
func TestCreationTimesAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	cat := porchRepo(t, "")
	cat.Checkout("-b", "drafts/nginx/edit")
	cat.Write(gittest.Package("nginx", "3"))
	edit := cat.Commit("Edit nginx")
	cat.Checkout("main")
	// A repository with nothing but the branch and a tag: only reading the
	// branch again gives its head revision a fresh look.
	plain := gittest.New(t)
	plain.Write(gittest.Package("web", "1"))
	web := plain.Commit("Add web")
	plain.Tag("web/v1", web, "")

	path := filepath.Join(t.TempDir(), "index.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*gittest.Repo{"cat": cat, "plain": plain} {
		if _, err := register(t, s, r, name).Sync(ctx, "default", name); err != nil {
			t.Fatal(err)
		}
	}
	want := indexed(t, s)
	s.Close()

	// The index as the version before left it: no creation time, and no
	// time on the refs of drafts and proposals.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE revisions DROP COLUMN created_at`,
		`DELETE FROM schema_migrations WHERE version = 10`,
		`UPDATE refs SET published_at = 0 WHERE contract = 1 AND kind IN (2, 3)`,
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
	if got := indexed(t, s)["cat.nginx.edit"]; !got.CreatedAt.IsZero() {
		t.Fatalf("before the sync, the draft has a creation time: %v", got.CreatedAt)
	}
	rec := New(s, &GitSource{}, quiet())
	for _, name := range []string{"cat", "plain"} {
		res, err := rec.Sync(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "plain" && res.Packages != 1 {
			t.Errorf("the sync after the upgrade derived %d packages of a repository without drafts, want its branch's 1", res.Packages)
		}
	}
	got := indexed(t, s)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the upgrade and a sync (-fresh +upgraded):\n%s", diff)
	}

	committed := func(r *gittest.Repo, commit string) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339, r.Git("show", "-s", "--format=%cI", commit))
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	const carl = "Carl Committer <carl@example.com>"
	for _, tt := range []struct {
		name      string
		created   time.Time
		published bool
	}{
		{"cat.nginx.main", committed(cat, cat.Rev("nginx/v2")), true},
		{"cat.nginx.edit", committed(cat, edit), false},
		{"cat.redis.upgrade", committed(cat, cat.Rev("proposed/redis/upgrade")), false},
		{"plain.web.main", committed(plain, web), true},
		{"plain.web.v1", committed(plain, web), true},
	} {
		r, ok := got[tt.name]
		switch {
		case !ok:
			t.Errorf("%s is not indexed", tt.name)
		case !r.CreatedAt.Equal(tt.created):
			t.Errorf("%s was created at %v, want %v", tt.name, r.CreatedAt, tt.created)
		case tt.published && (!r.PublishedAt.Equal(tt.created) || r.PublishedBy != carl):
			t.Errorf("%s was published by %q at %v, want %q at %v", tt.name, r.PublishedBy, r.PublishedAt, carl, tt.created)
		case !tt.published && (!r.PublishedAt.IsZero() || r.PublishedBy != ""):
			t.Errorf("%s (%s) was published by %q at %v", tt.name, r.Lifecycle, r.PublishedBy, r.PublishedAt)
		}
	}
	if l := got["cat.nginx.edit"].Lifecycle; l != revision.Draft {
		t.Errorf("cat.nginx.edit is %s", l)
	}
}
