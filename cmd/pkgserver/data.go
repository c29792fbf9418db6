package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// dataFlags locate pkgserver's data: --data and --database, or the
// PKGSERVER_DATA and PKGSERVER_DATABASE environment variables.
type dataFlags struct {
	dir      string
	database string
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (d *dataFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&d.dir, "data", envOr("PKGSERVER_DATA", ".pkgserver"), "data directory (PKGSERVER_DATA)")
	fs.StringVar(&d.database, "database", envOr("PKGSERVER_DATABASE", ""), "database URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE (or postgresql://...), sqlite://PATH; default SQLite in the data directory (PKGSERVER_DATABASE)")
}

// openStore opens the index: the database URL given, else SQLite in the
// data directory.
func (d *dataFlags) openStore(ctx context.Context) (*sqlstore.Store, error) {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	db := d.database
	switch {
	case db == "":
		return sqlstore.OpenSQLite(ctx, filepath.Join(d.dir, "index.db"))
	case strings.HasPrefix(db, "sqlite://"):
		return sqlstore.OpenSQLite(ctx, strings.TrimPrefix(db, "sqlite://"))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return sqlstore.OpenPostgres(ctx, db)
	default:
		return nil, fmt.Errorf("--database %s: unsupported database (want postgres://... or postgresql://..., or sqlite://PATH)", redacted(db))
	}
}

// redacted names a database URL by its scheme alone, for errors: the rest
// may hold a password, however it is written.
func redacted(db string) string {
	if u, err := url.Parse(db); err == nil && u.Scheme != "" && u.Opaque == "" {
		return u.Scheme + "://..."
	}
	return "..."
}

// logger writes structured logs to standard error.
func logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
