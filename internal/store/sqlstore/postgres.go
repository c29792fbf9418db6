package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// This file opens the index on PostgreSQL, where several processes (the
// replicas of a server, a `pkgserver reindex`) share one database, and
// wakes the watchers of each at the others' writes.

// listenerName is the application_name of the connection that listens for
// the notifications of writes, as pg_stat_activity shows it.
const listenerName = "pkgserver-listener"

// OpenPostgres opens the index in the PostgreSQL database at url
// (postgres://user:password@host:port/database?options, or key=value
// pairs), applies pending migrations, and listens for the writes of other
// processes. Errors name the database and host, never the password.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The parser's message may quote the URL.
		return nil, errors.New("open index: the PostgreSQL URL does not parse")
	}
	name := describePostgres(cfg.Database, cfg.Host, cfg.Port)
	// One pool serves reads and writes: PostgreSQL takes concurrent
	// writers, each on a connection of its own.
	db := stdlib.OpenDB(*cfg)
	conns := max(8, 4*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := newStore(db, db, postgresDialect)
	s.locks = stdlib.OpenDB(*cfg)
	s.locks.SetMaxOpenConns(repositoryLockConns)
	s.locks.SetMaxIdleConns(2)
	s.locks.SetConnMaxIdleTime(time.Minute)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open index %s: %w", name, err)
	}
	listenCfg := cfg.Copy()
	if listenCfg.RuntimeParams == nil {
		listenCfg.RuntimeParams = map[string]string{}
	}
	listenCfg.RuntimeParams["application_name"] = listenerName
	l := &listener{cfg: listenCfg, s: s}
	conn, err := l.connect(ctx)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open index %s: listen: %w", name, err)
	}
	s.gen.stop, s.gen.done = make(chan struct{}), make(chan struct{})
	go l.run(conn)
	return s, nil
}

// listener wakes a Store's watchers, and ends its generation of revisions,
// when another process commits a write that records events: such writes
// notify eventsChannel (nextResourceVersion), and the listener waits for
// the notifications on a connection of its own. The notification only
// wakes; the watchers read the events table, from where they were. A lost
// connection is made again, and the watchers are woken then since
// notifications may have been missed meanwhile.
type listener struct {
	cfg *pgx.ConnConfig
	s   *Store
}

// listenRetry bounds the wait between two attempts to listen again.
const listenRetry = 2 * time.Second

// listenPing is how long a quiet listening connection waits before it
// checks that the server is still there (a server gone without closing the
// connection, in a failover, would otherwise be noticed only by TCP's
// keepalives, minutes later). A variable for tests.
var listenPing = 30 * time.Second

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+eventsChannel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// run waits for notifications until the Store closes.
func (l *listener) run(conn *pgx.Conn) {
	defer close(l.s.gen.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.s.gen.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			if conn = l.reconnect(ctx); conn == nil {
				return // closed
			}
			l.wake() // what was notified while no one listened
		}
		if !l.wait(ctx, conn) {
			conn.Close(context.Background())
			conn = nil
		}
	}
	if conn != nil {
		conn.Close(context.Background())
	}
}

// reconnect listens again, at once and then after growing pauses, until
// it does or the Store closes (nil).
func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	delay := 100 * time.Millisecond
	for {
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, listenRetry)
	}
}

// wait waits for a notification, and wakes the watchers at one of another
// Store's write. It reports whether the connection is still good: after
// listenPing without a notification, whether the server answers.
func (l *listener) wait(ctx context.Context, conn *pgx.Conn) bool {
	wctx, cancel := context.WithTimeout(ctx, listenPing)
	defer cancel()
	n, err := conn.WaitForNotification(wctx)
	switch {
	case err == nil:
		if n.Payload != l.s.id {
			l.wake()
		}
		return true
	case ctx.Err() != nil || conn.IsClosed() || wctx.Err() == nil:
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return conn.Ping(pctx) == nil
}

func (l *listener) wake() {
	l.s.revisionsChanged()
	l.s.changes.notify()
}
