// Package sqlstore implements the index (store.Store) on SQL databases:
// SQLite, embedded in one file of the data directory, and PostgreSQL to scale
// out, shared by several replicas. One set of portable queries and
// migrations serves both; dialect.go holds every difference (placeholders,
// column types, locks and isolation, how other processes' writes are
// noticed).
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver

	"github.com/pkgserver/pkgserver/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQL implementation of store.Store.
type Store struct {
	// db serves reads; wdb holds the connection writes go through.
	db  *sql.DB
	wdb *sql.DB
	d   dialect
	// writeMu serializes write transactions where the database allows one
	// writer (SQLite): a transaction never fails for want of the lock.
	writeMu *sync.Mutex
	changes broadcaster
	path    string
	// id names the Store in the notifications of its writes, which its
	// own listener ignores (PostgreSQL).
	id string
	// locks are the connections that hold repositories' write locks
	// (PostgreSQL; locks.go), apart from the pool the writes themselves
	// use, so that writes holding locks never wait for a connection that
	// other lock holders keep.
	locks *sql.DB

	// stmts holds the read queries prepared on db, by text: preparing
	// (parsing and planning) costs as much as running a small query.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	gen generation
}

var _ store.Store = (*Store)(nil)

// OpenSQLite opens (creating it if needed) the SQLite index at path, in WAL
// mode with full synchronous commits, and applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	// The busy timeout comes first: setting WAL mode waits for the
	// connections of other processes opening the file at the same time.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)" +
		"&_pragma=temp_store(MEMORY)"
	// One connection writes (SQLite allows one writer), with a page cache
	// of 64 MiB so that a full index of 100,000 revisions does not reread
	// pages it just wrote; it is closed after a minute idle, giving the
	// cache back. Its transactions take the file's write lock when they
	// begin (BEGIN IMMEDIATE), waiting for another process's: a transaction
	// that read first and wrote after another process committed would fail
	// (SQLITE_BUSY) rather than wait.
	wdb, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-65536)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(time.Minute)
	// Readers run in parallel (WAL), each on a connection of its own with
	// an 8 MiB cache, kept open: opening one parses the schema and loads
	// the planner's statistics, which costs more than a query. They are
	// read-only, so a mistake cannot write past the writer's lock. The
	// caches are per connection (SQLite's shared cache would pin one read
	// snapshot for all, and memory-mapping counts the file once per
	// connection), so there are few: twice the cores, at least 4.
	db, err := sql.Open("sqlite", dsn+"&_pragma=cache_size(-8192)&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, err
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(readers)
	db.SetMaxIdleConns(readers)
	s := newStore(db, wdb, sqliteDialect)
	s.path = path
	if err := s.migrateSQLite(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	if err := s.optimize(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	s.gen.stop, s.gen.done = make(chan struct{}), make(chan struct{})
	go s.pollExternal()
	return s, nil
}

// newStore returns a Store over its databases, not yet migrated.
func newStore(db, wdb *sql.DB, d dialect) *Store {
	s := &Store{db: db, wdb: wdb, d: d, stmts: map[string]*sql.Stmt{}, id: string(newUID())}
	if d.singleWriter {
		s.writeMu = &sync.Mutex{}
	}
	return s
}

// optimize refreshes the statistics the query planner chooses indexes by
// (the dialect's optimize).
func (s *Store) optimize(ctx context.Context) error {
	if s.d.optimize == nil {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error { return s.d.optimize(ctx, tx) })
}

// Path is the file of a SQLite index, "" for PostgreSQL.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	if s.gen.stop != nil {
		close(s.gen.stop)
		<-s.gen.done
		s.gen.stop = nil
	}
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	var lerr error
	if s.locks != nil {
		lerr = s.locks.Close()
	}
	if s.wdb == s.db {
		return errors.Join(s.db.Close(), lerr)
	}
	return errors.Join(s.db.Close(), s.wdb.Close(), lerr)
}

// stmt returns a read query prepared on db. Callers pass a bounded set of
// query texts (values are always parameters).
//
// The lock is not held while preparing, which waits for a connection: a
// caller holding one in a transaction may be waiting for the lock (with
// every connection so held, neither would move). Transactions take their
// statements from txStmt.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	query = s.q(query)
	if st, ok, err := s.cachedStmt(query); ok || err != nil {
		return st, err
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if s.stmts == nil {
		st.Close()
		return nil, errors.New("the index is closed")
	}
	if prev, ok := s.stmts[query]; ok {
		st.Close()
		return prev, nil
	}
	s.stmts[query] = st
	return st, nil
}

