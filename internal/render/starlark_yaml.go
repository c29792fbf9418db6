package render

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// starlarkConverter converts between YAML and Starlark values, counting
// them against starlarkMaxValues.
type starlarkConverter struct {
	values int
}

func (c *starlarkConverter) count(depth int) error {
	c.values++
	if c.values > starlarkMaxValues {
		return fmt.Errorf("more than %d values", starlarkMaxValues)
	}
	if depth > starlarkMaxDepth {
		return fmt.Errorf("values nested deeper than %d", starlarkMaxDepth)
	}
	return nil
}

// resourceList builds the resource list a script sees: a
// config.kubernetes.io/v1 ResourceList with the items and the
// functionConfig.
func (c *starlarkConverter) resourceList(items []*yaml.RNode, config *yaml.RNode) (*starlark.Dict, error) {
	elems, err := c.starlarkValues(items)
	if err != nil {
		return nil, err
	}
	list := starlark.NewDict(4)
	fields := []struct {
		key   string
		value starlark.Value
	}{
		{"apiVersion", starlark.String(kio.ResourceListAPIVersion)},
		{"kind", starlark.String(kio.ResourceListKind)},
		{"items", starlark.NewList(elems)},
	}
	if config != nil {
		fc, err := c.starlarkValue(config.YNode(), 0)
		if err != nil {
			return nil, err
		}
		fields = append(fields, struct {
			key   string
			value starlark.Value
		}{"functionConfig", fc})
	}
	for _, f := range fields {
		if err := list.SetKey(starlark.String(f.key), f.value); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// starlarkValue converts a YAML node: a mapping to a dict in the
// mapping's order, a sequence to a list, a scalar to the value YAML
// resolves it to.
func (c *starlarkConverter) starlarkValue(n *yaml.Node, depth int) (starlark.Value, error) {
	if err := c.count(depth); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return starlark.None, nil
		}
		return c.starlarkValue(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.starlarkValue(n.Alias, depth+1)
	case yaml.MappingNode:
		d := starlark.NewDict(len(n.Content) / 2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := c.starlarkValue(n.Content[i], depth+1)
			if err != nil {
				return nil, err
			}
			v, err := c.starlarkValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			if err := d.SetKey(k, v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Content[i].Line, err)
			}
		}
		return d, nil
	case yaml.SequenceNode:
		elems := make([]starlark.Value, len(n.Content))
		for i, e := range n.Content {
			v, err := c.starlarkValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			elems[i] = v
		}
		return starlark.NewList(elems), nil
	}
	return starlarkScalar(n)
}

// starlarkScalar converts a YAML scalar: strings, nulls, plain decimal
// ints and the usual bools directly, the rest as YAML decodes them.
func starlarkScalar(n *yaml.Node) (starlark.Value, error) {
	switch n.ShortTag() {
	case yaml.NodeTagString:
		return starlark.String(n.Value), nil
	case yaml.NodeTagNull:
		return starlark.None, nil
	case yaml.NodeTagBool:
		switch n.Value {
		case "true":
			return starlark.True, nil
		case "false":
			return starlark.False, nil
		}
	case yaml.NodeTagInt:
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil && (n.Value[0] != '0' || n.Value == "0") {
			return starlark.MakeInt64(i), nil
		}
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	switch v := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(v), nil
	case int:
		return starlark.MakeInt(v), nil
	case int64:
		return starlark.MakeInt64(v), nil
	case uint64:
		return starlark.MakeUint64(v), nil
	case float64:
		return starlark.Float(v), nil
	case string:
		return starlark.String(v), nil
	}
	return starlark.String(n.Value), nil
}

