package render

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// builtinFunc is a KRM function run in process: it reads the ResourceList's
// items and functionConfig, edits the items in place and appends its
// results. An error fails the function.
type builtinFunc func(rl *framework.ResourceList) error

// builtins are the catalog functions implemented here, by name.
var builtins = map[string]builtinFunc{
	"apply-replacements":    applyReplacements,
	"apply-setters":         applySetters,
	"ensure-name-substring": ensureNameSubstring,
	"search-replace":        searchReplace,
	"set-annotations":       setAnnotations,
	"set-image":             setImage,
	"set-labels":            setLabels,
	"set-namespace":         setNamespace,
	"starlark":              runStarlark,
}

// catalogPrefixes are the registries the kpt function catalog publishes
// its images under, the old and the current.
var catalogPrefixes = []string{
	"gcr.io/kpt-fn/",
	"ghcr.io/kptdev/krm-functions-catalog/",
}

// catalogName returns the catalog function an image names, its tag or
// digest dropped, and whether it is one of the catalog's at all.
func catalogName(image string) (string, bool) {
	for _, p := range catalogPrefixes {
		rest, ok := strings.CutPrefix(image, p)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '@'); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			rest = rest[:i]
		}
		if rest == "" || strings.Contains(rest, "/") {
			return "", false
		}
		return rest, true
	}
	return "", false
}

// lookupBuiltin returns the built-in function serving an image.
func lookupBuiltin(image string) (builtinFunc, error) {
	if name, ok := catalogName(image); ok {
		if fn, ok := builtins[name]; ok {
			return fn, nil
		}
	}
	return nil, fmt.Errorf("function image %q: %w", image, ErrNoRuntime)
}

// newConfigMap builds the functionConfig kpt builds from a function's
// configMap: a ConfigMap named function-input whose data holds every value
// as a string.
func newConfigMap(data map[string]string) (*yaml.RNode, error) {
	if len(data) == 0 {
		return nil, nil
	}
	cm := yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: function-input\ndata: {}\n")
	node := yaml.NewMapRNode(&data)
	if err := node.VisitFields(func(f *yaml.MapNode) error {
		f.Value.YNode().Tag = yaml.NodeTagString
		return nil
	}); err != nil {
		return nil, err
	}
	if err := cm.PipeE(yaml.SetField("data", node)); err != nil {
		return nil, err
	}
	return cm, nil
}

// configMapData returns a ConfigMap functionConfig's data, and an error
// naming the function for any other functionConfig.
func configMapData(name string, config *yaml.RNode) (map[string]string, error) {
	if config == nil {
		return nil, fmt.Errorf("%s: a functionConfig is required: give the function a configMap", name)
	}
	if config.GetApiVersion() != "v1" || config.GetKind() != "ConfigMap" {
		return nil, fmt.Errorf("%s: functionConfig must be a ConfigMap, not %s %s", name, config.GetApiVersion(), config.GetKind())
	}
	return config.GetDataMap(), nil
}
