package render

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The ApplySetters functionConfig's group, version and kind.
const (
	applySettersAPIVersion = "fn.kpt.dev/v1alpha1"
	applySettersKind       = "ApplySetters"
)

// setterComment starts the line comment marking a field a setter sets.
const setterComment = "# kpt-set: "

// setterRef matches a setter's reference in a setter comment, ${name}.
var setterRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// setter is one setter's name and the value it gives its fields.
type setter struct {
	name, value string
}

// setterChange is a field a setter changed, as the catalog reports it.
type setterChange struct {
	file, field, value string
}

// applySetters is the catalog's apply-setters (v0.2): every field marked
// with a line comment `# kpt-set: PATTERN` gets the pattern with each
// ${name} replaced by the value of setter name. A scalar's pattern may
// mix text and setters (`${image}:${tag}`); a setter the functionConfig
// does not give keeps the value it has in the field, read off the current
// value through the pattern. A sequence field marked `# kpt-set: ${name}`
// (on its key, or after a flow sequence) is replaced by the setter's value
// read as a YAML sequence, or emptied by an empty value. A field whose
// pattern names none of the given setters is left alone. The setters come
// from a ConfigMap's data or an ApplySetters' setters (each a name and a
// value, a string or, here also, a YAML sequence); each field set is
// reported with its file and path, and a run that set nothing, for want
// of setters or of fields naming them, with a warning. Comments and the rest of the formatting are kept.
func applySetters(rl *framework.ResourceList) error {
	setters, err := settersOf(rl.FunctionConfig)
	if err != nil {
		return err
	}
	w := &setterWalk{setters: setters}
	for _, n := range rl.Items {
		w.file, _ = fileAnnotations(n)
		if err := w.walk(n, ""); err != nil {
			return fmt.Errorf("apply-setters: failed to apply setters: %w", err)
		}
	}
	if len(w.changes) == 0 {
		rl.Results = append(rl.Results, &framework.Result{
			Message:  "no matches for input setter(s)",
			Severity: framework.Warning,
		})
	}
	for _, c := range w.changes {
		rl.Results = append(rl.Results, &framework.Result{
			Message:  fmt.Sprintf("set field value to %q", c.value),
			Severity: framework.Info,
			Field:    &framework.Field{Path: c.field},
			File:     &framework.File{Path: c.file},
		})
	}
	return nil
}

// settersOf reads the setters of a ConfigMap or an ApplySetters, sorted
// by name.
func settersOf(config *yaml.RNode) ([]setter, error) {
	if config == nil {
		return nil, fmt.Errorf("apply-setters: a functionConfig is required: give the function a configMap of setter values")
	}
	var setters []setter
	switch apiVersion, kind := config.GetApiVersion(), config.GetKind(); {
	case apiVersion == "v1" && kind == "ConfigMap":
		for name, value := range config.GetDataMap() {
			setters = append(setters, setter{name: name, value: value})
		}
	case apiVersion == applySettersAPIVersion && kind == applySettersKind:
		var err error
		if setters, err = decodeApplySetters(config); err != nil {
			return nil, fmt.Errorf("apply-setters: %s: %w", applySettersKind, err)
		}
	default:
		return nil, fmt.Errorf("apply-setters: functionConfig must be a ConfigMap or an %s %s, not %s %s",
			applySettersAPIVersion, applySettersKind, apiVersion, kind)
	}
	slices.SortFunc(setters, func(a, b setter) int { return strings.Compare(a.name, b.name) })
	return setters, nil
}

// decodeApplySetters reads an ApplySetters' setters: a list of name and
// value, the value a string, a number or a boolean as written, or a
// sequence as YAML.
func decodeApplySetters(config *yaml.RNode) ([]setter, error) {
	list := config.Field("setters")
	if list == nil || yaml.IsMissingOrNull(list.Value) {
		return nil, nil
	}
	elems, err := list.Value.Elements()
	if err != nil {
		return nil, fmt.Errorf("setters must be a list of name and value")
	}
	seen := map[string]bool{}
	var setters []setter
	for i, e := range elems {
		name := e.Field("name")
		if e.YNode().Kind != yaml.MappingNode || name == nil || name.Value.YNode().Kind != yaml.ScalarNode || name.Value.YNode().Value == "" {
			return nil, fmt.Errorf("setters[%d]: a setter needs a name", i)
		}
		s := setter{name: name.Value.YNode().Value}
		if seen[s.name] {
			return nil, fmt.Errorf("setters[%d]: setter %q given twice", i, s.name)
		}
		seen[s.name] = true
		if v := e.Field("value"); v != nil {
			if s.value, err = setterValueText(v.Value); err != nil {
				return nil, fmt.Errorf("setters[%d] (%s): %w", i, s.name, err)
			}
		}
		setters = append(setters, s)
	}
	return setters, nil
}

// setterValueText is a setter's value as the text apply-setters works on.
func setterValueText(v *yaml.RNode) (string, error) {
	switch v.YNode().Kind {
	case yaml.ScalarNode:
		if v.YNode().ShortTag() == yaml.NodeTagNull {
			return "", nil
		}
		return v.YNode().Value, nil
	case yaml.SequenceNode:
		return v.String()
	default:
		return "", fmt.Errorf("a value must be a string or a list")
	}
}