// goValue converts a Starlark value to the Go value YAML marshals it
// from, as the catalog's runtime does: a dict to a map (so its keys come
// out sorted), a list, tuple or set to a slice.
func (c *starlarkConverter) goValue(v starlark.Value, depth int) (any, error) {
	if err := c.count(depth); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		if u, ok := v.Uint64(); ok {
			return u, nil
		}
		return nil, fmt.Errorf("int %s is too large for YAML", v)
	case starlark.Float:
		return float64(v), nil
	case starlark.String:
		return string(v), nil
	case *starlark.Dict:
		return c.goMap(v, depth)
	case starlark.Iterable:
		if _, ok := v.(starlark.Mapping); ok {
			break
		}
		var out []any
		iter := v.Iterate()
		defer iter.Done()
		var e starlark.Value
		for iter.Next(&e) {
			g, err := c.goValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s cannot be written as YAML", v.Type())
}

// goMap converts a dict: to a map[string]any when its keys are strings,
// else to a map[any]any.
func (c *starlarkConverter) goMap(d *starlark.Dict, depth int) (any, error) {
	keys := d.Keys()
	strKeys := !slices.ContainsFunc(keys, func(k starlark.Value) bool {
		_, ok := k.(starlark.String)
		return !ok
	})
	byString := make(map[string]any, len(keys))
	byAny := make(map[any]any, len(keys))
	for _, k := range keys {
		gk, err := c.goValue(k, depth+1)
		if err != nil {
			return nil, err
		}
		if _, ok := gk.([]any); ok {
			return nil, fmt.Errorf("a dict key of type %s cannot be written as YAML", k.Type())
		}
		v, _, _ := d.Get(k)
		gv, err := c.goValue(v, depth+1)
		if err != nil {
			return nil, err
		}
		if strKeys {
			byString[string(k.(starlark.String))] = gv
		} else {
			byAny[gk] = gv
		}
	}
	if strKeys {
		return byString, nil
	}
	return byAny, nil
}

// yamlNode converts a Starlark value to the YAML node the catalog's
// runtime ends up with (it marshals goValue's result and parses it back),
// built directly: a dict is a mapping with its keys in YAML's map key
// order, a list, tuple or set a sequence, an empty one of either written
// in flow style; a string is quoted where it would read back as another
// type, in YAML 1.1 too, and literal where it holds a newline. A dict with
// keys other than strings, a string that is not UTF-8 and the merge key
// "<<" go through the YAML encoder.
//
// ref is the node at the same place in the resource the script was given,
// or nil: a mapping's fields that ref has come first, in ref's order, and
// the others after them, in the encoder's order, as kyaml's
// order.SyncOrder leaves them after the round trip; list items are matched
// to ref's by position.
func (c *starlarkConverter) yamlNode(v starlark.Value, ref *yaml.Node, depth int) (*yaml.Node, error) {
	if err := c.count(depth); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagNull, Value: "null"}, nil
	case starlark.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: strconv.FormatBool(bool(v))}, nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagInt, Value: strconv.FormatInt(i, 10)}, nil
		}
		if u, ok := v.Uint64(); ok {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagInt, Value: strconv.FormatUint(u, 10)}, nil
		}
		return nil, fmt.Errorf("int %s is too large for YAML", v)
	case starlark.Float:
		return plainScalar(yamlFloat(float64(v))), nil
	case starlark.String:
		if !utf8.ValidString(string(v)) || v == "<<" {
			return c.encodedNode(v, ref, depth)
		}
		return stringNode(string(v)), nil
	case *starlark.Dict:
		return c.mappingNode(v, ref, depth)
	case starlark.Iterable:
		if _, ok := v.(starlark.Mapping); ok {
			break
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq}
		iter := v.Iterate()
		defer iter.Done()
		var e starlark.Value
		for i := 0; iter.Next(&e); i++ {
			var itemRef *yaml.Node
			if ref != nil && ref.Kind == yaml.SequenceNode && i < len(ref.Content) {
				itemRef = ref.Content[i]
			}
			n, err := c.yamlNode(e, itemRef, depth+1)
			if err != nil {
				return nil, err
			}
			seq.Content = append(seq.Content, n)
		}
		if len(seq.Content) == 0 {
			seq.Style = yaml.FlowStyle
		}
		return seq, nil
	}
	return nil, fmt.Errorf("a %s cannot be written as YAML", v.Type())
}

// encodedNode converts a value through the YAML encoder, as the catalog's
// runtime does every value, its fields then ordered by ref.
func (c *starlarkConverter) encodedNode(v starlark.Value, ref *yaml.Node, depth int) (*yaml.Node, error) {
	g, err := c.goValue(v, depth)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := n.Encode(g); err != nil {
		return nil, err
	}
	syncOrder(ref, &n)
	return &n, nil
}

// yamlFloat writes a float as the YAML encoder does.
func yamlFloat(f float64) string {
	switch s := strconv.FormatFloat(f, 'g', -1, 64); s {
	case "+Inf":
		return ".inf"
	case "-Inf":
		return "-.inf"
	case "NaN":
		return ".nan"
	default:
		return s
	}
}

// plainScalar is an unquoted scalar with the tag YAML resolves it to.
func plainScalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: resolvedTag(s)}
}

// resolvedTag is the tag YAML resolves an unquoted scalar s to. A string
// that starts with a letter is a string at once, as in YAML's own
// resolver, unless it is one of the words that resolver looks up for the
// letters bools and nulls start with: true, false and null, each in three
// spellings.
func resolvedTag(s string) string {
	if s != "" && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		switch s {
		case "true", "True", "TRUE", "false", "False", "FALSE":
			return yaml.NodeTagBool
		case "null", "Null", "NULL":
			return yaml.NodeTagNull
		}
		return yaml.NodeTagString
	}
	n := yaml.Node{Kind: yaml.ScalarNode, Value: s}
	return n.ShortTag()
}

// stringNode is a string scalar in the style the YAML encoder gives it.
func stringNode(s string) *yaml.Node {
	n := &yaml.Node{}
	setString(n, s)
	return n
}

