// Package store is pkgserver's index: registered repositories, and the
// package revisions and their files derived from git. The revisions are a
// cache of git that can be rebuilt at any time; repositories are the index's
// own data. Implementations: sqlstore (SQLite embedded, PostgreSQL).
package store

import "errors"

// Errors of the store.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict is returned for a write whose expected resource version is
	// not the object's current one.
	ErrConflict = errors.New("conflict: the object has been modified")
	// ErrInvalidContinue is returned for a continue token the store did not
	// issue.
	ErrInvalidContinue = errors.New("invalid continue token")
	// ErrCompacted is returned for a resource version older than the
	// oldest change the store still holds: the caller must list again.
	ErrCompacted = errors.New("resource version too old")
)

// Store is the index, composed of its roles: each consumer asks for the
// roles it uses, and a new backend implements and tests them one by one
// (storetest has a suite per role).
type Store interface {
	Repositories
	Index
	IndexWriter
	Validations
	Events
	FieldManagers
	Auth
	Sessions
	Secrets
	Deliveries
	PullRequests
	Checks
	DeliveryLeases
	CheckLeases
	SyncLeases
	PullRequestRefreshes

	Close() error
}
