package sqlstore

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "index.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatal(names, err)
	}
	path := filepath.Join(t.TempDir(), "index.db")
	for range 2 {
		s, err := OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(names) {
			t.Errorf("migrations recorded: %d, %v", n, err)
		}
		s.Close()
	}
}

// TestChangesOfAnotherProcess: two Stores on one file, as a server and a
// `pkgserver reindex` beside it. What one writes, the other's reads by name
// and its watchers see within the poll interval.
func TestChangesOfAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	open := func() *Store {
		s, err := OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	writer, server := open(), open()
	repo := storetest.NewRepository("default", "cat")
	if err := writer.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	update := func(tree string) {
		t.Helper()
		r := revision.Revision{Name: "cat.nginx.v1", Package: "nginx", Workspace: "v1", Revision: "v1", Number: 1,
			Lifecycle: revision.Published, Ref: "refs/tags/nginx/v1", Commit: "c-" + tree, Tree: tree}
		if err := writer.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{
			Trees:    []store.Tree{{ID: tree, Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b-" + tree}}}},
			Blobs:    func(put store.BlobPut) error { return put("b-"+tree, []byte(tree)) },
			Packages: map[string][]revision.Revision{"nginx": {r}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	update("t1")
	r, err := server.GetRevision(ctx, "default", "cat.nginx.v1")
	if err != nil || r.Tree != "t1" {
		t.Fatalf("first read: %+v, %v", r, err)
	}
	changed, gen := server.Changed(), server.RevisionGeneration()
	update("t2")
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's watchers were not woken by the other process's change")
	}
	if server.RevisionGeneration() == gen {
		t.Error("the server's revision generation did not end with the other process's change")
	}
	if r, err := server.GetRevision(ctx, "default", "cat.nginx.v1"); err != nil || r.Tree != "t2" {
		t.Errorf("after the other process's change: %+v, %v", r, err)
	}
}

// TestSQLiteConcurrentOpen: processes opening one new file at once (a
// server and a `pkgserver reindex`, two servers) all open it: a write
// transaction takes the file's lock at its start, waiting for the other's,
// rather than fail when it writes after reading what the other changed.
func TestSQLiteConcurrentOpen(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "index.db")
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				s, err := OpenSQLite(context.Background(), path)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, store %d: %v", round, i, err)
			}
		}
	}
}
