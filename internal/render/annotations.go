package render

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The annotations a render keeps on resources while it runs (file, index,
// package, id) are read and written here directly on the YAML nodes, with
// kyaml's semantics: a new annotation is appended to metadata.annotations
// (created, with metadata, where missing) as a single-quoted string; a
// changed one keeps its value's style; an empty annotations mapping goes
// before one is set. kyaml's own helpers decode a resource's whole
// metadata for every annotation read, which made them most of a render's
// bookkeeping time.

// resourceMapping returns the mapping node of a resource, through its
// document node if it has one; nil when the resource is not a mapping.
func resourceMapping(rn *yaml.RNode) *yaml.Node {
	if rn == nil {
		return nil
	}
	n := rn.YNode()
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// fieldIndex returns the index in m.Content of the value of field key, or
// -1 (the first such field, as kyaml finds it).
func fieldIndex(m *yaml.Node, key string) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i + 1
		}
	}
	return -1
}

// fieldValue returns the value of field key of mapping m, or nil.
func fieldValue(m *yaml.Node, key string) *yaml.Node {
	if i := fieldIndex(m, key); i >= 0 {
		return m.Content[i]
	}
	return nil
}

// annotationsNode returns a resource's metadata.annotations mapping, or nil.
func annotationsNode(rn *yaml.RNode) *yaml.Node {
	a := fieldValue(fieldValue(resourceMapping(rn), yaml.MetadataField), yaml.AnnotationsField)
	if a == nil || a.Kind != yaml.MappingNode {
		return nil
	}
	return a
}

// annotation returns the value of a resource's annotation key.
func annotation(rn *yaml.RNode, key string) (string, bool) {
	v := fieldValue(annotationsNode(rn), key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return "", false
	}
	return v.Value, true
}

// annotationValue is annotation's value alone, "" where it is missing.
func annotationValue(rn *yaml.RNode, key string) string {
	v, _ := annotation(rn, key)
	return v
}

// setAnnotation sets annotation key of a resource to value, as kyaml's
// SetAnnotation does.
func setAnnotation(rn *yaml.RNode, key, value string) {
	setAnnotationList(rn, [][2]string{{key, value}})
}

// setAnnotationList sets annotations of a resource, keys and values, in
// order, as setAnnotation does one: their nodes allocated together, and
// room made for all of them at once.
func setAnnotationList(rn *yaml.RNode, kvs [][2]string) {
	m := resourceMapping(rn)
	if m == nil {
		return
	}
	free := make([]yaml.Node, 2*len(kvs))
	for i, kv := range kvs {
		clearEmptyAnnotations(rn)
		meta := mappingFieldCreate(m, yaml.MetadataField)
		annotations := mappingFieldCreate(meta, yaml.AnnotationsField)
		if i == 0 {
			annotations.Content = slices.Grow(annotations.Content, 2*len(kvs))
		}
		v, k := &free[2*i], &free[2*i+1]
		v.SetString(kv[1])
		if j := fieldIndex(annotations, kv[0]); j >= 0 {
			v.Style = annotations.Content[j].Style
			annotations.Content[j] = v
			continue
		}
		v.Style = yaml.SingleQuotedStyle
		k.Kind, k.Tag, k.Value = yaml.ScalarNode, yaml.NodeTagString, kv[0]
		annotations.Content = append(annotations.Content, k, v)
	}
}

// mappingFieldCreate returns the mapping value of field key of m, appending
// an empty one where there is none (or replacing a value that is not a
// mapping, null included).
func mappingFieldCreate(m *yaml.Node, key string) *yaml.Node {
	if i := fieldIndex(m, key); i >= 0 {
		if v := m.Content[i]; v.Kind == yaml.MappingNode {
			return v
		}
		v := &yaml.Node{Kind: yaml.MappingNode}
		m.Content[i] = v
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: key}, v)
	return v
}

// clearAnnotation removes a resource's annotation key, leaving an empty
// annotations mapping where it was the last (kyaml's ClearAnnotation).
func clearAnnotation(rn *yaml.RNode, key string) {
	a := annotationsNode(rn)
	if i := fieldIndex(a, key); i >= 0 {
		a.Content = append(a.Content[:i-1:i-1], a.Content[i+1:]...)
	}
}

// clearEmptyAnnotations removes an empty metadata.annotations, then an
// empty metadata (kyaml's ClearEmptyAnnotations).
func clearEmptyAnnotations(rn *yaml.RNode) {
	m := resourceMapping(rn)
	meta := fieldValue(m, yaml.MetadataField)
	if meta == nil {
		return
	}
	removeEmptyField(meta, yaml.AnnotationsField)
	removeEmptyField(m, yaml.MetadataField)
}

