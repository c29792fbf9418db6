package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

var _ store.RepositoryLocks = (*Store)(nil)

// repositoryLockBase is added to a repository's id to make the key of its
// write lock (PostgreSQL's advisory locks share one space of keys): "pkgw"
// in ASCII in the upper half, apart from the migrations' and claims' keys.
const repositoryLockBase = 0x706b6777 << 32

// repositoryLockConns bounds the connections a Store holds locks with: as
// many repositories may be written at once by one replica; more wait.
const repositoryLockConns = 16

// repositoryUnlockTimeout bounds the release of a repository lock; past
// it the connection is dropped, which releases the lock too.
const repositoryUnlockTimeout = 10 * time.Second

// LockRepository takes the write lock of repository id: on PostgreSQL a
// session-level advisory lock, held by a connection of the Store's lock
// pool until the release, so that the lock ends with the connection if the
// process dies. Waiting for it ends with ctx. With SQLite, where one
// process writes, it returns at once.
func (s *Store) LockRepository(ctx context.Context, id int64) (func(), error) {
	if s.locks == nil {
		return func() {}, nil
	}
	conn, err := s.locks.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock repository %d: %w", id, err)
	}
	key := int64(repositoryLockBase) + id
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock repository %d: %w", id, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), repositoryUnlockTimeout)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// The session must end, and the lock with it.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}
