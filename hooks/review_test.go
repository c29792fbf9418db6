package hooks_test

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestBranchRevisionDecided: a push that only moves the repository branch
// is decided with the index's derivation too: the branch's revision of each
// package it adds or changes takes the branch's name as its workspace.
func TestBranchRevisionDecided(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "a new package hiding a draft named like the branch",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("branch", "drafts/web/main", commit(r, gittest.Package("web", "1")))
				r.Checkout("--detach", "main")
				return []revision.RefUpdate{upd(r.Rev("main"), commit(r, gittest.Package("web", "1")), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused: the push would hide refs/heads/drafts/web/main: workspace "main" of package web is already used by refs/heads/main`},
		},
		{
			name: "a new package whose workspace a tag uses",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Tag("web/main", commit(r, gittest.Package("web", "1")), "")
				r.Checkout("--detach", "main")
				return []revision.RefUpdate{upd(r.Rev("main"), commit(r, gittest.Package("web", "1")), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/main: workspace "main" of package web is already used by refs/tags/web/main`},
		},
		{
			name: "a new package with its draft deleted",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				d := commit(r, gittest.Package("web", "1"))
				r.Git("branch", "drafts/web/main", d)
				r.Checkout("--detach", "main")
				return []revision.RefUpdate{upd(r.Rev("main"), commit(r, gittest.Package("web", "1")), mainRef), upd(d, zero, "refs/heads/drafts/web/main")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
	})
}

// TestNestedTags: a revision tag is a commit or an annotated tag of a
// commit; a tag of a tag, which the index would not peel, is refused.
func TestNestedTags(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "a tag of a tag",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				r.Tag("inner", c, "inner")
				r.Git("tag", "-a", "-m", "outer", "outer", "inner")
				outer := r.Rev("refs/tags/outer")
				r.Git("tag", "-d", "inner", "outer")
				return []revision.RefUpdate{upd(zero, outer, "refs/tags/nginx/v2")}
			},
			role:  store.RoleAdmin,
			lines: []string{"pkgserver: refused refs/tags/nginx/v2: a revision tag must point at a commit or at an annotated tag of a commit, not at a tag of a tag"},
		},
		{
			name: "an annotated tag of a commit",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("nginx", "2"))
				r.Tag("inner", c, "inner")
				inner := r.Rev("refs/tags/inner")
				r.Git("tag", "-d", "inner")
				return []revision.RefUpdate{upd(zero, inner, "refs/tags/nginx/v2")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
	})
}

// TestHiddenByRef: a push is refused for hiding a ref only when that ref
// was a revision before it and is not one after; a ref that was a problem
// already, or is no revision (a deletion proposal), does not refuse it.
func TestHiddenByRef(t *testing.T) {
	runPushTests(t, []pushTest{
		{
			name: "approving a proposal beside a draft of its workspace",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				p := commit(r, gittest.Package("nginx", "2"))
				r.Git("branch", "proposed/nginx/w", p)
				r.Git("branch", "drafts/nginx/w", commit(r, gittest.Package("nginx", "3")))
				r.Tag("approved", p, "nginx v2\n\n"+revision.PublishTrailers("nginx", "w", 2))
				tag := r.Rev("refs/tags/approved")
				r.Git("tag", "-d", "approved")
				return []revision.RefUpdate{upd(r.Rev("main"), p, mainRef), upd(zero, tag, "refs/tags/nginx/v2"), upd(p, zero, "refs/heads/proposed/nginx/w")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "an admin deleting a tag whose deletion is proposed",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("update-ref", "refs/heads/deletionProposed/nginx/v1", r.Rev("main"))
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), zero, "refs/tags/nginx/v1")}
			},
			role: store.RoleAdmin, accept: true,
			lines: []string{"pkgserver: warning: refs/heads/deletionProposed/nginx/v1: proposes the deletion of nginx/v1, which is not published"},
		},
	})
}

// TestRevisionLikeTagsNamingNoPackage: a tag whose last segment reads as
// a revision is left alone where its path names no package.
func TestRevisionLikeTagsNamingNoPackage(t *testing.T) {
	var tests []pushTest
	for _, ref := range []string{"refs/tags/release/V3", "refs/tags/charts/v0", "refs/tags/release/v01"} {
		tests = append(tests, pushTest{
			name: ref,
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				return []revision.RefUpdate{upd(zero, r.Rev("main"), ref)}
			},
			role: store.RoleWrite, accept: true,
		})
	}
	tests = append(tests, pushTest{
		name: "deleting a package's v01 takes an admin",
		push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
			r.Tag("nginx/v01", r.Rev("main"), "")
			return []revision.RefUpdate{upd(r.Rev("main"), zero, "refs/tags/nginx/v01")}
		},
		role:  store.RoleWrite,
		lines: []string{"pkgserver: refused refs/tags/nginx/v01: published revisions are deleted only by admins, by approving a deletion proposal"},
	})
	runPushTests(t, tests)
}

