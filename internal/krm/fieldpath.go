package krm

import (
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// LineOf returns the line of the node a field path names in a document, or of
// the deepest node on that path that exists (the parent of a missing field).
// Paths are those of Kubernetes field errors: dotted keys, [N] for list
// items and [key] for map keys (spec.containers[0].env, metadata.labels[a.b/c]).
// Keys that contain dots are matched against the keys the mapping really has.
func LineOf(root *yaml.Node, path string) int {
	n, line := root, root.Line
	rest := strings.TrimPrefix(path, ".")
	for rest != "" && n != nil {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch {
		case rest[0] == '.':
			rest = rest[1:]
			continue
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return line
			}
			seg := rest[1:end]
			rest = rest[end+1:]
			next, l := child(n, seg)
			if next == nil {
				return line
			}
			n, line = next, l
		default:
			key, next, l := longestKey(n, rest)
			if next == nil {
				return line
			}
			rest = rest[len(key):]
			n, line = next, l
		}
	}
	return line
}

// child returns an item of a sequence by index or a value of a mapping by key.
func child(n *yaml.Node, seg string) (*yaml.Node, int) {
	switch n.Kind {
	case yaml.SequenceNode:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil, 0
		}
		return n.Content[i], n.Content[i].Line
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	}
	return nil, 0
}

// longestKey finds the longest key of a mapping that starts the path.
func longestKey(n *yaml.Node, path string) (string, *yaml.Node, int) {
	if n.Kind != yaml.MappingNode {
		return "", nil, 0
	}
	best := -1
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !strings.HasPrefix(path, k) || (best >= 0 && len(k) <= len(n.Content[best].Value)) {
			continue
		}
		if len(path) == len(k) || path[len(k)] == '.' || path[len(k)] == '[' {
			best = i
		}
	}
	if best < 0 {
		return "", nil, 0
	}
	return n.Content[best].Value, n.Content[best+1], n.Content[best].Line
}
