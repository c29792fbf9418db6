package render

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/api/filters/fsslice"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/utils"
	"sigs.k8s.io/kustomize/kyaml/yaml"
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
	if err := setMapEntries(rl.Items, data, fs); err != nil {
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
	if err := setMapEntries(rl.Items, data, fs); err != nil {
		return fmt.Errorf("set-annotations: %w", err)
	}
	return nil
}

// settingTag is the tag a string value carries while setMapEntries sets
// it, and only then: kyaml's FieldSetter skips its YAML 1.1 check for a
// value not tagged as a string.
const settingTag = "!render-setting"

// setMapEntries does what kustomize's labels and annotations filters do:
// each entry, in the order of the keys, is set in the mappings the field
// specs fs locate in each resource (created where a spec says so), through
// kustomize's fsslice filter, as a scalar tagged !!str that every field
// set in the resource shares. kustomize walks the specs once per entry;
// here each spec's mappings are found once and every entry set in them, in
// the same order: no path of the built-in specs goes through a mapping
// another spec of the same kind sets entries in, so the walks find the
// same mappings, and each entry's node is set in the same sequence of
// fields. Where a spec's path is all mappings, found by their fields or
// created, the walk is made here and the entries set in the mapping at its
// end; a spec that creates nothing is not walked further in a resource
// that lacks a field of its path, as the filter's walk would end there.
// Any other walk (one that meets a sequence, an alias or a null) is the
// filter's.
//
// kyaml's FieldSetter double-quotes a value that YAML 1.1 reads as other
// than a string (yes, 0x10, ~), which it finds by parsing the value with a
// YAML 1.1 parser each time it sets it; here that is found once per entry,
// and a value that needs no quotes is set under settingTag, its !!str tag
// put back on each field set.
func setMapEntries(nodes []*yaml.RNode, entries map[string]string, fs types.FsSlice) error {
	keys := yaml.SortedMapKeys(entries)
	quoted := make([]bool, len(keys))
	for i, k := range keys {
		quoted[i] = yaml.IsValueNonString(entries[k])
	}
	walks := specWalks(fs)
	// Each resource is set on its own, in parallel: the walks and the
	// fields set belong to it alone.
	return eachParallel(len(nodes), func(n int) error {
		node := nodes[n]
		values := make([]yaml.Node, len(keys))
		for i, k := range keys {
			values[i] = yaml.Node{Kind: yaml.ScalarNode, Value: entries[k], Tag: yaml.NodeTagString}
			if !quoted[i] {
				values[i].Tag = settingTag
			}
		}
		set := func(m *yaml.RNode) error {
			for i, k := range keys {
				if err := setEntry(m, k, &values[i]); err != nil {
					return err
				}
			}
			return nil
		}
		kind := node.GetKind()
		group, version := resid.ParseGroupVersion(node.GetApiVersion())
		var err error
		for j := range fs {
			if !gvkMatches(fs[j], kind, group, version) {
				continue
			}
			switch target, ok := walkTarget(node.YNode(), walks[j]); {
			case ok && target == nil:
				continue
			case ok:
				err = set(yaml.NewRNode(target))
			default:
				err = node.PipeE(fsslice.Filter{FsSlice: fs[j : j+1], SetValue: set, CreateKind: yaml.MappingNode, CreateTag: yaml.NodeTagMap})
			}
			if err != nil {
				break
			}
		}
		for i := range values {
			values[i].Tag = yaml.NodeTagString
		}
		return err
	})
}

// gvkMatches is the check of kustomize's fieldspec filter that a field
// spec applies to a resource of kind and API group and version: the
// filter changes nothing in any other.
func gvkMatches(spec types.FieldSpec, kind, group, version string) bool {
	return (spec.Kind == "" || spec.Kind == kind) && (spec.Group == "" || spec.Group == group) &&
		(spec.Version == "" || spec.Version == version)
}

// specWalk is what setMapEntries knows of a field spec before it walks a
// resource: its path where every step names a field, split as kustomize
// splits it (nil for any other), and whether it creates what is missing.
type specWalk struct {
	path   []string
	create bool
}

func specWalks(fs types.FsSlice) []specWalk {
	walks := make([]specWalk, len(fs))
	for j, spec := range fs {
		walks[j].create = spec.CreateIfNotPresent
		parts := utils.PathSplitter(spec.Path, "/")
		if !slices.ContainsFunc(parts, func(p string) bool { return !plainStep(p) }) {
			walks[j].path = parts
		}
	}
	return walks
}

// plainStep tells whether kyaml looks a path step up as a field of a
// mapping by its name alone: not a sequence's ([]), an index, a list
// entry, a wildcard, nor one it trims.
func plainStep(p string) bool {
	if p == "" || p == "-" || p == "*" || strings.TrimSpace(p) != p || strings.HasSuffix(p, "[]") || yaml.IsListIndex(p) {
		return false
	}
	_, err := strconv.Atoi(p)
	return err != nil
}

// walkTarget follows a field spec's path from n as kustomize's fieldspec
// filter does where the path holds mappings only, found by their fields:
// it returns the mapping the filter would set entries in, creating the
// fields missing on the way as empty mappings, each after its mapping's
// fields, as kyaml's FieldSetter appends them, where the spec creates; or
// nil where a walk that creates nothing lacks a field (the filter's walk
// ends there, without a change). ok is false for anything else: a
// sequence, an alias, a null or a scalar on the way or at the end, which
// are left to the filter.
func walkTarget(n *yaml.Node, w specWalk) (target *yaml.Node, ok bool) {
	if w.path == nil {
		return nil, false
	}
	for _, p := range w.path {
		if n == nil || n.Kind != yaml.MappingNode || n.Tag == yaml.NodeTagNull {
			return nil, false
		}
		v := fieldValue(n, p)
		if v == nil {
			if !w.create {
				return nil, true
			}
			v = &yaml.Node{Kind: yaml.MappingNode}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p}, v)
		}
		n = v
	}
	if n.Kind != yaml.MappingNode || n.Tag == yaml.NodeTagNull {
		return nil, false
	}
	return n, true
}

// setEntry is what kustomize's filtersutil.SetEntry sets, over a value
// node given: a field it creates holds the node, one that exists gets a
// copy of it, whose tag is put back here.
func setEntry(m *yaml.RNode, name string, value *yaml.Node) error {
	set, err := m.Pipe(yaml.FieldSetter{Name: name, Value: yaml.NewRNode(value)})
	if set != nil && set.YNode() != value && set.YNode().Tag == settingTag {
		set.YNode().Tag = yaml.NodeTagString
	}
	return err
}
