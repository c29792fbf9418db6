package sqlstore

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSize: the size of the index is that of the SQLite file with its log,
// or of the PostgreSQL database.
func TestSize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	lite, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if n, err := lite.Size(ctx); err != nil || n < 4096 {
		t.Errorf("SQLite: %d, %v", n, err)
	}
	post, err := OpenPostgres(ctx, pg.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer post.Close()
	if n, err := post.Size(ctx); err != nil || n < 1<<20 {
		t.Errorf("PostgreSQL: %d, %v", n, err)
	}
}
