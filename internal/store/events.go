package store

import (
	"context"
	"time"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
)

// Event types of a watch.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
)

// Event is a change of a package revision, with its state then (its last
// state for a deletion).
type Event struct {
	Type     string
	Revision Revision
	// Previous is, for a modification, the revision before it as selectors
	// see it (its fields and meta; not its validation), so that a watch
	// with a selector tells a revision entering or leaving it from one
	// that never matched.
	Previous *Revision `json:",omitempty"`
}

// RepositoryEvent is a change of a repository, with its state then (its
// last state for a deletion) and, for a modification, its state before.
type RepositoryEvent struct {
	Type            string
	ResourceVersion int64
	Repository      configv1alpha1.Repository
	Previous        *configv1alpha1.Repository
}

// EventFilter narrows the changes of revisions read to those of one
// namespace, repository or revision name; "" is any.
type EventFilter struct {
	Namespace  string
	Repository string
	Name       string
}

// Events is the index's history of changes, that watches read: the
// changes of revisions and of repositories after a resource version, and
// the signals that something changed.
type Events interface {
	// Events returns the changes of revisions after a resource version, in
	// order, at most limit; ErrCompacted when changes after it are gone.
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
	// FilteredEvents returns as Events does the changes of the revisions
	// a filter selects: ErrCompacted only when changes of those are gone
	// (a full reindex of a repository compacts that repository's).
	FilteredEvents(ctx context.Context, after int64, limit int, f EventFilter) ([]Event, error)
	// RepositoryEvents returns the changes of repositories after a
	// resource version as Events does those of revisions: creations,
	// updates of spec and status, deletions.
	RepositoryEvents(ctx context.Context, after int64, limit int) ([]RepositoryEvent, error)

	// ResourceVersion is the store's current resource version.
	ResourceVersion(ctx context.Context) (int64, error)
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
	// RevisionGeneration changes whenever package revisions change: at
	// once for changes made through this Store, and within a fraction of a
	// second for changes another process made to the same database. What
	// was read of revisions in one generation stays true until it ends.
	// Where other processes write (PostgreSQL), it asks the database.
	RevisionGeneration() uint64
	// KnownRevisionGeneration is the generation as this Store knows it,
	// without asking the database: enough to tell that it moved while a
	// revision was read, since the next RevisionGeneration asks.
	KnownRevisionGeneration() uint64
	// CompactEvents forgets changes older than a time.
	CompactEvents(ctx context.Context, before time.Time) error
}
