package store

import "context"

// ManagedFields are the field managers of an object whose metadata the
// index does not keep with it: a package revision or its resources (their
// labels and annotations live in git, in the Kptfile). They go with the
// object's repository.
type ManagedFields struct {
	Namespace string
	// Resource is the object's resource (packagerevisions,
	// packagerevisionresources).
	Resource string
	Name     string
	// Repository is the repository the object belongs to.
	Repository string
	// Fields are the entries (metadata.managedFields) as JSON.
	Fields []byte
}

// FieldManagers are the field managers of objects whose metadata the index
// does not keep with them (package revisions and their resources), which
// the API records for server-side apply.
type FieldManagers interface {
	// ManagedFields returns the field managers recorded for an object whose
	// metadata the index does not keep (ErrNotFound when none are).
	// SetManagedFields replaces them (ErrNotFound when the object's
	// repository is not registered); DeleteManagedFields forgets those of
	// every resource of a name (a deleted revision's). An index update that
	// removes a revision forgets its managers in the same transaction.
	ManagedFields(ctx context.Context, namespace, resource, name string) (*ManagedFields, error)
	SetManagedFields(ctx context.Context, m *ManagedFields) error
	DeleteManagedFields(ctx context.Context, namespace, name string) error
}
