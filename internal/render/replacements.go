package render

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/filters/replacement"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"
)

// The functionConfig apply-replacements takes. Its first release took any
// apiVersion of kind Replacements, which the catalog's examples still use.
const (
	replacementsAPIVersion = "fn.kpt.dev/v1alpha1"
	replacementsKind       = "ApplyReplacements"
	replacementsOldKind    = "Replacements"
)

// applyReplacements is the catalog's apply-replacements: kustomize's
// replacements, written in the functionConfig's replacements field, copy a
// field of one resource into fields of others. A replacement that cannot
// be applied (no source, a source matched twice, a missing target field
// without create) is reported as an error result, as the catalog does.
func applyReplacements(rl *framework.ResourceList) error {
	rs, err := replacementsConfig(rl.FunctionConfig)
	if err != nil {
		return err
	}
	items, err := replacement.Filter{Replacements: rs}.Filter(rl.Items)
	if err != nil {
		rl.Results = append(rl.Results, &framework.Result{Message: err.Error(), Severity: framework.Error})
		return nil
	}
	rl.Items = items
	return nil
}

// replacementsConfig decodes apply-replacements' functionConfig strictly:
// a misspelt field of a replacement is an error, not a no-op.
func replacementsConfig(config *yaml.RNode) ([]types.Replacement, error) {
	if config == nil {
		return nil, fmt.Errorf("apply-replacements: a functionConfig of kind %s is required", replacementsKind)
	}
	kind, apiVersion := config.GetKind(), config.GetApiVersion()
	if kind != replacementsOldKind && (kind != replacementsKind || apiVersion != replacementsAPIVersion) {
		return nil, fmt.Errorf("apply-replacements: received functionConfig of kind %s and apiVersion %s, "+
			"only functionConfig of kind %s and apiVersion %s is supported",
			kind, apiVersion, replacementsKind, replacementsAPIVersion)
	}
	field := config.Field("replacements")
	if field.IsNilOrEmpty() {
		return nil, nil
	}
	s, err := field.Value.String()
	if err != nil {
		return nil, fmt.Errorf("apply-replacements: %w", err)
	}
	var rs []types.Replacement
	if err := k8syaml.UnmarshalStrict([]byte(s), &rs); err != nil {
		return nil, fmt.Errorf("apply-replacements: unable to convert functionConfig to replacements: %w", err)
	}
	return rs, nil
}
