package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// applySetters is the catalog's apply-setters, not implemented yet.
func applySetters(rl *framework.ResourceList) error {
	return fmt.Errorf("apply-setters: %w", ErrUnsupported)
}
