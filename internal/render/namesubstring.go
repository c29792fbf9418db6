package render

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/filters/fieldspec"
	"sigs.k8s.io/kustomize/api/filters/nameref"
	"sigs.k8s.io/kustomize/api/hasher"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	k8syaml "sigs.k8s.io/yaml"
)

// ensureNameSubstringConfig is ensure-name-substring's functionConfig of
// kind EnsureNameSubstring. The catalog's code reads extra name fields
// from fieldSpecs, its README from additionalNameFields: both are taken.
type ensureNameSubstringConfig struct {
	APIVersion           string         `json:"apiVersion"`
	Kind                 string         `json:"kind"`
	Metadata             map[string]any `json:"metadata,omitempty"`
	Substring            string         `json:"substring"`
	EditMode             string         `json:"editMode,omitempty"`
	FieldSpecs           types.FsSlice  `json:"fieldSpecs,omitempty"`
	AdditionalNameFields types.FsSlice  `json:"additionalNameFields,omitempty"`
}

// The edit modes of ensure-name-substring.
const (
	editPrepend = "prepend"
	editAppend  = "append"
)

// nameSkipped are the kinds whose names ensure-name-substring leaves alone.
var nameSkipped = []resid.Gvk{
	{Kind: "CustomResourceDefinition"},
	{Group: "apiregistration.k8s.io", Kind: "APIService"},
	{Kind: "Namespace"},
}

// kustomizeBuildAnnotations are the annotations kustomize's resources
// carry while names change, removed afterwards. resource.BuildAnnotations
// also lists kio's path and index annotations, which must stay.
var kustomizeBuildAnnotations = []string{
	"internal.config.kubernetes.io/previousKinds",
	"internal.config.kubernetes.io/previousNames",
	"internal.config.kubernetes.io/prefixes",
	"internal.config.kubernetes.io/suffixes",
	"internal.config.kubernetes.io/previousNamespaces",
	"internal.config.kubernetes.io/allowNameChange",
	"internal.config.kubernetes.io/allowKindChange",
	"internal.config.kubernetes.io/refBy",
	"internal.config.kubernetes.io/generatorBehavior",
	"internal.config.kubernetes.io/needsHashSuffix",
}

// ensureNameSubstring is the catalog's ensure-name-substring: the
// substring is prepended or appended to every name that does not already
// contain it (metadata.name, and the extra name fields of an
// EnsureNameSubstring functionConfig), except those of Namespaces,
// CustomResourceDefinitions and APIServices; the fields of other resources
// that name a renamed resource (kustomize's name references) follow it.
func ensureNameSubstring(rl *framework.ResourceList) error {
	cfg, err := nameSubstringParams(rl.FunctionConfig)
	if err != nil {
		return fmt.Errorf("ensure-name-substring: %w", err)
	}
	rf := resource.NewFactory(&hasher.Hasher{})
	rf.IncludeLocalConfigs = true
	m, err := resmap.NewFactory(rf).NewResMapFromRNodeSlice(rl.Items)
	if err != nil {
		return fmt.Errorf("ensure-name-substring: failed to convert items to resource map: %w", err)
	}
	fs := slices.Concat(types.FsSlice{{Path: "metadata/name"}}, cfg.FieldSpecs, cfg.AdditionalNameFields)
	hadAnnotations := map[*yaml.Node]bool{}
	for _, r := range m.Resources() {
		a, _ := r.Pipe(yaml.Lookup(yaml.MetadataField, yaml.AnnotationsField))
		hadAnnotations[r.YNode()] = a != nil
		if err := ensureSubstring(r, cfg, fs); err != nil {
			return fmt.Errorf("ensure-name-substring: failed to transform name substring: %w", err)
		}
	}
	// The name references are set by overwriting their nodes, comments
	// and quoting lost; they are given back.
	var scalars []savedNode
	for _, n := range rl.Items {
		scalars = saveScalars(n.YNode(), scalars)
	}
	if err := fixNameReferences(m); err != nil {
		return fmt.Errorf("ensure-name-substring: failed to fix name back reference: %w", err)
	}
	restoreComments(scalars)
	for _, r := range m.Resources() {
		if err := removeBuildAnnotations(&r.RNode, hadAnnotations[r.YNode()]); err != nil {
			return fmt.Errorf("ensure-name-substring: %w", err)
		}
	}
	return nil
}

