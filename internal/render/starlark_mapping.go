package render

import (
	"slices"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// mappingNode converts a dict whose keys are all strings. Its keys and
// its string values, most of a resource's scalars, are built in one
// allocation.
func (c *starlarkConverter) mappingNode(d *starlark.Dict, ref *yaml.Node, depth int) (*yaml.Node, error) {
	items := d.Items()
	keys := make([]string, len(items))
	scalars := len(items)
	for i, kv := range items {
		k, ok := kv[0].(starlark.String)
		if !ok || !utf8.ValidString(string(k)) || k == "<<" {
			return c.encodedNode(d, ref, depth)
		}
		keys[i] = string(k)
		if isPlainString(kv[1]) {
			scalars++
		}
	}
	if ref != nil && ref.Kind != yaml.MappingNode {
		ref = nil
	}
	order := fieldOrder(keys, ref)
	nodes := make([]yaml.Node, scalars)
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: make([]*yaml.Node, 0, 2*len(items))}
	for _, i := range order {
		if err := c.count(depth + 1); err != nil {
			return nil, err
		}
		key := &nodes[0]
		setString(key, keys[i])
		nodes = nodes[1:]
		var v *yaml.Node
		if s, ok := items[i][1].(starlark.String); ok && isPlainString(s) {
			// What yamlNode does with a string, without looking up ref.
			if err := c.count(depth + 1); err != nil {
				return nil, err
			}
			v = &nodes[0]
			setString(v, string(s))
			nodes = nodes[1:]
		} else {
			var err error
			if v, err = c.yamlNode(items[i][1], fieldValue(ref, keys[i]), depth+1); err != nil {
				return nil, err
			}
		}
		m.Content = append(m.Content, key, v)
	}
	if len(items) == 0 {
		m.Style = yaml.FlowStyle
	}
	return m, nil
}

// isPlainString tells whether v is a string yamlNode writes with
// stringNode.
func isPlainString(v starlark.Value) bool {
	s, ok := v.(starlark.String)
	return ok && utf8.ValidString(string(s)) && s != "<<"
}

// fieldOrder returns the order of a mapping's fields: those ref has first,
// in ref's order, and the others after them, in the encoder's order.
func fieldOrder(keys []string, ref *yaml.Node) []int {
	order := make([]int, 0, len(keys))
	taken := make([]bool, len(keys))
	if ref != nil {
		index := keyIndex(keys)
		for j := 0; j+1 < len(ref.Content); j += 2 {
			if i, ok := index(ref.Content[j].Value); ok && !taken[i] {
				taken[i] = true
				order = append(order, i)
			}
		}
	}
	known := len(order)
	for i := range keys {
		if !taken[i] {
			order = append(order, i)
		}
	}
	rest := order[known:]
	slices.SortStableFunc(rest, func(a, b int) int {
		switch {
		case yamlKeyLess(keys[a], keys[b]):
			return -1
		case yamlKeyLess(keys[b], keys[a]):
			return 1
		}
		return 0
	})
	return order
}

// keyIndex returns a lookup of the index of a key among keys: a scan of
// a few, a map of many.
func keyIndex(keys []string) func(string) (int, bool) {
	if len(keys) <= 16 {
		return func(k string) (int, bool) {
			i := slices.Index(keys, k)
			return i, i >= 0
		}
	}
	byKey := make(map[string]int, len(keys))
	for i, k := range keys {
		byKey[k] = i
	}
	return func(k string) (int, bool) {
		i, ok := byKey[k]
		return i, ok
	}
}
