package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// runStarlark is the catalog's starlark, not implemented yet.
func runStarlark(rl *framework.ResourceList) error {
	return fmt.Errorf("starlark: %w", ErrUnsupported)
}
