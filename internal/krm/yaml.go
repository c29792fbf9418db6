package krm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Document is one YAML document of a file, parsed but not yet interpreted.
type Document struct {
	// Index is the 0-based position of the document in its file.
	Index int
	// Node is the document's root content node (never a DocumentNode).
	Node *yaml.Node
}

// ParseError is a finding-worthy problem with a file's YAML: bad syntax or a
// limit exceeded. Line is 0 when unknown.
type ParseError struct {
	Line    int
	Message string
	// Limit is true when a limit, not the syntax, was the problem.
	Limit bool
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return e.Message
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseDocuments splits data into YAML documents and checks each against the
// limits before anything expands its aliases. Documents holding only comments
// are skipped. It returns the documents read before the first problem, and
// the problems found.
func ParseDocuments(data []byte, limits Limits) ([]Document, []*ParseError) {
	var docs []Document
	problems := EachDocument(data, limits, func(d Document) { docs = append(docs, d) })
	return docs, problems
}

// EachDocument is ParseDocuments one document at a time: it calls yield with
// each document as soon as it is read and checked, so that a caller that
// lets go of a document before the next holds the nodes of one document, not
// those of the whole file.
func EachDocument(data []byte, limits Limits, yield func(Document)) []*ParseError {
	var problems []*ParseError
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for index := 0; ; index++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, syntaxError(err))
			break
		}
		if index >= limits.DocumentsPerFile {
			line := doc.Line
			if len(doc.Content) > 0 {
				line = doc.Content[0].Line
			}
			problems = append(problems, &ParseError{Line: line, Limit: true,
				Message: fmt.Sprintf("file holds more than %d YAML documents", limits.DocumentsPerFile)})
			break
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			continue // an empty document, or one holding only comments
		}
		if p := checkSize(root, limits); p != nil {
			problems = append(problems, p)
			continue
		}
		yield(Document{Index: index, Node: root})
	}
	return problems
}

func syntaxError(err error) *ParseError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		// The YAML parser's own errors ("did not find expected ...") carry a
		// 0-based line, its scanner's errors a 1-based one.
		if strings.HasPrefix(m[2], "did not find expected") {
			line++
		}
		return &ParseError{Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &ParseError{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// measure is the size of a node's subtree with aliases expanded.
type measure struct {
	nodes int64
	depth int
}

// checkSize counts the nodes and the depth of a document as if every alias
// were expanded, without expanding any: each node is visited once and the
// size of an anchored subtree is remembered, so a "billion laughs" document
// costs as much to measure as its text.
func checkSize(root *yaml.Node, limits Limits) *ParseError {
	m := &measurer{memo: map[*yaml.Node]measure{}, visiting: map[*yaml.Node]bool{}, ceiling: limits.NodesPerDocument + 1}
	size, cyclic := m.node(root)
	switch {
	case cyclic:
		return &ParseError{Line: root.Line, Limit: true, Message: "YAML alias refers to a node that contains it"}
	case size.nodes > limits.NodesPerDocument:
		return &ParseError{Line: root.Line, Limit: true,
			Message: fmt.Sprintf("document expands to more than %d YAML nodes (aliases counted expanded)", limits.NodesPerDocument)}
	case size.depth > limits.Depth:
		return &ParseError{Line: root.Line, Limit: true,
			Message: fmt.Sprintf("document nests deeper than %d levels (aliases counted expanded)", limits.Depth)}
	}
	return nil
}

type measurer struct {
	// memo and visiting hold anchored nodes only: only they can be
	// reached more than once, through aliases.
	memo     map[*yaml.Node]measure
	visiting map[*yaml.Node]bool
	ceiling  int64
}

func (m *measurer) node(n *yaml.Node) (measure, bool) {
	anchored := n.Anchor != ""
	if anchored {
		if size, ok := m.memo[n]; ok {
			return size, false
		}
		if m.visiting[n] {
			return measure{}, true
		}
		m.visiting[n] = true
		defer delete(m.visiting, n)
	}
	var size measure
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return measure{nodes: 1}, false
		}
		return m.node(n.Alias)
	}
	size.nodes = 1
	deepest := 0
	for _, c := range n.Content {
		cs, cyclic := m.node(c)
		if cyclic {
			return measure{}, true
		}
		size.nodes = saturatingAdd(size.nodes, cs.nodes, m.ceiling)
		deepest = max(deepest, cs.depth)
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		size.depth = deepest + 1
	}
	if anchored {
		m.memo[n] = size
	}
	return size, false
}

func saturatingAdd(a, b, ceiling int64) int64 {
	if a >= ceiling || b >= ceiling || a+b >= ceiling {
		return ceiling
	}
	return a + b
}

// ConvertError is a problem turning YAML into JSON-compatible values.
type ConvertError struct {
	Line    int
	Path    string
	Message string
}

func (e *ConvertError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// ToObject converts a document's mapping node into the JSON-compatible value
// that Kubernetes API machinery works with (map[string]any, []any, string,
// int64, float64, bool, nil). Scalars resolve as YAML 1.2 (the core schema, as
// kyaml reads them). Aliases and merge keys are expanded; the caller must have
// checked the document's size with ParseDocuments first.
func ToObject(n *yaml.Node) (map[string]any, error) {
	v, err := toValue(n, "")
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &ConvertError{Line: n.Line, Message: "document is not a mapping"}
	}
	return obj, nil
}

func toValue(n *yaml.Node, path string) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &ConvertError{Line: n.Line, Path: path, Message: "unknown alias"}
		}
		return toValue(n.Alias, path)
	case yaml.MappingNode:
		return toMap(n, path)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := toValue(c, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n, path)
	default:
		return nil, &ConvertError{Line: n.Line, Path: path, Message: "unexpected YAML node"}
	}
}

func toMap(n *yaml.Node, path string) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, &ConvertError{Line: k.Line, Path: path, Message: "mapping keys must be strings"}
		}
		key := k.Value
		if _, dup := out[key]; dup {
			return nil, &ConvertError{Line: k.Line, Path: joinPath(path, key),
				Message: fmt.Sprintf("duplicate key %q", key)}
		}
		val, err := toValue(v, joinPath(path, key))
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	// Merge keys (<<) fill in keys the mapping does not set itself; among
	// several merged mappings the first wins, as in YAML 1.1.
	for _, m := range merged {
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, src := range sources {
			v, err := toValue(src, path)
			if err != nil {
				return nil, err
			}
			mm, ok := v.(map[string]any)
			if !ok {
				return nil, &ConvertError{Line: src.Line, Path: path, Message: "merge key (<<) must refer to a mapping"}
			}
			for key, val := range mm {
				if _, set := out[key]; !set {
					out[key] = val
				}
			}
		}
	}
	return out, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func scalar(n *yaml.Node, path string) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		switch strings.ToLower(n.Value) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	case "!!int":
		plain := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return float64(u), nil
		}
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, nil
		}
		return nil, &ConvertError{Line: n.Line, Path: path,
			Message: fmt.Sprintf("number %q cannot be represented in JSON", n.Value)}
	default:
		return n.Value, nil
	}
	return nil, &ConvertError{Line: n.Line, Path: path, Message: fmt.Sprintf("invalid %s value %q", n.ShortTag(), n.Value)}
}
