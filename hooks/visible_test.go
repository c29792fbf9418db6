package hooks_test

import (
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestAcceptedMeansVisible: every ref a push creates or updates becomes a
// revision of the index, or the push is refused with the reason the index
// would give; and no push hides a revision that was visible.
func TestAcceptedMeansVisible(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "draft named like a published revision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/v1")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/drafts/nginx/v1: workspace "v1" of package nginx is already used by refs/tags/nginx/v1`},
		},
		{
			name: "proposal named like a published revision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				r.Tag("nginx/v2", c, "")
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "3")), "refs/heads/proposed/nginx/v2")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/proposed/nginx/v2: workspace "v2" of package nginx is already used by refs/tags/nginx/v2`},
		},
		{
			name: "draft beside a proposal of its workspace",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("branch", "proposed/nginx/w9", r.Rev("main"))
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/w9")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/drafts/nginx/w9: workspace "w9" of package nginx is already used by refs/heads/proposed/nginx/w9`},
		},
		{
			name: "draft and proposal of one workspace in one push",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := commit(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/heads/drafts/nginx/w9"), upd(zero, c, "refs/heads/proposed/nginx/w9")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/drafts/nginx/w9: workspace "w9" of package nginx is already used by refs/heads/proposed/nginx/w9`},
		},
		{
			name: "draft named like the repository branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/main")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/drafts/nginx/main: workspace "main" of package nginx is already used by refs/heads/main`},
		},
		{
			name: "publication that would hide a draft of its name",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("branch", "drafts/nginx/v2", commit(r, gittest.Package("nginx", "3")))
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused: the push would hide refs/heads/drafts/nginx/v2: workspace "v2" of package nginx is already used by refs/tags/nginx/v2`},
		},
		{
			name: "publication that deletes the draft of its name",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				d := commit(r, gittest.Package("nginx", "3"))
				r.Git("branch", "drafts/nginx/v2", d)
				c := onMain(r, gittest.Package("nginx", "2"))
				return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2"), upd(d, zero, "refs/heads/drafts/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "an existing clash is not the push's",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("branch", "drafts/nginx/v1", r.Rev("main"))
				return []revision.RefUpdate{upd(zero, commit(r, gittest.Package("nginx", "2")), "refs/heads/drafts/nginx/ws1")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "deleting the clashing draft",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("branch", "drafts/nginx/v1", r.Rev("main"))
				return []revision.RefUpdate{upd(r.Rev("main"), zero, "refs/heads/drafts/nginx/v1")}
			},
			role: store.RoleWrite, accept: true,
		},
		{
			name: "draft holding a file name with a backslash",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, commit(r, map[string]string{`nginx/a\b.yaml`: "x: 1\n"}), "refs/heads/drafts/nginx/ws1")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/drafts/nginx/ws1: package nginx: invalid file name "a\\b.yaml"`},
		},
		{
			name: "branch adding a file name with a backslash",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(r.Rev("main"), commit(r, map[string]string{`nginx/a\b.yaml`: "x: 1\n"}), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/main: package nginx: invalid file name "a\\b.yaml"`},
		},
	})
}

// TestRevisionLikeTags: a tag that reads as a revision but is not one
// v<N> counts (leading zeros, a capital V) is refused; tags of other
// shapes are not.
func TestRevisionLikeTags(t *testing.T) {
	var tests []pushTest
	for _, name := range []string{"v01", "v099", "V3", "v0"} {
		tests = append(tests, pushTest{
			name: name,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/tags/nginx/"+name)}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/" + name + `: a package tag's revision is v<N>, N a positive integer without leading zeros, not "` + name + `"`},
		})
	}
	tests = append(tests, pushTest{
		name: "deleting one",
		push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
			r.Tag("nginx/v01", r.Rev("main"), "")
			return []revision.RefUpdate{upd(r.Rev("main"), zero, "refs/tags/nginx/v01")}
		},
		role: store.RoleAdmin, accept: true,
	}, pushTest{
		name: "another shape",
		push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
			return []revision.RefUpdate{upd(zero, r.Rev("main"), "refs/tags/nginx/v1.2.0")}
		},
		role: store.RoleWrite, accept: true,
		lines:     []string{summary(1, 0, 0)},
		validated: 1,
	})
	runPushTests(t, tests)
}
