package selector

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// MaxRequirements bounds the requirements of a selector: the index answers
// each with a condition of its query, and SQL engines bound how deep a
// query's expression may be (SQLite at 1,000).
const MaxRequirements = 100

// Labels parses a labelSelector parameter.
func Labels(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid labelSelector: %v", err)
	}
	if reqs, _ := sel.Requirements(); len(reqs) > MaxRequirements {
		return nil, fmt.Errorf("labelSelector has %d requirements: at most %d are supported", len(reqs), MaxRequirements)
	}
	return sel, nil
}

// Fields parses a fieldSelector parameter whose fields must be among
// supported (named in the error otherwise).
func Fields(s string, supported []string) (fields.Selector, error) {
	sel, err := fields.ParseSelector(s)
	if err != nil {
		return nil, fmt.Errorf("invalid fieldSelector: %v", err)
	}
	reqs := sel.Requirements()
	if len(reqs) > MaxRequirements {
		return nil, fmt.Errorf("fieldSelector has %d requirements: at most %d are supported", len(reqs), MaxRequirements)
	}
	for _, r := range reqs {
		if !slices.Contains(supported, r.Field) {
			return nil, fmt.Errorf("fieldSelector: field %q is not supported (%s)", r.Field, strings.Join(supported, ", "))
		}
	}
	return sel, nil
}

// Equalities parses a fieldSelector parameter made of equalities only (=
// or ==) on fields among supported, each given one value, not empty: the
// conditions an index answers by equality. It returns the value of each
// field given.
func Equalities(s string, supported []string) (map[string]string, error) {
	sel, err := Fields(s, supported)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, r := range sel.Requirements() {
		if r.Operator != selection.Equals && r.Operator != selection.DoubleEquals {
			return nil, fmt.Errorf("fieldSelector %q: only = and == are supported", s)
		}
		if v, ok := values[r.Field]; ok && v != r.Value {
			return nil, fmt.Errorf("fieldSelector: %s is given two values", r.Field)
		}
		if r.Value == "" {
			return nil, fmt.Errorf("fieldSelector: %s needs a value", r.Field)
		}
		values[r.Field] = r.Value
	}
	return values, nil
}