// cachedStmt returns the prepared statement of a query (in the dialect's
// placeholders), if there is one.
func (s *Store) cachedStmt(query string) (*sql.Stmt, bool, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if s.stmts == nil {
		return nil, false, errors.New("the index is closed")
	}
	st, ok := s.stmts[query]
	return st, ok, nil
}

// txStmt returns a read query as a statement of tx: the prepared one,
// bound to tx's connection, or, until it is prepared, one prepared on tx's
// connection, while the prepared one is made in the background. A
// transaction never waits for a second connection: with every connection
// held by transactions waiting for one, none would come.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, ok, err := s.cachedStmt(s.q(query))
	if err != nil {
		return nil, err
	}
	if ok {
		return tx.StmtContext(ctx, st), nil
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = s.stmt(ctx, query)
	}()
	return tx.PrepareContext(ctx, s.q(query))
}

// DB exposes the database to tests of this package's users.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) q(query string) string { return s.d.q(query) }

// migrateSQLite migrates a SQLite file, trying again for a while when it is
// busy: the first connections to a new file may find it locked, without
// waiting for the lock, while another process opening it at the same time
// turns it to WAL mode.
func (s *Store) migrateSQLite(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.migrate(ctx)
		if err == nil || !isSQLiteBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20*time.Millisecond + rand.N(30*time.Millisecond)):
		}
	}
}

// migrate applies, in order and each in its own transaction, the migrations
// not yet applied. Each transaction starts with the dialect's migration
// lock: processes opening one database together apply each migration once.
func (s *Store) migrate(ctx context.Context) error {
	if err := s.migrationWrite(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	}); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(base[:strings.IndexByte(base, '_')])
		if err != nil {
			return fmt.Errorf("migration %s: bad name", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := s.migrationWrite(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range splitStatements(s.d.ddl(dropComments(string(body)))) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %s: %w", base, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, time.Now().Unix())
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// migrationWrite runs fn in a write transaction under the dialect's
// migration lock.
func (s *Store) migrationWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if s.d.migrationLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.migrationLock); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		return fn(tx)
	})
}

// dropComments drops the comment lines of a migration: a placeholder a
// comment names is not expanded there.
func dropComments(body string) string {
	var b strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// splitStatements splits a migration at semicolons ending a line, dropping
// comments.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// write runs fn in a write transaction.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.writeMu != nil {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.changes.notify()
	return nil
}

// retriedWrite runs fn as write does, and again, a few times, when the
// database aborted it for a concurrent transaction (isRetryable): for
// writes of many rows that two processes may write in different orders
// and so deadlock on. It waits a random while first, so that the
// transaction let through is done by then. fn must be safe to run again.
func (s *Store) retriedWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.write(ctx, fn)
		if err == nil || attempt == 5 || !isRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * (20*time.Millisecond + rand.N(80*time.Millisecond))):
		}
	}
}

// versionedWrite runs fn in a write transaction that may take a resource
// version, or deletes rows that such writes delete, after the dialect's
// lock of the resource version (see dialect.lockVersions): those writes
// are serialized, and commit in the order of their resource versions.
func (s *Store) versionedWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if s.d.lockVersions != "" {
			if _, err := tx.ExecContext(ctx, s.d.lockVersions); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// nextResourceVersion takes the next value of the store-wide, monotonic
// resource version. Every object a transaction changes gets the same one,
// and the transaction records their events: the watchers of other
// processes are told at its commit.
func (s *Store) nextResourceVersion(ctx context.Context, tx *sql.Tx) (int64, error) {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE counters SET value = value + 1 WHERE name = 'resource_version'`)); err != nil {
		return 0, err
	}
	var rv int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT value FROM counters WHERE name = 'resource_version'`)).Scan(&rv); err != nil {
		return 0, err
	}
	return rv, s.notifyOthers(ctx, tx)
}

// notifyOthers has the dialect wake, at the transaction's commit, the
// watchers of the other Stores on the database.
func (s *Store) notifyOthers(ctx context.Context, tx *sql.Tx) error {
	if s.d.notify == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.q(s.d.notify), s.id)
	return err
}

// readTx begins a read transaction whose queries see one snapshot.
func (s *Store) readTx(ctx context.Context) (*sql.Tx, error) {
	opts := s.d.readTx
	return s.db.BeginTx(ctx, &opts)
}

// chunks splits ids so that no query carries more than a few hundred
// parameters.
func chunks(ids []string, size int) [][]string {
	var out [][]string
	for len(ids) > size {
		out = append(out, ids[:size])
		ids = ids[size:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

func args(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