// setString makes n, a zero node, the string scalar stringNode makes.
func setString(n *yaml.Node, s string) {
	n.Kind, n.Tag, n.Value = yaml.ScalarNode, yaml.NodeTagString, s
	switch {
	case strings.Contains(s, "\n"):
		n.Style = yaml.LiteralStyle
	case resolvedTag(s) != yaml.NodeTagString || isBase60Float(s) || isOldBool(s):
		n.Style = yaml.DoubleQuotedStyle
	}
}

// base60Float matches what YAML 1.1 reads as a sexagesimal number.
var base60Float = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

func isBase60Float(s string) bool {
	if s == "" || !(s[0] == '+' || s[0] == '-' || s[0] >= '0' && s[0] <= '9') || !strings.Contains(s, ":") {
		return false
	}
	return base60Float.MatchString(s)
}

// isOldBool tells whether YAML 1.1 reads s as a bool.
func isOldBool(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return true
	}
	return false
}

// yamlKeyLess is the YAML encoder's order of string map keys: runes in
// order, except that runs of digits compare as numbers and a letter sorts
// after a digit run's end and before other characters. ASCII keys, nearly
// all of them, are compared as bytes.
func yamlKeyLess(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return keyLess([]byte(a), []byte(b))
	}
	return keyLess([]rune(a), []rune(b))
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func keyLess[T rune | byte](ar, br []T) bool {
	digits := false
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			digits = unicode.IsDigit(rune(ar[i]))
			continue
		}
		al, bl := unicode.IsLetter(rune(ar[i])), unicode.IsLetter(rune(br[i]))
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			if digits {
				return al
			}
			return bl
		}
		return numberRunLess(ar, br, i)
	}
	return len(ar) < len(br)
}

// numberRunLess compares a and b at i, where they differ and neither is
// a letter, by the numbers the digits from i on spell.
func numberRunLess[T rune | byte](ar, br []T, i int) bool {
	var an, bn int64
	if ar[i] == '0' || br[i] == '0' {
		for j := i - 1; j >= 0 && unicode.IsDigit(rune(ar[j])); j-- {
			if ar[j] != '0' {
				an, bn = 1, 1
				break
			}
		}
	}
	ai, bi := i, i
	for ; ai < len(ar) && unicode.IsDigit(rune(ar[ai])); ai++ {
		an = an*10 + int64(ar[ai]-'0')
	}
	for ; bi < len(br) && unicode.IsDigit(rune(br[bi])); bi++ {
		bn = bn*10 + int64(br[bi]-'0')
	}
	if an != bn {
		return an < bn
	}
	if ai != bi {
		return ai < bi
	}
	return ar[i] < br[i]
}

// syncOrder puts the fields of each mapping in to in the order of the
// mapping at the same place in from, fields from lacks after, as they
// were; list items are matched by position (kyaml's order.SyncOrder,
// without its copy of from).
func syncOrder(from, to *yaml.Node) {
	if from == nil || to == nil || len(from.Content) == 0 || len(to.Content) == 0 || from.Kind != to.Kind {
		return
	}
	switch from.Kind {
	case yaml.DocumentNode:
		syncOrder(from.Content[0], to.Content[0])
	case yaml.SequenceNode:
		for i := range min(len(from.Content), len(to.Content)) {
			syncOrder(from.Content[i], to.Content[i])
		}
	case yaml.MappingNode:
		taken := make([]bool, len(to.Content)/2)
		content := make([]*yaml.Node, 0, len(to.Content))
		for i := 0; i+1 < len(from.Content); i += 2 {
			j := fieldIndex(to, from.Content[i].Value)
			if j < 0 || taken[(j-1)/2] {
				continue
			}
			taken[(j-1)/2] = true
			syncOrder(from.Content[i+1], to.Content[j])
			content = append(content, to.Content[j-1], to.Content[j])
		}
		for i := 0; i+1 < len(to.Content); i += 2 {
			if !taken[i/2] {
				content = append(content, to.Content[i], to.Content[i+1])
			}
		}
		to.Content = content
	}
}

// rearrangeSeqItemComments moves the head comment of a mapping's first key
// onto the mapping, for each mapping that is an item of a list held by
// mappings only, as kyaml's order.SyncOrder does once it has reordered.
func rearrangeSeqItemComments(n *yaml.Node) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.MappingNode:
		for _, c := range n.Content {
			rearrangeSeqItemComments(c)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if len(item.Content) == 0 || item.Content[0].Kind != yaml.ScalarNode {
				continue
			}
			switch first := item.Content[0]; {
			case item.HeadComment == "":
				item.HeadComment = first.HeadComment
			case first.HeadComment != "":
				item.HeadComment += "\n" + first.HeadComment
				first.HeadComment = ""
			}
		}
	}
}
