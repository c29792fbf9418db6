package render

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The matchers of search-replace, the keys of its ConfigMap.
const (
	byValue      = "by-value"
	byValueRegex = "by-value-regex"
	byPath       = "by-path"
	putValue     = "put-value"
	putComment   = "put-comment"
)

var searchMatchers = []string{byValue, byValueRegex, byPath, putValue, putComment}

// captureGroup is a reference to a capture group of by-value-regex in
// put-value or put-comment.
var captureGroup = regexp.MustCompile(`\$\{([0-9]+)\}`)

// search is one run of search-replace.
type search struct {
	byValue, byPath, putValue, putComment string
	regex                                 *regexp.Regexp
	// putByPath: put-value goes to the one field by-path names in every
	// resource, created where missing, with no search.
	putByPath bool
	// file is the file of the resource being searched.
	file    string
	results framework.Results
}

// searchReplace is the catalog's search-replace: it finds the fields of
// every resource whose value equals by-value or matches by-value-regex and
// whose path matches by-path (`a.b`, `*` for one element, `**` for any
// number, `a[0]` or `a[*]` for list items), all the given matchers AND'ed,
// and sets put-value (where `${N}` is the regex's Nth capture group) or
// adds put-comment as the field's line comment. A by-path with no pattern
// and no by-value puts the value into every resource, creating the field.
// Each field matched is reported, as the catalog reports it; "no matches"
// when there was none.
func searchReplace(rl *framework.ResourceList) error {
	s, err := newSearch(rl.FunctionConfig)
	if err != nil {
		return fmt.Errorf("search-replace: %w", err)
	}
	for _, n := range rl.Items {
		s.file, _ = fileAnnotations(n)
		if s.putByPath {
			err = s.put(n)
		} else {
			err = s.walk(n.YNode(), "")
		}
		if err != nil {
			return fmt.Errorf("search-replace: %w", err)
		}
	}
	if len(s.results) == 0 {
		s.results = framework.Results{{Message: "no matches"}}
	}
	rl.Results = append(rl.Results, s.results...)
	return nil
}

// newSearch decodes and validates search-replace's ConfigMap.
func newSearch(config *yaml.RNode) (*search, error) {
	data, err := configMapData("search-replace", config)
	if err != nil {
		return nil, err
	}
	for k := range data {
		if !slices.Contains(searchMatchers, k) {
			return nil, fmt.Errorf("invalid matcher %q, must be one of %q", k, searchMatchers)
		}
	}
	s := &search{byValue: data[byValue], byPath: data[byPath], putValue: data[putValue], putComment: data[putComment]}
	regex := data[byValueRegex]
	switch {
	case s.byValue == "" && regex == "" && s.byPath == "":
		return nil, fmt.Errorf("at least one of [%q, %q, %q] must be provided", byValue, byValueRegex, byPath)
	case s.byValue != "" && regex != "":
		return nil, fmt.Errorf("only one of [%q, %q] can be provided", byValue, byValueRegex)
	}
	if regex != "" {
		if s.regex, err = regexp.Compile(regex); err != nil {
			return nil, fmt.Errorf("%s: %w", byValueRegex, err)
		}
	}
	s.putByPath = s.putValue != "" && s.byValue == "" && regex == "" &&
		!strings.Contains(s.byPath, "[") && isAbsPath(s.byPath)
	return s, nil
}

