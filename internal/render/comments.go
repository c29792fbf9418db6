package render

import "sigs.k8s.io/kustomize/kyaml/yaml"

// copyComments copies the comments of a resource as a function received it
// (from) onto the resource it returned (to), where to carries none: fields
// matched by key, list items by their name where they have one and by
// position otherwise. It is kyaml's comments.CopyComments without the
// schema lookups, which cost more than the function itself for a script
// such as starlark's that rebuilds every resource.
func copyComments(from, to *yaml.Node) {
	if from == nil || to == nil || from.Kind != to.Kind {
		return
	}
	copyNodeComments(from, to)
	switch from.Kind {
	case yaml.DocumentNode:
		if len(from.Content) > 0 && len(to.Content) > 0 {
			copyComments(from.Content[0], to.Content[0])
		}
	case yaml.MappingNode:
		fields := make(map[string]int, len(from.Content)/2)
		for i := 0; i+1 < len(from.Content); i += 2 {
			fields[from.Content[i].Value] = i
		}
		for i := 0; i+1 < len(to.Content); i += 2 {
			if j, ok := fields[to.Content[i].Value]; ok {
				copyNodeComments(from.Content[j], to.Content[i])
				copyComments(from.Content[j+1], to.Content[i+1])
			}
		}
	case yaml.SequenceNode:
		byName := map[string]*yaml.Node{}
		for _, item := range from.Content {
			if name := itemName(item); name != "" {
				byName[name] = item
			}
		}
		for i, item := range to.Content {
			switch name := itemName(item); {
			case name != "" && byName[name] != nil:
				copyComments(byName[name], item)
			case name == "" && i < len(from.Content):
				copyComments(from.Content[i], item)
			}
		}
	}
}

func copyNodeComments(from, to *yaml.Node) {
	if to.HeadComment == "" {
		to.HeadComment = from.HeadComment
	}
	if to.LineComment == "" {
		to.LineComment = from.LineComment
	}
	if to.FootComment == "" {
		to.FootComment = from.FootComment
	}
}

// itemName is the name field of a list item that is a mapping, "" for any
// other item.
func itemName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}
