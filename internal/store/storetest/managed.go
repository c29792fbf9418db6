package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestFieldManagers tests the field managers of package revisions and
// their resources (store.FieldManagers), which go with their repository and
// their revision. Its fixtures need the repositories' and the index writer's
// roles too.
func TestFieldManagers(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []test[store.Store]{
		{"ManagedFields", testManagedFields},
	})
}

// testManagedFields checks the field managers kept for package revisions
// and their resources: replaced, kept apart by resource, forgotten by name,
// with their repository and with their revision when an index update
// removes it.
func testManagedFields(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "default", "cat")
	mustCreate(t, s, "default", "dog")
	if _, err := s.ManagedFields(ctx, "default", "packagerevisions", "cat.a.ws"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("none recorded: %v, want ErrNotFound", err)
	}
	set := func(m store.ManagedFields) {
		t.Helper()
		if err := s.SetManagedFields(ctx, &m); err != nil {
			t.Fatal(err)
		}
	}
	revFields := store.ManagedFields{Namespace: "default", Resource: "packagerevisions", Name: "cat.a.ws", Repository: "cat",
		Fields: []byte(`[{"manager":"kubectl","operation":"Apply"}]`)}
	res := store.ManagedFields{Namespace: "default", Resource: "packagerevisionresources", Name: "cat.a.ws", Repository: "cat",
		Fields: []byte(`[{"manager":"edit","operation":"Update"}]`)}
	dog := store.ManagedFields{Namespace: "default", Resource: "packagerevisions", Name: "dog.b.ws", Repository: "dog",
		Fields: []byte(`[{"manager":"ci","operation":"Apply"}]`)}
	set(revFields)
	set(res)
	set(dog)
	get := func(resource, name string) *store.ManagedFields {
		t.Helper()
		got, err := s.ManagedFields(ctx, "default", resource, name)
		if err != nil {
			t.Fatalf("%s %s: %v", resource, name, err)
		}
		return got
	}
	if diff := cmp.Diff(&revFields, get("packagerevisions", "cat.a.ws")); diff != "" {
		t.Errorf("revision's (-set +got):\n%s", diff)
	}
	if diff := cmp.Diff(&res, get("packagerevisionresources", "cat.a.ws")); diff != "" {
		t.Errorf("resources' (-set +got):\n%s", diff)
	}

	// A second write replaces the first.
	revFields.Fields = []byte(`[{"manager":"kubectl","operation":"Apply"},{"manager":"ci","operation":"Update"}]`)
	set(revFields)
	if diff := cmp.Diff(&revFields, get("packagerevisions", "cat.a.ws")); diff != "" {
		t.Errorf("after replacing (-set +got):\n%s", diff)
	}

	if err := s.SetManagedFields(ctx, &store.ManagedFields{Namespace: "default", Resource: "packagerevisions", Name: "x.a.ws",
		Repository: "x", Fields: []byte(`[]`)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("for a repository not registered: %v, want ErrNotFound", err)
	}

	// Deleting a revision's forgets both of its resources, nothing else.
	if err := s.DeleteManagedFields(ctx, "default", "cat.a.ws"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"packagerevisions", "packagerevisionresources"} {
		if _, err := s.ManagedFields(ctx, "default", r, "cat.a.ws"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after delete: %v, want ErrNotFound", r, err)
		}
	}
	get("packagerevisions", "dog.b.ws")

	// They go with their repository.
	if err := s.DeleteRepository(ctx, "default", "dog"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ManagedFields(ctx, "default", "packagerevisions", "dog.b.ws"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after deleting the repository: %v, want ErrNotFound", err)
	}
	testManagedFieldsOfRemovedRevisions(t, s, set)
}

// testManagedFieldsOfRemovedRevisions: an index update that removes a
// revision forgets its managers.
func testManagedFieldsOfRemovedRevisions(t *testing.T, s store.Store, set func(store.ManagedFields)) {
	ctx := context.Background()
	// An index update that removes a revision forgets its managers, in
	// incremental updates and full ones; the others' stay.
	bird := mustCreate(t, s, "default", "bird")
	tree := []store.Tree{{ID: "mf-t", Files: []store.File{{Path: "Kptfile", BlobID: "mf-b"}}}}
	p, q := rev("bird", "p", "ws", revision.Draft, 0, "mf-t"), rev("bird", "q", "ws", revision.Draft, 0, "mf-t")
	if err := s.UpdateIndex(ctx, bird.ID, &store.IndexUpdate{Trees: tree, Blobs: blobs(map[string]string{"mf-b": "x"}),
		Packages: map[string][]revision.Revision{"p": {p}, "q": {q}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{p.Name, q.Name} {
		for _, r := range []string{"packagerevisions", "packagerevisionresources"} {
			set(store.ManagedFields{Namespace: "default", Resource: r, Name: name, Repository: "bird", Fields: []byte(`[{"manager":"ci"}]`)})
		}
	}
	gone := func(name string, want bool) {
		t.Helper()
		for _, r := range []string{"packagerevisions", "packagerevisionresources"} {
			if _, err := s.ManagedFields(ctx, "default", r, name); errors.Is(err, store.ErrNotFound) != want {
				t.Errorf("%s of %s: %v, want gone %v", r, name, err, want)
			}
		}
	}
	if err := s.UpdateIndex(ctx, bird.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"p": nil}}); err != nil {
		t.Fatal(err)
	}
	gone(p.Name, true)
	gone(q.Name, false)
	set(store.ManagedFields{Namespace: "default", Resource: "packagerevisions", Name: p.Name, Repository: "bird", Fields: []byte(`[]`)})
	if err := s.UpdateIndex(ctx, bird.ID, &store.IndexUpdate{Full: true, Trees: tree,
		Packages: map[string][]revision.Revision{"q": {q}}}); err != nil {
		t.Fatal(err)
	}
	gone(p.Name, true)
	gone(q.Name, false)
	if err := s.UpdateIndex(ctx, bird.ID, &store.IndexUpdate{Full: true}); err != nil {
		t.Fatal(err)
	}
	gone(q.Name, true)
}
