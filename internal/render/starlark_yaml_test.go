package render

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestYAMLNodeAsEncoded: the nodes built directly from Starlark values write
// the same YAML as the encoder's round trip the catalog's runtime makes,
// for strings YAML would read as other types, multi-line strings, numbers,
// keys in the encoder's natural order, empty collections and nesting.
func TestYAMLNodeAsEncoded(t *testing.T) {
	strs := []string{"", "plain", "true", "True", "yes", "on", "OFF", "y", "n", "null", "~", "1", "1.5", "0x1F", "0o17",
		"1e3", ".inf", "-.nan", "1:30", "190:20:30.15", "- a", "a: b", "#x", "a #b", " lead", "trail ", "multi\nline",
		"multi\nline\n", "tab\there", "quote'\"", "ünï", "@at", "`tick", "*star", "&amp", "!bang", "%pct", "{x}", "[y]",
		"2024-01-02", "0755", "+1", "-1", "=", "<<"}
	keys := []string{"b", "a", "a10", "a2", "a1", "B", "10", "9", "_x", "x_", "a-1", "a.2", "a01", "a001", "ä", "zz", "z1z", "z01z"}
	d := starlark.NewDict(0)
	for i, k := range keys {
		d.SetKey(starlark.String(k), starlark.String(strs[i%len(strs)]))
	}
	list := []starlark.Value{starlark.None, starlark.True, starlark.False, starlark.MakeInt(0), starlark.MakeInt(-42),
		starlark.MakeInt64(math.MaxInt64), starlark.MakeUint64(math.MaxUint64), starlark.Float(1), starlark.Float(0.1),
		starlark.Float(1e21), starlark.Float(math.Inf(1)), starlark.Float(math.Inf(-1)), starlark.Float(math.NaN()),
		starlark.NewList(nil), starlark.NewDict(0), starlark.Tuple{starlark.String("t")}, d}
	for _, s := range strs {
		list = append(list, starlark.String(s))
	}
	nested := starlark.NewDict(0)
	nested.SetKey(starlark.String("list"), starlark.NewList(list))
	nested.SetKey(starlark.String("dict"), d)
	nested.SetKey(starlark.String("on"), starlark.String("off"))
	intKeys := starlark.NewDict(0)
	intKeys.SetKey(starlark.MakeInt(2), starlark.String("two"))
	intKeys.SetKey(starlark.MakeInt(1), starlark.String("one"))
	nested.SetKey(starlark.String("ints"), intKeys)
	c := &starlarkConverter{}
	got, err := c.yamlNode(nested, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.encodedNode(nested, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := yaml.NewRNode(got).String()
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.NewRNode(want).String()
	if err != nil {
		t.Fatal(err)
	}
	if g != w {
		t.Errorf("built:\n%s\nencoded:\n%s", g, w)
	}
}

// TestYAMLKeyOrder: yamlKeyLess sorts as the encoder sorts a map's keys.
func TestYAMLKeyOrder(t *testing.T) {
	keys := []string{"b", "a", "a10", "a2", "a1", "B", "10", "9", "_x", "x_", "a-1", "a.2", "a01", "a001", "ä", "z1z", "z01z", "0", "00", "a0", "a00b"}
	m := map[string]int{}
	for i, k := range keys {
		m[k] = i
	}
	var n yaml.Node
	if err := n.Encode(m); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < len(n.Content); i += 2 {
		want = append(want, n.Content[i].Value)
	}
	got := slices.Clone(keys)
	sort.SliceStable(got, func(i, j int) bool { return yamlKeyLess(got[i], got[j]) })
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

// TestStarlarkScalarAsDecoded: scalars convert to the values YAML decodes
// them to.
func TestStarlarkScalarAsDecoded(t *testing.T) {
	doc := `[plain, "quoted", 'single', 1, -7, +5, 0, -0, 0755, 0x1F, 0o17, 1_000, 1.5, .inf, true, false, True, FALSE, yes, null, ~, "", !!binary aGk=, 9223372036854775807, 9223372036854775808, -9223372036854775809]`
	var seq yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &seq); err != nil {
		t.Fatal(err)
	}
	for _, n := range seq.Content[0].Content {
		got, err := starlarkScalar(n)
		if err != nil {
			t.Errorf("%q: %v", n.Value, err)
			continue
		}
		var v any
		if err := n.Decode(&v); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint(v)
		if v == nil {
			want = "None"
		}
		if s, ok := got.(starlark.String); ok {
			if string(s) != want {
				t.Errorf("%q: got %q, want %q", n.Value, s, want)
			}
			continue
		}
		if g := strings.ReplaceAll(got.String(), "True", "true"); strings.ReplaceAll(g, "False", "false") != want && !(want == "+Inf" && g == "+inf") {
			t.Errorf("%q: got %s, want %s", n.Value, got, want)
		}
	}
}

// TestResolvedTag: resolvedTag is the tag YAML's resolver gives a plain
// scalar.
func TestResolvedTag(t *testing.T) {
	for _, s := range []string{"", "a", "name", "namespace", "tier", "template", "targetPort", "on", "off", "yes", "no",
		"y", "n", "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "null", "Null", "NULL", "nULL", "nil", "None",
		"Off", "O", "t", "f", "F", "T", "N", "Y", "~", ".inf", ".NaN", "-.inf", "+.inf", "<<", "1", "0x1", "1.5", "-1",
		"2001-12-14", "_x", "Z9", "ünï", "a b", "trueish", "nullable"} {
		n := yaml.Node{Kind: yaml.ScalarNode, Value: s}
		if got, want := resolvedTag(s), n.ShortTag(); got != want {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}