// setterWalk applies setters to the fields of resources, recording what it
// changed.
type setterWalk struct {
	setters []setter
	file    string
	changes []setterChange
}

// walk visits node at the dot-separated field path p: a mapping's sequence
// fields first, then every field and element below.
func (w *setterWalk) walk(node *yaml.RNode, p string) error {
	switch node.YNode().Kind {
	case yaml.MappingNode:
		if err := w.setSequences(node, p); err != nil {
			return err
		}
		return node.VisitFields(func(f *yaml.MapNode) error {
			return w.walk(f.Value, p+"."+f.Key.YNode().Value)
		})
	case yaml.SequenceNode:
		for i, e := range node.YNode().Content {
			if err := w.walk(yaml.NewRNode(e), fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return w.setScalar(node.YNode(), p)
	}
	return nil
}

// setSequences sets each sequence field of a mapping marked with a setter.
func (w *setterWalk) setSequences(m *yaml.RNode, p string) error {
	return m.VisitFields(func(f *yaml.MapNode) error {
		if f.Value.IsNil() || f.Value.YNode().Kind != yaml.SequenceNode {
			return nil
		}
		key, seq := f.Key.YNode(), f.Value.YNode()
		comment := key.LineComment
		if seq.Style&yaml.FlowStyle != 0 {
			comment = seq.LineComment
		}
		pattern := setterPattern(comment)
		if pattern == "" || !w.names(pattern) {
			return nil
		}
		refs := setterRef.FindAllString(pattern, -1)
		if len(refs) != 1 || refs[0] != pattern {
			return fmt.Errorf("invalid setter pattern for array node: %q", pattern)
		}
		value := w.value(setterRefName(pattern))
		field := strings.TrimPrefix(p+"."+key.Value, ".")
		if value == "" {
			// An empty sequence is written [] with the comment after it.
			seq.Content, seq.Style = nil, yaml.FlowStyle
			seq.LineComment, key.LineComment = comment, ""
			w.changes = append(w.changes, setterChange{file: w.file, field: field, value: value})
			return nil
		}
		parsed, err := yaml.Parse(value)
		if err != nil || parsed.YNode().Kind != yaml.SequenceNode {
			return fmt.Errorf("input to array setter must be an array of values, but found %q", value)
		}
		seq.Content, seq.Style = parsed.YNode().Content, 0
		seq.LineComment, key.LineComment = "", comment
		w.changes = append(w.changes, setterChange{file: w.file, field: field, value: value})
		return nil
	})
}

// setScalar sets a scalar marked with a setter.
func (w *setterWalk) setScalar(n *yaml.Node, p string) error {
	pattern := setterPattern(n.LineComment)
	if pattern == "" || !w.names(pattern) {
		return nil
	}
	value := pattern
	for _, s := range w.setters {
		value = strings.ReplaceAll(value, "${"+s.name+"}", s.value)
	}
	for name, v := range currentSetterValues(pattern, n.Value) {
		value = strings.ReplaceAll(value, "${"+name+"}", v)
	}
	if refs := setterRef.FindAllString(value, -1); len(refs) > 0 {
		return fmt.Errorf("values for setters %v must be provided", refs)
	}
	n.Value, n.Tag = value, ""
	if value == "" {
		n.Style = yaml.DoubleQuotedStyle
	}
	w.changes = append(w.changes, setterChange{file: w.file, field: strings.TrimPrefix(p, "."), value: value})
	return nil
}

// names says whether a pattern names any of the setters given.
func (w *setterWalk) names(pattern string) bool {
	for _, s := range w.setters {
		if strings.Contains(pattern, "${"+s.name+"}") {
			return true
		}
	}
	return false
}

// value returns the value of the named setter, empty if none is given.
func (w *setterWalk) value(name string) string {
	for _, s := range w.setters {
		if s.name == name {
			return s.value
		}
	}
	return ""
}

// setterPattern returns what a setter comment sets its field to, empty
// for any other comment.
func setterPattern(comment string) string {
	rest, ok := strings.CutPrefix(comment, setterComment)
	if !ok {
		return ""
	}
	return strings.TrimSpace(rest)
}

// setterRefName returns the name in a reference ${name}.
func setterRefName(ref string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(ref), "${"), "}")
}

// currentSetterValues reads the values of a pattern's setters off the
// value the pattern produced: for my-app.${stage}.${tld} and
// my-app.dev.com, stage is dev and tld com. It returns nothing when the
// value does not match the pattern or leaves a setter empty.
func currentSetterValues(pattern, value string) map[string]string {
	refs := setterRef.FindAllString(pattern, -1)
	expr := regexp.QuoteMeta(pattern)
	for _, ref := range refs {
		expr = strings.ReplaceAll(expr, regexp.QuoteMeta(ref), `(.*)`)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil
	}
	m := re.FindStringSubmatch(value)
	if len(m) == 0 || len(m)-1 != len(refs) {
		return nil
	}
	values := map[string]string{}
	for i, v := range m[1:] {
		if v == "" {
			return nil
		}
		values[setterRefName(refs[i])] = v
	}
	return values
}
