package render

import (
	"fmt"

	"go.starlark.net/starlark"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The resources are converted to Starlark values and back in parallel,
// one resource per call, each on a converter of its own: their values are
// counted apart, then together. Where any conversion fails, or the
// resources hold too many values together, they are converted again in
// order, on one converter, for the error a conversion in order meets
// first; otherwise a conversion in order would have met none, and its
// values are the same.

// starlarkValues converts the resources a script is given.
func (c *starlarkConverter) starlarkValues(items []*yaml.RNode) ([]starlark.Value, error) {
	elems := make([]starlark.Value, len(items))
	counts := make([]int, len(items))
	err := eachParallel(len(items), func(i int) error {
		var own starlarkConverter
		v, err := own.starlarkValue(items[i].YNode(), 0)
		elems[i], counts[i] = v, own.values
		return err
	})
	if total := c.values + sum(counts); err == nil && total <= starlarkMaxValues {
		c.values = total
		return elems, nil
	}
	for i, n := range items {
		v, err := c.starlarkValue(n.YNode(), 0)
		if err != nil {
			return nil, err
		}
		elems[i] = v
	}
	return elems, nil
}

// yamlItems converts the resources a script left, seq, each in the field
// order of the input resource whose id it kept. The values are frozen
// first: reading a list that two resources share from two goroutines then
// changes nothing of it.
func yamlItems(seq starlark.Indexable, ids map[string]*yaml.RNode) ([]*yaml.RNode, error) {
	if v, ok := seq.(starlark.Value); ok {
		v.Freeze()
	}
	items := make([]*yaml.RNode, seq.Len())
	counts := make([]int, len(items))
	err := eachParallel(len(items), func(i int) error {
		d, ok := seq.Index(i).(*starlark.Dict)
		if !ok {
			return fmt.Errorf("not a dict")
		}
		var own starlarkConverter
		node, err := own.yamlNode(d, starlarkRef(d, ids), 0)
		if err == nil {
			items[i], counts[i] = yaml.NewRNode(node), own.values
		}
		return err
	})
	if err == nil && sum(counts) <= starlarkMaxValues {
		return items, nil
	}
	conv := &starlarkConverter{}
	for i := range items {
		e := seq.Index(i)
		if _, ok := e.(*starlark.Dict); !ok {
			return nil, fmt.Errorf(`ctx.resource_list["items"][%d] must be a dict, not a %s`, i, e.Type())
		}
		node, err := conv.yamlNode(e, starlarkRef(e.(*starlark.Dict), ids), 0)
		if err != nil {
			return nil, fmt.Errorf(`ctx.resource_list["items"][%d]: %w`, i, err)
		}
		items[i] = yaml.NewRNode(node)
	}
	return items, nil
}

// starlarkRef is the input resource whose id d kept, nil for none.
func starlarkRef(d *starlark.Dict, ids map[string]*yaml.RNode) *yaml.Node {
	if in := ids[starlarkID(d)]; in != nil {
		return in.YNode()
	}
	return nil
}

func sum(counts []int) int {
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}
