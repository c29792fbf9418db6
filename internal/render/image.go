package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// setImage is the catalog's set-image, not implemented yet.
func setImage(rl *framework.ResourceList) error {
	return fmt.Errorf("set-image: %w", ErrUnsupported)
}
