package store

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
