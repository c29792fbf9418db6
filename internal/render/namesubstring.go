package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// ensureNameSubstring is the catalog's ensure-name-substring, not implemented yet.
func ensureNameSubstring(rl *framework.ResourceList) error {
	return fmt.Errorf("ensure-name-substring: %w", ErrUnsupported)
}
