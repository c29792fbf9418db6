package render

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/api/filters/imagetag"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"
)

// The functionConfig kinds of the catalog's functions other than a
// ConfigMap share this group and version.
const fnConfigAPIVersion = "fn.kpt.dev/v1alpha1"

// imageFieldSpecs are the fields set-image sets: kustomize's defaults for
// images (sigs.k8s.io/kustomize/api, internal/konfig/builtinpluginconsts,
// v0.21.2, Apache-2.0), which kustomize keeps internal.
const imageFieldSpecs = `
- {path: "spec/containers[]/image", create: true}
- {path: "spec/initContainers[]/image", create: true}
- {path: "spec/volumes[]/image/reference", create: true}
- {path: "spec/template/spec/containers[]/image", create: true}
- {path: "spec/template/spec/initContainers[]/image", create: true}
- {path: "spec/template/spec/volumes[]/image/reference", create: true}
- {path: "spec/jobTemplate/spec/template/spec/volumes[]/image/reference", create: true}
`

// setImageConfig is set-image's functionConfig of kind SetImage.
type setImageConfig struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	// Image names the image to replace and what replaces it.
	Image types.Image `json:"image"`
	// AdditionalImageFields are image fields besides kustomize's.
	AdditionalImageFields types.FsSlice `json:"additionalImageFields,omitempty"`
}

// setImage is the catalog's set-image: every image named image.name (any
// tag or digest) in the standard image fields of each resource, and in the
// additionalImageFields of a SetImage functionConfig, takes the new name,
// tag or digest. Each image set is reported as an info result, as the
// catalog reports it; "no images changed" when there was none.
func setImage(rl *framework.ResourceList) error {
	cfg, err := setImageParams(rl.FunctionConfig)
	if err != nil {
		return fmt.Errorf("set-image: %w", err)
	}
	defaults, err := parseFieldSpecs(imageFieldSpecs)
	if err != nil {
		return err
	}
	var results framework.Results
	for _, n := range rl.Items {
		var set []savedNode
		f := imagetag.Filter{ImageTag: cfg.Image, FsSlice: slices.Concat(cfg.AdditionalImageFields, defaults)}
		f.WithMutationTracker(imageTracker(n, &results, &set))
		if _, err := f.Filter([]*yaml.RNode{n}); err != nil {
			return fmt.Errorf("set-image: %w", err)
		}
		restoreComments(set)
	}
	if len(results) == 0 {
		results = append(results, &framework.Result{Message: "no images changed", Severity: framework.Info})
	}
	results.Sort()
	rl.Results = append(rl.Results, results...)
	return nil
}

// imageTracker returns the callback that reports each image set in n and
// records, in set, the field's node as it was.
func imageTracker(n *yaml.RNode, results *framework.Results, set *[]savedNode) func(key, value, tag string, node *yaml.RNode) {
	path, index := fileAnnotations(n)
	i, _ := strconv.Atoi(index)
	ref := &yaml.ResourceIdentifier{
		TypeMeta: yaml.TypeMeta{APIVersion: n.GetApiVersion(), Kind: n.GetKind()},
		NameMeta: yaml.NameMeta{Name: n.GetName(), Namespace: n.GetNamespace()},
	}
	return func(_, value, _ string, node *yaml.RNode) {
		current := node.YNode().Value
		*set = append(*set, savedNode{at: node.YNode(), was: *node.YNode()})
		*results = append(*results, &framework.Result{
			Message:     fmt.Sprintf("set image from %s to %s", current, value),
			Severity:    framework.Info,
			ResourceRef: ref,
			Field:       &framework.Field{Path: strings.Join(node.FieldPath(), "."), CurrentValue: current, ProposedValue: value},
			File:        &framework.File{Path: path, Index: i},
		})
	}
}

// savedNode is a node as it was before a filter overwrote it.
type savedNode struct {
	at  *yaml.Node
	was yaml.Node
}

// restoreComments gives back the comments of the image fields set: the
// filter overwrites each field's node with a new one, comments and
// quoting lost.
func restoreComments(set []savedNode) {
	for _, s := range set {
		s.at.HeadComment, s.at.LineComment, s.at.FootComment = s.was.HeadComment, s.was.LineComment, s.was.FootComment
		s.at.Style = s.was.Style
	}
}

// setImageParams decodes and validates set-image's functionConfig, a
// ConfigMap or a SetImage.
func setImageParams(config *yaml.RNode) (*setImageConfig, error) {
	if config == nil {
		return nil, fmt.Errorf("a functionConfig is required: give the function a configMap")
	}
	var cfg setImageConfig
	switch {
	case config.GetApiVersion() == "v1" && config.GetKind() == "ConfigMap":
		data := config.GetDataMap()
		for k := range data {
			if !slices.Contains([]string{"name", "newName", "newTag", "digest"}, k) {
				return nil, fmt.Errorf("unknown key %q in the ConfigMap's data: only name, newName, newTag and digest are allowed", k)
			}
		}
		cfg.Image = types.Image{Name: data["name"], NewName: data["newName"], NewTag: data["newTag"], Digest: data["digest"]}
	case config.GetApiVersion() == fnConfigAPIVersion && config.GetKind() == "SetImage":
		s, err := config.String()
		if err != nil {
			return nil, err
		}
		if err := k8syaml.UnmarshalStrict([]byte(s), &cfg); err != nil {
			return nil, fmt.Errorf("functionConfig SetImage: %w", err)
		}
	default:
		return nil, fmt.Errorf("`functionConfig` must be a `ConfigMap` or `SetImage`, not %s %s", config.GetApiVersion(), config.GetKind())
	}
	im := cfg.Image
	switch {
	case im.Name == "":
		return nil, fmt.Errorf("missing image name")
	case im.NewName == "" && im.NewTag == "" && im.Digest == "":
		return nil, fmt.Errorf("missing image newName, newTag, or digest")
	case im.NewTag != "" && im.Digest != "":
		return nil, fmt.Errorf("image newTag and digest both set")
	}
	return &cfg, nil
}
