package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// applyReplacements is the catalog's apply-replacements, not implemented yet.
func applyReplacements(rl *framework.ResourceList) error {
	return fmt.Errorf("apply-replacements: %w", ErrUnsupported)
}