// removeEmptyField removes field key of m when its value is empty or null.
func removeEmptyField(m *yaml.Node, key string) {
	i := fieldIndex(m, key)
	if i < 0 {
		return
	}
	v := m.Content[i]
	if len(v.Content) > 0 || v.Kind == yaml.ScalarNode && v.ShortTag() != yaml.NodeTagNull && v.Value != "" {
		return
	}
	m.Content = append(m.Content[:i-1:i-1], m.Content[i+1:]...)
}

// fileAnnotations returns a resource's file and index annotations, the
// current ones or else the legacy ones (kioutil.GetFileAnnotations).
func fileAnnotations(rn *yaml.RNode) (file, index string) {
	a := annotationsNode(rn)
	file, index = scalarField(a, kioutil.PathAnnotation), scalarField(a, kioutil.IndexAnnotation)
	if fieldIndex(a, kioutil.PathAnnotation) < 0 {
		file = scalarField(a, legacyPathAnnotation)
	}
	if fieldIndex(a, kioutil.IndexAnnotation) < 0 {
		index = scalarField(a, legacyIndexAnnotation)
	}
	return file, index
}

func scalarField(m *yaml.Node, key string) string {
	if v := fieldValue(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// legacyPairs are the annotations kyaml keeps under two names, the legacy
// name first.
var legacyPairs = [][2]string{
	{legacyPathAnnotation, kioutil.PathAnnotation},
	{legacyIndexAnnotation, kioutil.IndexAnnotation},
	{legacyIDAnnotation, kioutil.IdAnnotation},
}

// copyLegacyAnnotations gives each of the pairs' names the other's value
// where only one is set (kioutil.CopyLegacyAnnotations).
func copyLegacyAnnotations(rn *yaml.RNode) {
	a := annotationsNode(rn)
	if a == nil {
		return
	}
	for _, p := range legacyPairs {
		legacy, current := scalarField(a, p[0]), scalarField(a, p[1])
		switch {
		case current != "" && legacy == "":
			setAnnotation(rn, p[0], current)
		case current == "" && legacy != "":
			setAnnotation(rn, p[1], legacy)
		}
	}
}

// defaultPathAnnotation gives each resource without a file kyaml's default
// one in dir, [NAMESPACE/]KIND_NAME.yaml lowercased
// (kioutil.DefaultPathAnnotation).
func defaultPathAnnotation(dir string, nodes []*yaml.RNode) {
	for _, n := range nodes {
		copyLegacyAnnotations(n)
		if _, ok := annotation(n, kioutil.PathAnnotation); ok {
			continue
		}
		p := defaultPath(dir, n)
		setAnnotation(n, kioutil.PathAnnotation, p)
		setAnnotation(n, legacyPathAnnotation, p)
	}
}

// defaultPathAndIndexAnnotation is defaultPathAnnotation, then an index
// for each resource without one, after the highest index of its file
// (kioutil.DefaultPathAndIndexAnnotation).
func defaultPathAndIndexAnnotation(dir string, nodes []*yaml.RNode) {
	counts := map[string]int{}
	for _, n := range nodes {
		copyLegacyAnnotations(n)
		p, ok := annotation(n, kioutil.PathAnnotation)
		if !ok {
			p = defaultPath(dir, n)
			setAnnotation(n, kioutil.PathAnnotation, p)
			setAnnotation(n, legacyPathAnnotation, p)
			continue
		}
		if i, ok := annotation(n, kioutil.IndexAnnotation); ok {
			index, _ := strconv.Atoi(i)
			counts[p] = max(counts[p], index)
		}
	}
	for _, n := range nodes {
		if _, ok := annotation(n, kioutil.IndexAnnotation); ok {
			continue
		}
		p := annotationValue(n, kioutil.PathAnnotation)
		c := counts[p]
		counts[p] = c + 1
		setAnnotation(n, kioutil.IndexAnnotation, strconv.Itoa(c))
		setAnnotation(n, legacyIndexAnnotation, strconv.Itoa(c))
	}
}

// defaultPath is kioutil.CreatePathAnnotationValue.
func defaultPath(dir string, n *yaml.RNode) string {
	m := resourceMapping(n)
	meta := fieldValue(m, yaml.MetadataField)
	name := strings.ToLower(scalarField(m, yaml.KindField)) + "_" + scalarField(meta, yaml.NameField) + ".yaml"
	return path.Join(dir, scalarField(meta, yaml.NamespaceField), name)
}