// ensureSubstring edits the name fields fs of one resource.
func ensureSubstring(r *resource.Resource, cfg *ensureNameSubstringConfig, fs types.FsSlice) error {
	id := r.OrgId()
	if slices.ContainsFunc(nameSkipped, func(g resid.Gvk) bool { return id.IsSelected(&g) }) {
		return nil
	}
	edit := func(v string) string {
		if cfg.EditMode == editAppend {
			return v + cfg.Substring
		}
		return cfg.Substring + v
	}
	for _, f := range fs {
		if !id.IsSelected(&f.Gvk) {
			continue
		}
		if f.Path == "metadata/name" {
			if strings.Contains(r.GetName(), cfg.Substring) {
				continue
			}
			// The name's history lets the references to it follow.
			r.StorePreviousId()
			if cfg.EditMode == editAppend {
				r.AddNameSuffix(cfg.Substring)
			} else {
				r.AddNamePrefix(cfg.Substring)
			}
		}
		err := r.PipeE(fieldspec.Filter{
			FieldSpec:  f,
			CreateKind: yaml.ScalarNode,
			CreateTag:  yaml.NodeTagString,
			SetValue: func(n *yaml.RNode) error {
				if v := n.YNode().Value; !strings.Contains(v, cfg.Substring) {
					n.YNode().Value = edit(v)
				}
				return nil
			},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// saveScalars appends the scalar nodes under n, as they are, to saved.
func saveScalars(n *yaml.Node, saved []savedNode) []savedNode {
	if n.Kind == yaml.ScalarNode {
		return append(saved, savedNode{at: n, was: *n})
	}
	for _, c := range n.Content {
		saved = saveScalars(c, saved)
	}
	return saved
}

// fixNameReferences updates, in each resource, the fields that name a
// resource whose name changed.
func fixNameReferences(m resmap.ResMap) error {
	var config struct {
		NameReference []struct {
			resid.Gvk  `json:",inline"`
			FieldSpecs types.FsSlice `json:"fieldSpecs"`
		} `json:"nameReference"`
	}
	if err := k8syaml.Unmarshal([]byte(nameReferenceFieldSpecs), &config); err != nil {
		return fmt.Errorf("built-in name reference field specs: %w", err)
	}
	for _, r := range m.Resources() {
		var candidates resmap.ResMap
		for _, ref := range config.NameReference {
			for _, f := range ref.FieldSpecs {
				if !r.OrgId().IsSelected(&f.Gvk) {
					continue
				}
				if candidates == nil {
					var err error
					if candidates, err = m.SubsetThatCouldBeReferencedByResource(r); err != nil {
						return err
					}
				}
				err := r.ApplyFilter(nameref.Filter{
					Referrer:           r,
					NameFieldToUpdate:  f,
					ReferralTarget:     ref.Gvk,
					ReferralCandidates: candidates,
				})
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// removeBuildAnnotations removes kustomize's build annotations one by one,
// keeping the order and comments of the others, and the annotations field
// itself when the resource had one.
func removeBuildAnnotations(n *yaml.RNode, hadAnnotations bool) error {
	for _, a := range kustomizeBuildAnnotations {
		if err := n.PipeE(yaml.ClearAnnotation(a)); err != nil {
			return err
		}
	}
	if hadAnnotations || len(n.GetAnnotations()) > 0 {
		return nil
	}
	return n.PipeE(yaml.Lookup(yaml.MetadataField), yaml.Clear(yaml.AnnotationsField))
}

// nameSubstringParams decodes and validates ensure-name-substring's
// functionConfig, a ConfigMap or an EnsureNameSubstring.
func nameSubstringParams(config *yaml.RNode) (*ensureNameSubstringConfig, error) {
	if config == nil {
		return nil, fmt.Errorf("a functionConfig is required: give the function a configMap")
	}
	var cfg ensureNameSubstringConfig
	switch {
	case config.GetApiVersion() == "v1" && config.GetKind() == "ConfigMap":
		data := config.GetDataMap()
		if len(data) != 1 {
			return nil, fmt.Errorf("only 1 entry is allowed in the ConfigMap, but got: %d", len(data))
		}
		for k, v := range data {
			cfg.EditMode, cfg.Substring = k, v
		}
	case config.GetApiVersion() == fnConfigAPIVersion && config.GetKind() == "EnsureNameSubstring":
		s, err := config.String()
		if err != nil {
			return nil, err
		}
		if err := k8syaml.UnmarshalStrict([]byte(s), &cfg); err != nil {
			return nil, fmt.Errorf("functionConfig EnsureNameSubstring: %w", err)
		}
		if cfg.EditMode == "" {
			cfg.EditMode = editPrepend
		}
	default:
		return nil, fmt.Errorf("function config must be either v1 ConfigMap or %s EnsureNameSubstring, but we got: %s %s",
			fnConfigAPIVersion, config.GetApiVersion(), config.GetKind())
	}
	if cfg.EditMode != editPrepend && cfg.EditMode != editAppend {
		return nil, fmt.Errorf("unknown editMode: %v, only %v and %v are allowed", cfg.EditMode, editPrepend, editAppend)
	}
	if cfg.Substring == "" {
		return nil, fmt.Errorf("substring must not be empty")
	}
	return &cfg, nil
}
