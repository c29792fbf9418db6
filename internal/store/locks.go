package store

import "context"

// RepositoryLocks serialize the writes of one repository across the
// processes that share an index (replicas on one PostgreSQL database), as
// a process serializes its own: two writes of one repository on two
// replicas run one after the other, the second seeing what the first
// wrote.
type RepositoryLocks interface {
	// LockRepository waits until this process holds the write lock of the
	// repository of index id, and returns its release. A process that
	// dies holding it releases it with its connection. Where the index
	// has a single writing process (SQLite), it returns at once.
	LockRepository(ctx context.Context, id int64) (release func(), err error)
}