// TestFlowsDecided pins the flows of the contract that must keep working.
func TestFlowsDecided(t *testing.T) {
	many := func(r *gittest.Repo, n int) map[string]string {
		files := map[string]string{}
		for i := range n {
			maps.Copy(files, gittest.Package(fmt.Sprintf("app%02d", i), "1"))
		}
		return files
	}
	runPushTests(t, []pushTest{
		{
			name: "one-push approval",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				p := commit(r, gittest.Package("nginx", "2"))
				r.Git("branch", "proposed/nginx/w", p)
				r.Tag("approved", p, "nginx v2\n\n"+revision.PublishTrailers("nginx", "w", 2))
				tag := r.Rev("refs/tags/approved")
				r.Git("tag", "-d", "approved")
				return []revision.RefUpdate{upd(r.Rev("main"), p, mainRef), upd(zero, tag, "refs/tags/nginx/v2"), upd(p, zero, "refs/heads/proposed/nginx/w")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "a proposal replacing its draft",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				d := commit(r, gittest.Package("nginx", "2"))
				r.Git("branch", "drafts/nginx/w", d)
				return []revision.RefUpdate{upd(zero, d, "refs/heads/proposed/nginx/w"), upd(d, zero, "refs/heads/drafts/nginx/w")}
			},
			role: store.RoleWrite, accept: true,
			lines:     []string{summary(1, 0, 0)},
			validated: 1,
		},
		{
			name: "an admin approving a deletion proposal",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Git("update-ref", "refs/heads/deletionProposed/nginx/v1", r.Rev("main"))
				return []revision.RefUpdate{upd(r.Rev("nginx/v1"), zero, "refs/tags/nginx/v1"), upd(r.Rev("main"), zero, "refs/heads/deletionProposed/nginx/v1")}
			},
			role: store.RoleAdmin, accept: true,
		},
		{
			name: "many packages with a collision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, many(r, 10))
				r.Git("branch", "drafts/app03/v1", c)
				var u []revision.RefUpdate
				for i := range 10 {
					u = append(u, upd(zero, c, fmt.Sprintf("refs/tags/app%02d/v1", i)))
				}
				return u
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused: the push would hide refs/heads/drafts/app03/v1: workspace "v1" of package app03 is already used by refs/tags/app03/v1`},
		},
		{
			name: "many packages on the branch with a collision",
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				r.Tag("app07/main", commit(r, gittest.Package("app07", "0")), "")
				r.Checkout("--detach", "main")
				return []revision.RefUpdate{upd(r.Rev("main"), commit(r, many(r, 10)), mainRef)}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused refs/heads/main: workspace "main" of package app07 is already used by refs/tags/app07/main`},
		},
		{
			name: "a package under a registration directory",
			cfg:  revision.Config{Repository: "r", Branch: "main", Directory: "pkgs"},
			push: func(t *testing.T, r *gittest.Repo) []revision.RefUpdate {
				c := onMain(r, gittest.Package("pkgs/web", "1"))
				r.Git("branch", "drafts/pkgs/web/v1", c)
				return []revision.RefUpdate{upd(zero, c, "refs/tags/pkgs/web/v1")}
			},
			role:  store.RoleWrite,
			lines: []string{`pkgserver: refused: the push would hide refs/heads/drafts/pkgs/web/v1: workspace "v1" of package web is already used by refs/tags/pkgs/web/v1`},
		},
	})
}

// TestOutsideBounded: past the bound of commits off the branch read in one
// pass (an unrelated history pushed to a side branch), each ref's commit is
// asked about alone, and the decision is the same.
func TestOutsideBounded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		push   func(r *gittest.Repo) []revision.RefUpdate
		accept bool
	}{
		{"a side branch of many commits", func(r *gittest.Repo) []revision.RefUpdate {
			for i := range 5 {
				commit(r, gittest.Package("nginx", fmt.Sprint(i+2)))
			}
			return []revision.RefUpdate{upd(zero, r.Rev("HEAD"), "refs/heads/feature/x")}
		}, true},
		{"a tag with the branch moved by many commits", func(r *gittest.Repo) []revision.RefUpdate {
			c := commit(r, gittest.Package("nginx", "2"))
			for i := range 5 {
				commit(r, gittest.Package("redis", fmt.Sprint(i+2)))
			}
			return []revision.RefUpdate{upd(r.Rev("main"), r.Rev("HEAD"), mainRef), upd(zero, c, "refs/tags/nginx/v2")}
		}, true},
		{"a tag off the branch", func(r *gittest.Repo) []revision.RefUpdate {
			c := commit(r, gittest.Package("nginx", "2"))
			for i := range 5 {
				commit(r, gittest.Package("redis", fmt.Sprint(i+2)))
			}
			return []revision.RefUpdate{upd(zero, c, "refs/tags/nginx/v2"), upd(zero, r.Rev("HEAD"), "refs/heads/feature/y")}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			updates := tc.push(r)
			repo, err := gitrepo.Open(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			var got [2]*hooks.Decision
			for i, bound := range []int{0, 2} {
				c := &hooks.Checker{Packages: testService(), MaxOutside: bound}
				if got[i], err = c.Check(context.Background(), &hooks.Push{Repo: repo, Config: root, Role: store.RoleWrite, Updates: updates}); err != nil {
					t.Fatal(err)
				}
			}
			if got[0].Accept != tc.accept {
				t.Errorf("accept = %v, want %v: %q", got[0].Accept, tc.accept, got[0].Lines)
			}
			if diff := cmp.Diff(got[0].Lines, got[1].Lines); diff != "" || got[0].Accept != got[1].Accept || got[0].Validated != got[1].Validated {
				t.Errorf("bounded decision differs (-whole +bounded):\n%s", diff)
			}
		})
	}
}
