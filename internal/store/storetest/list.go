package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, ns := range []string{"a", "b"} {
		repo := mustCreate(t, s, ns, "cat")
		pkgs := map[string][]revision.Revision{}
		for i := range 5 {
			pkg := fmt.Sprintf("p%d", i)
			v1 := rev("cat", pkg, "v1", revision.Published, 1, "t")
			v2 := rev("cat", pkg, "v2", revision.Published, 2, "t")
			v2.Latest = true
			pkgs[pkg] = []revision.Revision{v1, v2, rev("cat", pkg, "draft", revision.Draft, 0, "t")}
		}
		if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: pkgs,
			Trees: []store.Tree{{ID: "t", Files: []store.File{{Path: "Kptfile", BlobID: "b"}}}}, Blobs: blobs(map[string]string{"b": "x"})}); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	for _, tc := range []struct {
		opts store.ListOptions
		want int
	}{
		{store.ListOptions{}, 30},
		{store.ListOptions{Namespace: "a"}, 15},
		{store.ListOptions{Namespace: "a", Package: "p3"}, 3},
		{store.ListOptions{Lifecycle: "Draft"}, 10},
		{store.ListOptions{Namespace: "b", Revision: "v2"}, 5},
		{store.ListOptions{Namespace: "b", Workspace: "draft", Package: "p0"}, 1},
		{store.ListOptions{Latest: &yes}, 10},
		{store.ListOptions{Repository: "nope"}, 0},
	} {
		list, err := s.ListRevisions(ctx, tc.opts)
		if err != nil || len(list.Items) != tc.want {
			t.Errorf("%+v: %v, want %d revisions", tc.opts, err, tc.want)
		}
	}
	// Pages of 7 cover everything once, in order.
	var seen []string
	opts := store.ListOptions{Limit: 7}
	for page := 0; ; page++ {
		list, err := s.ListRevisions(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		next := list.Continue
		for _, r := range list.Items {
			seen = append(seen, r.Namespace+"/"+r.Name)
		}
		if next == "" {
			break
		}
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		opts.Continue = next
	}
	if len(seen) != 30 {
		t.Fatalf("paginated %d revisions, want 30", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] >= seen[i] {
			t.Fatalf("order broken at %s, %s", seen[i-1], seen[i])
		}
	}
	if _, err := s.ListRevisions(ctx, store.ListOptions{Continue: "!!"}); !errors.Is(err, store.ErrInvalidContinue) {
		t.Error("a forged continue token was accepted")
	}
	if _, err := s.GetRevision(ctx, "a", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
}

func testListResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "res", "cat")
	trees := []store.Tree{
		{ID: "res-t1", Files: []store.File{{Path: "Kptfile", BlobID: "res-b1"}, {Path: "svc/a.yaml", BlobID: "res-b2"}}},
		{ID: "res-t2", Files: []store.File{{Path: "Kptfile", BlobID: "res-b1"}, {Path: "b.yaml", BlobID: "res-b3"}}},
	}
	a := rev("cat", "a", "v1", revision.Published, 1, "res-t1")
	b := rev("cat", "b", "v1", revision.Published, 1, "res-t2")
	c := rev("cat", "c", "v1", revision.Published, 1, "res-t1")
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: trees, Blobs: blobs(map[string]string{"res-b1": "k", "res-b2": "a", "res-b3": "b"}),
		Packages: map[string][]revision.Revision{"a": {a}, "b": {b}, "c": {c}}}); err != nil {
		t.Fatal(err)
	}
	read := resourceReader(t, s, repo, trees, b)
	list, got := read(store.ListOptions{Namespace: "res", Limit: 2})
	if list.Continue == "" || len(got) != 2 {
		t.Fatalf("first page: %v, continue %q", got, list.Continue)
	}
	contents := map[string]map[string]string{}
	err := s.ListResources(ctx, store.ListOptions{Namespace: "res"}, func(l *store.RevisionList, files func(int, bool) (map[string][]byte, error)) error {
		for i, r := range l.Items {
			f, err := files(i, true)
			if err != nil {
				return err
			}
			m := map[string]string{}
			for p, d := range f {
				m[p] = string(d)
			}
			contents[r.Name] = m
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"cat.a.v1": {"Kptfile": "k", "svc/a.yaml": "a"},
		"cat.b.v1": {"Kptfile": "k", "b.yaml": "b"},
		"cat.c.v1": {"Kptfile": "k", "svc/a.yaml": "a"},
	}
	if diff := cmp.Diff(want, contents); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	// The page after the first, and one revision by name.
	list, got = read(store.ListOptions{Namespace: "res", Limit: 2, Continue: list.Continue})
	if len(got) != 1 || list.Continue != "" || list.Items[0].Name != "cat.c.v1" {
		t.Errorf("second page: %v, continue %q", got, list.Continue)
	}
	if _, got = read(store.ListOptions{Namespace: "res", Name: "cat.b.v1"}); len(got) != 1 || got[0] != "cat.b.v1 2 files" {
		t.Errorf("by name: %v", got)
	}
	if names := revisionNames(t, s, store.ListOptions{Name: "cat.c.v1"}); len(names) != 1 {
		t.Errorf("list by name: %v", names)
	}
}

// resourceReader returns a function that reads the resources of a page
// of revisions while another write removes b, and puts b back after.
func resourceReader(t *testing.T, s store.Store, repo *store.Repository, trees []store.Tree, b revision.Revision) func(store.ListOptions) (*store.RevisionList, []string) {
	ctx := context.Background()
	return func(opts store.ListOptions) (*store.RevisionList, []string) {
		t.Helper()
		var list *store.RevisionList
		var got []string
		err := s.ListResources(ctx, opts, func(l *store.RevisionList, files func(int, bool) (map[string][]byte, error)) error {
			list = l
			// Another write meanwhile changes nothing of what is read: b
			// loses its revision and its tree is collected.
			if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"b": nil}}); err != nil {
				return err
			}
			for i, r := range l.Items {
				f, err := files(i, true)
				if err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("%s %d files", r.Name, len(f)))
				// The paths alone, from the same snapshot.
				paths, err := files(i, false)
				if err != nil {
					return err
				}
				for p, data := range paths {
					if _, ok := f[p]; !ok || data != nil {
						t.Errorf("path %s of %s: %q, in the files: %v", p, r.Name, data, ok)
					}
				}
				if len(paths) != len(f) {
					t.Errorf("%s: %d paths, %d files", r.Name, len(paths), len(f))
				}
				if r.Name == "cat.b.v1" && string(f["b.yaml"]) != "b" {
					t.Errorf("b's resources read after it was deleted: %q", f)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Put b back for the next read.
		if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: trees[1:], Blobs: blobs(map[string]string{"res-b3": "b"}),
			Packages: map[string][]revision.Revision{"b": {b}}}); err != nil {
			t.Fatal(err)
		}
		return list, got
	}
}
