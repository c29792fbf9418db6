package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pkgserver/pkgserver/internal/store/pgtest"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// backend is one database the bench measures: SQLite in the data
// directory, or a database of the throwaway PostgreSQL cluster.
type backend struct {
	name string // "SQLite" or "PostgreSQL"
	pg   *pgtest.Cluster
	// dataDir and database of the last full index, which the API and
	// approval phases serve.
	dataDir, database, dbName string
	repoDir                   string // its own copy of the repository
	runs                      []indexRun
	startSync                 time.Duration
	api                       apiResult
	approve                   approveResult
}

func (b *backend) tag() string { return strings.ToLower(b.name) }

func (b *backend) postgres() bool { return b.pg != nil }

// indexRun is one `pkgserver reindex` into an empty index.
type indexRun struct {
	took      time.Duration
	rssKB     int64
	bytes     int64
	revisions int
}

// fullIndex registers the repository in an empty index of the backend and
// runs `pkgserver reindex` into it as a separate process: its wall time,
// peak RSS (as indexbench measures it) and the index's size on disk.
func (b *backend) fullIndex(ctx context.Context, out, bin, repoDir string, run int) indexRun {
	var st *sqlstore.Store
	var err error
	dataDir := filepath.Join(out, fmt.Sprintf("data-%s-%d", b.tag(), run))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	database, dbName := "", fmt.Sprintf("index_%d", run)
	if b.postgres() {
		if database, err = b.pg.CreateDatabase(ctx, dbName); err == nil {
			st, err = sqlstore.OpenPostgres(ctx, database)
		}
	} else {
		st, err = sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	}
	if err != nil {
		log.Fatal(err)
	}
	repo := storetest.NewRepository("default", repoName)
	repo.Object.Spec.Git.URL = repoDir
	err = st.CreateRepository(ctx, repo)
	st.Close()
	if err != nil {
		log.Fatal(err)
	}

	cmd := exec.Command(bin, databaseArgs([]string{"reindex", "--data", dataDir}, database)...)
	var stdout strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("reindex into %s: %v", b.name, err)
	}
	r := indexRun{took: time.Since(start), rssKB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss}
	if n, err := fmt.Sscanf(stdout.String(), "default/"+repoName+": %d packages, %d revisions", new(int), &r.revisions); n != 2 || err != nil {
		log.Fatalf("reindex printed %q", stdout.String())
	}
	if b.postgres() {
		if r.bytes, err = b.pg.DatabaseSize(ctx, dbName); err != nil {
			log.Fatal(err)
		}
	} else {
		r.bytes = sqliteSize(filepath.Join(dataDir, "index.db"))
	}

	// The last run's index is kept for the phases after; earlier ones go.
	if b.dataDir != "" {
		os.RemoveAll(b.dataDir)
		if b.postgres() {
			if err := b.pg.DropDatabase(ctx, b.dbName); err != nil {
				log.Fatal(err)
			}
		}
	}
	b.dataDir, b.database, b.dbName = dataDir, database, dbName
	b.runs = append(b.runs, r)
	return r
}

// sqliteSize is the size of a SQLite file with its log.
func sqliteSize(path string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// databaseArgs adds --database to a command's arguments, unless the
// database is the data directory's SQLite file.
func databaseArgs(args []string, database string) []string {
	if database == "" {
		return args
	}
	return append(args, "--database", database)
}

// createToken makes an API token of a role, valid in every namespace, in
// an index.
func createToken(bin, dataDir, database, role string) string {
	name := "bench-" + role + "-" + fmt.Sprint(time.Now().UnixNano())
	b, err := exec.Command(bin, databaseArgs([]string{"token", "create", name, "--role", role, "--namespace", "*", "--data", dataDir}, database)...).Output()
	if err != nil {
		log.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(b))
}