// walk visits node, at path, and everything under it.
func (s *search) walk(node *yaml.Node, path string) error {
	switch node.Kind {
	case yaml.DocumentNode:
		for _, c := range node.Content {
			if err := s.walk(c, path); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			if path == ".metadata.annotations" && isReaderAnnotation(key.Value) {
				continue
			}
			p := path + "." + key.Value
			if err := s.commentList(key, value, p); err != nil {
				return err
			}
			if err := s.walk(value, p); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range node.Content {
			if err := s.walk(c, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return s.scalar(node, path)
	}
	return nil
}

// isReaderAnnotation tells the annotations kpt adds to the resources it
// gives a function (their file, index, and the like), which are not the
// package's and are never searched.
func isReaderAnnotation(key string) bool {
	return strings.HasPrefix(key, "internal.config.kubernetes.io/") ||
		key == legacyPathAnnotation || key == "config.kubernetes.io/index" || key == "config.k8s.io/id"
}

// commentList puts put-comment on the key of a list field by-path
// matches: a list has no line of its own to carry it.
func (s *search) commentList(key, value *yaml.Node, path string) error {
	if s.putComment == "" || value.Kind != yaml.SequenceNode || len(value.Content) == 0 || !s.pathMatch(path) {
		return nil
	}
	key.LineComment = s.putComment
	value.Style = yaml.FlowStyle
	v, err := yaml.String(value)
	// A comment on the key of a list in flow style lands on the line
	// after the list: the list goes to block style, as the catalog's does.
	value.Style = 0
	if err != nil {
		return err
	}
	s.results = append(s.results, s.result(s.byPath+" # "+s.putComment, strings.TrimSpace(v)))
	return nil
}

// scalar matches one field's value and edits it.
func (s *search) scalar(node *yaml.Node, path string) error {
	pathMatch := s.pathMatch(path)
	valueMatch := (s.byValue != "" && s.byValue == node.Value) || (s.regex != nil && s.regex.MatchString(node.Value))
	searchesValue := s.byValue != "" || s.regex != nil
	if !(valueMatch && (pathMatch || s.byPath == "")) && !(pathMatch && !searchesValue) {
		return nil
	}
	if s.putComment != "" {
		c, err := s.resolve(node.Value, s.putComment)
		if err != nil {
			return err
		}
		node.LineComment = c
	}
	if s.putValue != "" {
		v, err := s.resolve(node.Value, s.putValue)
		if err != nil {
			return err
		}
		// The new value's type follows from how it reads, as the catalog's.
		node.Value, node.Tag = v, yaml.NodeTagEmpty
	}
	v, err := yaml.String(node)
	if err != nil {
		return err
	}
	s.results = append(s.results, s.result(strings.TrimPrefix(path, "."), strings.TrimSpace(v)))
	return nil
}

// put sets put-value at by-path in resource n, creating the field and the
// maps above it where missing.
func (s *search) put(n *yaml.RNode) error {
	path := strings.Split(s.byPath, ".")
	parent, err := n.Pipe(yaml.LookupCreate(yaml.MappingNode, path[:len(path)-1]...))
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	if f := parent.Field(last); f != nil && f.Value.YNode().Kind == yaml.ScalarNode {
		// Set in place, keeping the field's comments.
		f.Value.YNode().Value, f.Value.YNode().Tag = s.putValue, yaml.NodeTagEmpty
	} else {
		v := yaml.NewScalarRNode(s.putValue)
		v.YNode().Tag = yaml.NodeTagEmpty
		if err := parent.PipeE(yaml.SetField(last, v)); err != nil {
			return err
		}
	}
	s.results = append(s.results, s.result(s.byPath, s.putValue))
	return nil
}

// result reports a field matched, as the catalog does.
func (s *search) result(path, value string) *framework.Result {
	msg := fmt.Sprintf("Matched field value %q", value)
	if s.putValue != "" || s.putComment != "" {
		msg = fmt.Sprintf("Mutated field value to %q", value)
	}
	return &framework.Result{Message: msg, Field: &framework.Field{Path: path}, File: &framework.File{Path: s.file}}
}

// resolve replaces the capture group references of pattern with the
// groups of by-value-regex matched against value.
func (s *search) resolve(value, pattern string) (string, error) {
	if s.regex == nil {
		return pattern, nil
	}
	for i, g := range s.regex.FindStringSubmatch(value) {
		if i > 0 {
			pattern = strings.ReplaceAll(pattern, "${"+strconv.Itoa(i)+"}", g)
		}
	}
	if captureGroup.MatchString(pattern) {
		return "", fmt.Errorf("unable to resolve capture groups")
	}
	return pattern, nil
}

// pathMatch tells whether the path of a field, its elements separated by
// dots, matches by-path.
func (s *search) pathMatch(path string) bool {
	if s.byPath == "" {
		return false
	}
	return matchPath(strings.Split(strings.TrimPrefix(path, "."), "."), strings.Split(s.byPath, "."))
}

// matchPath matches a path against a pattern: `*` matches one element,
// `**` any number, `a[*]` any item of list a; dynamic programming over
// the prefixes of both, ok[i][j] telling whether path[:i] matches
// pattern[:j].
func matchPath(path, pattern []string) bool {
	ok := make([][]bool, len(path)+1)
	for i := range ok {
		ok[i] = make([]bool, len(pattern)+1)
	}
	ok[0][0] = true
	for j := 1; j <= len(pattern); j++ {
		ok[0][j] = pattern[j-1] == "**" && ok[0][j-1]
	}
	for i := 1; i <= len(path); i++ {
		for j := 1; j <= len(pattern); j++ {
			switch p := pattern[j-1]; {
			case p == "**":
				ok[i][j] = ok[i][j-1] || ok[i-1][j]
			case p == "*" || elementMatch(path[i-1], p):
				ok[i][j] = ok[i-1][j-1]
			}
		}
	}
	return ok[len(path)][len(pattern)]
}

// elementMatch matches one element of a path: `a` matches `a`; `a[1]`
// matches `a[1]`, `a[*]`, `*[1]` and `*[*]`.
func elementMatch(elem, pattern string) bool {
	if elem == pattern {
		return true
	}
	name, index, ok := strings.Cut(elem, "[")
	if !ok {
		return false
	}
	pname, pindex, ok := strings.Cut(pattern, "[")
	if !ok || (pname != "*" && pname != name) {
		return false
	}
	return pindex == "*]" || pindex == index
}

// isAbsPath tells a by-path naming one field, `a.b.c`, from a pattern.
func isAbsPath(path string) bool {
	for _, e := range strings.Split(path, ".") {
		if e == "" || strings.Contains(e, "*") {
			return false
		}
	}
	return true
}
