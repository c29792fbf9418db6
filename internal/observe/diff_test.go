package observe

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestDiffPackages compares two commits of a real repository, as a push
// check (dot directories skipped, no package at the root) and the
// reconciler (neither) read them.
func TestDiffPackages(t *testing.T) {
	kpt := gittest.Kptfile
	push := DiffOptions{SkipDotDirs: true, RootNotPackage: true}
	// A change as the test writes it: Old and New say on which side the
	// directory is a package; Problem whether it has one.
	type change struct {
		Path     string
		Old, New bool
		Problem  bool
	}
	tests := []struct {
		name          string
		before, after map[string]string
		opt           DiffOptions
		want          []change
	}{
		{
			name:   "added",
			before: map[string]string{"a/Kptfile": kpt("a")},
			after:  map[string]string{"a/Kptfile": kpt("a"), "b/Kptfile": kpt("b")},
			want:   []change{{Path: "b", New: true}},
		},
		{
			name:   "removed",
			before: map[string]string{"a/Kptfile": kpt("a"), "b/c/Kptfile": kpt("c")},
			after:  map[string]string{"a/Kptfile": kpt("a")},
			want:   []change{{Path: "b/c", Old: true}},
		},
		{
			name:   "changed, an unchanged sibling left alone",
			before: map[string]string{"a/Kptfile": kpt("a"), "a/cm.yaml": "x: 1\n", "b/Kptfile": kpt("b")},
			after:  map[string]string{"a/Kptfile": kpt("a"), "a/cm.yaml": "x: 2\n", "b/Kptfile": kpt("b")},
			want:   []change{{Path: "a", Old: true, New: true}},
		},
		{
			name:   "unchanged",
			before: map[string]string{"a/Kptfile": kpt("a")},
			after:  map[string]string{"a/Kptfile": kpt("a"), "notes.txt": "x\n"},
			want:   []change{},
		},
		{
			name:   "a directory becomes a package with packages below it",
			before: map[string]string{"d/p/Kptfile": kpt("p"), "d/q/Kptfile": kpt("q")},
			after:  map[string]string{"d/Kptfile": kpt("d"), "d/p/Kptfile": kpt("p"), "d/q/Kptfile": kpt("q")},
			want:   []change{{Path: "d", New: true}, {Path: "d/p", Old: true}, {Path: "d/q", Old: true}},
		},
		{
			name:   "a package stops being one, a package below it stays",
			before: map[string]string{"d/Kptfile": kpt("d"), "d/p/Kptfile": kpt("p")},
			after:  map[string]string{"d/README": "x\n", "d/p/Kptfile": kpt("p")},
			want:   []change{{Path: "d", Old: true}, {Path: "d/p", New: true}},
		},
		{
			name:  "from nothing, depth first in git's order (a-b before a/)",
			after: map[string]string{"a/Kptfile": kpt("a"), "a-b/Kptfile": kpt("ab"), "a/x/y": "z\n", "z/y/Kptfile": kpt("y")},
			want:  []change{{Path: "a-b", New: true}, {Path: "a", New: true}, {Path: "z/y", New: true}},
		},
		{
			name:   "dot directories read",
			before: map[string]string{"a/Kptfile": kpt("a")},
			after:  map[string]string{"a/Kptfile": kpt("a"), ".pkgserver/x/Kptfile": kpt("x"), "b/.c/Kptfile": kpt("c")},
			want:   []change{{Path: ".pkgserver/x", New: true, Problem: true}, {Path: "b/.c", New: true, Problem: true}},
		},
		{
			name:   "dot directories skipped at the root only",
			before: map[string]string{"a/Kptfile": kpt("a")},
			after:  map[string]string{"a/Kptfile": kpt("a"), ".pkgserver/x/Kptfile": kpt("x"), "b/.c/Kptfile": kpt("c")},
			opt:    DiffOptions{SkipDotDirs: true},
			want:   []change{{Path: "b/.c", New: true, Problem: true}},
		},
		{
			name:   "a Kptfile at the root is a change with a problem",
			before: map[string]string{"a/Kptfile": kpt("a")},
			after:  map[string]string{"Kptfile": kpt("root"), "a/Kptfile": kpt("a"), "b/Kptfile": kpt("b")},
			// The packages below the root disappear with it.
			want: []change{{Path: "", New: true, Problem: true}, {Path: "a", Old: true}},
		},
		{
			name:   "a Kptfile at the root is not a package",
			before: map[string]string{"a/Kptfile": kpt("a")},
			after:  map[string]string{"Kptfile": kpt("root"), "a/Kptfile": kpt("a"), "b/Kptfile": kpt("b")},
			opt:    push,
			want:   []change{{Path: "b", New: true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := gittest.New(t)
			oldTree := ""
			if tc.before != nil {
				r.Write(tc.before)
				oldTree = r.Rev(r.Commit("before") + "^{tree}")
				r.Git("rm", "-rq", ".")
			}
			r.Write(tc.after)
			newTree := r.Rev(r.Commit("after") + "^{tree}")
			repo, err := gitrepo.Open(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			rd := New(context.Background(), repo, revision.Config{Repository: "r", Branch: "main"})
			defer rd.Close()
			changes, err := rd.DiffPackages(oldTree, newTree, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			got := []change{}
			for _, c := range changes {
				got = append(got, change{Path: c.Path, Old: c.Old != "", New: c.New != "", Problem: c.Problem != ""})
				// The trees are the directory's on each side.
				for _, side := range []struct{ tree, id string }{{oldTree, c.Old}, {newTree, c.New}} {
					if side.id == "" {
						continue
					}
					want := side.tree
					if c.Path != "" {
						want = r.Rev(side.tree + ":" + c.Path)
					}
					if side.id != want {
						t.Errorf("%s: tree %s, want %s", c.Path, side.id, want)
					}
				}
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("DiffPackages (-got +want):\n%s", diff)
			}
		})
	}
}
