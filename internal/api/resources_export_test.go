package api

import "testing"

// SetResourcesChunk makes lists of resources read n revisions per read
// transaction for the rest of a test.
func SetResourcesChunk(t testing.TB, n int) {
	old := resourcesChunk
	resourcesChunk = n
	t.Cleanup(func() { resourcesChunk = old })
}
