package render

import (
	"strconv"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// resourceIDAnnotation is kpt's: it numbers the resources of a pipeline
// while a function with selectors or exclusions runs, so that its output
// can be matched with its input. Functions see it.
const resourceIDAnnotation = "internal.config.k8s.io/kpt-resource-id"

// selectInput returns the resources a function sees, as kpt selects them:
// with selectors, those matching any of them (all when there are none);
// without those matching any non-empty exclusion.
func selectInput(nodes []*yaml.RNode, selectors, exclusions []krm.Selector) []*yaml.RNode {
	var out []*yaml.RNode
	for _, n := range nodes {
		if len(selectors) > 0 && !matchesAny(n, selectors) {
			continue
		}
		if excluded(n, exclusions) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func matchesAny(n *yaml.RNode, selectors []krm.Selector) bool {
	for _, s := range selectors {
		if matches(n, s) {
			return true
		}
	}
	return false
}

func excluded(n *yaml.RNode, exclusions []krm.Selector) bool {
	for _, s := range exclusions {
		if !emptySelector(s) && matches(n, s) {
			return true
		}
	}
	return false
}

func emptySelector(s krm.Selector) bool {
	return s.APIVersion == "" && s.Kind == "" && s.Name == "" && s.Namespace == "" &&
		len(s.Labels) == 0 && len(s.Annotations) == 0
}

// matches says whether a resource matches every field a selector gives:
// apiVersion, kind, name and namespace exactly, and each label and
// annotation with its value.
func matches(n *yaml.RNode, s krm.Selector) bool {
	if s.APIVersion != "" && s.APIVersion != n.GetApiVersion() ||
		s.Kind != "" && s.Kind != n.GetKind() ||
		s.Name != "" && s.Name != n.GetName() ||
		s.Namespace != "" && s.Namespace != n.GetNamespace() {
		return false
	}
	return hasAll(n.GetLabels(), s.Labels) && hasAll(n.GetAnnotations(), s.Annotations)
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func setResourceIDs(nodes []*yaml.RNode) {
	for i, n := range nodes {
		setAnnotation(n, resourceIDAnnotation, strconv.Itoa(i))
	}
}

func clearResourceIDs(nodes []*yaml.RNode) {
	for _, n := range nodes {
		clearAnnotation(n, resourceIDAnnotation)
	}
}

// mergeWithInput merges a function's output over the selected part of
// input, as kpt does: an unselected resource stays where it was, a selected
// one is replaced by the output's resource of the same id or, when the
// output has none, deleted; output resources without an id (new ones) are
// added at the end.
func mergeWithInput(output, selected, input []*yaml.RNode) []*yaml.RNode {
	id := func(n *yaml.RNode) string { return annotationValue(n, resourceIDAnnotation) }
	byID := map[string]*yaml.RNode{}
	for _, n := range output {
		if _, dup := byID[id(n)]; id(n) != "" && !dup {
			byID[id(n)] = n
		}
	}
	isSelected := map[string]bool{}
	for _, n := range selected {
		isSelected[id(n)] = true
	}
	var result []*yaml.RNode
	for _, n := range input {
		if !isSelected[id(n)] {
			result = append(result, n)
		} else if o, ok := byID[id(n)]; ok {
			result = append(result, o)
		}
	}
	for _, n := range output {
		if id(n) == "" {
			result = append(result, n)
		}
	}
	return result
}
