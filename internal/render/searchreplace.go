package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// searchReplace is the catalog's search-replace, not implemented yet.
func searchReplace(rl *framework.ResourceList) error {
	return fmt.Errorf("search-replace: %w", ErrUnsupported)
}
