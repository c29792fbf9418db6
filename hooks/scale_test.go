package hooks_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestManyRefsDecided decides pushes of thousands of refs of each kind the
// contract knows, as one push: each is accepted, with its packages
// validated once per tree, whatever the number of refs.
func TestManyRefsDecided(t *testing.T) {
	const n, few = 2000, 100
	tests := []struct {
		name string
		refs func(r *gittest.Repo, c string) []revision.RefUpdate
		// validated is the number of package trees the refs hold that
		// differ from what they had.
		validated int
	}{
		{"tags of one package", func(r *gittest.Repo, c string) []revision.RefUpdate {
			var u []revision.RefUpdate
			for i := range n {
				u = append(u, upd(zero, c, fmt.Sprintf("refs/tags/nginx/v%d", i+2)))
			}
			return u
		}, 1},
		{"drafts of one package", func(r *gittest.Repo, c string) []revision.RefUpdate {
			var u []revision.RefUpdate
			for i := range n {
				u = append(u, upd(zero, c, fmt.Sprintf("refs/heads/drafts/nginx/w%d", i)))
			}
			return u
		}, 1},
		{"other branches", func(r *gittest.Repo, c string) []revision.RefUpdate {
			var u []revision.RefUpdate
			for i := range n {
				u = append(u, upd(zero, c, fmt.Sprintf("refs/heads/feature/f%d", i)))
			}
			return u
		}, 0},
		{"tags of many packages", func(r *gittest.Repo, _ string) []revision.RefUpdate {
			files := map[string]string{}
			for i := range few {
				maps.Copy(files, gittest.Package(fmt.Sprintf("app%03d", i), "1"))
			}
			c := onMain(r, files)
			u := []revision.RefUpdate{}
			for i := range few {
				u = append(u, upd(zero, c, fmt.Sprintf("refs/tags/app%03d/v1", i)))
			}
			return u
		}, few},
		{"drafts and branches on commits of their own", func(r *gittest.Repo, c string) []revision.RefUpdate {
			tree := r.Rev("main^{tree}")
			var u []revision.RefUpdate
			for i := range few {
				own := r.Git("commit-tree", tree, "-p", c, "-m", fmt.Sprintf("change %d", i))
				u = append(u, upd(zero, own, fmt.Sprintf("refs/heads/drafts/nginx/w%d", i)), upd(zero, own, fmt.Sprintf("refs/heads/feature/f%d", i)))
			}
			return u
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t)
			c := r.Rev("main")
			d := check(t, r, root, store.RoleWrite, tt.refs(r, c)...)
			if !d.Accept {
				t.Fatalf("refused: %q", d.Lines)
			}
			if d.Validated != tt.validated {
				t.Errorf("validated %d packages, want %d: %q", d.Validated, tt.validated, d.Lines)
			}
		})
	}
}
