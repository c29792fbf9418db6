package lifecycle

import "github.com/pkgserver/pkgserver/internal/store"

// Store is what the writer reads and writes of the index: the repositories
// it writes to, the package revisions with their files, and the validations
// of the trees it writes.
type Store interface {
	store.Repositories
	store.Index
	store.Validations
}
