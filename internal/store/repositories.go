package store

import (
	"context"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// Repository is a registered repository.
type Repository struct {
	ID int64
	// Object is the Repository as the API shows it; its metadata's
	// resourceVersion and creationTimestamp are the store's.
	Object configv1alpha1.Repository
}

// Config returns the git contract's view of the repository.
func (r *Repository) Config() revision.Config {
	return revision.Config{
		Repository: r.Object.Name,
		Directory:  r.Object.Spec.Git.Directory,
		Branch:     r.Object.Spec.Git.BranchOrDefault(),
	}.Normalize()
}

// Repositories is the registry of repositories, the index's own data: the
// API writes their specs, the reconciler their status, and everything that
// works on a repository looks it up here first.
type Repositories interface {
	// CreateRepository registers a repository; it sets the ID and the
	// object's resource version and creation time.
	CreateRepository(ctx context.Context, r *Repository) error
	GetRepository(ctx context.Context, namespace, name string) (*Repository, error)
	ListRepositories(ctx context.Context, namespace string) ([]*Repository, error)
	// ListRepositoriesAt lists as ListRepositories does, with the store's
	// resource version of the same read: a watch from it sees every
	// change the list does not show, and none it does.
	ListRepositoriesAt(ctx context.Context, namespace string) ([]*Repository, int64, error)
	// UpdateRepository writes the object if its resource version is the
	// stored one (ErrConflict otherwise) and sets the new one.
	UpdateRepository(ctx context.Context, r *Repository) error
	// DeleteRepository removes a repository and everything indexed for it.
	DeleteRepository(ctx context.Context, namespace, name string) error

	// UpdateRepositoryStatus changes a repository's status, whatever its
	// resource version: the status is the server's. A change of nothing
	// but lastSyncTime is kept without a new resource version or an
	// event; no change writes nothing.
	UpdateRepositoryStatus(ctx context.Context, namespace, name string, fn func(*configv1alpha1.RepositoryStatus)) error
}
