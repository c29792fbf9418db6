package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/filters/annotations"
	"sigs.k8s.io/kustomize/api/filters/labels"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// setLabels is the catalog's set-labels: every label of the ConfigMap's
// data is added to, or replaces the same key in, each resource's
// metadata.labels and the selectors and templates that must carry them
// (kustomize's commonLabels field specs).
func setLabels(rl *framework.ResourceList) error {
	data, err := configMapData("set-labels", rl.FunctionConfig)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("set-labels: input label list cannot be empty")
	}
	fs, err := parseFieldSpecs(labelFieldSpecs)
	if err != nil {
		return err
	}
	if _, err := (labels.Filter{Labels: data, FsSlice: fs}).Filter(rl.Items); err != nil {
		return fmt.Errorf("set-labels: %w", err)
	}
	return nil
}

// setAnnotations is the catalog's set-annotations: every annotation of the
// ConfigMap's data is added to, or replaces the same key in, each
// resource's metadata.annotations and its pod templates' (kustomize's
// commonAnnotations field specs).
func setAnnotations(rl *framework.ResourceList) error {
	data, err := configMapData("set-annotations", rl.FunctionConfig)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("set-annotations: input annotation list cannot be empty")
	}
	fs, err := parseFieldSpecs(annotationFieldSpecs)
	if err != nil {
		return err
	}
	if _, err := (annotations.Filter{Annotations: data, FsSlice: fs}).Filter(rl.Items); err != nil {
		return fmt.Errorf("set-annotations: %w", err)
	}
	return nil
}
