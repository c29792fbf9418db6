package render

import (
	"testing"

	"go.starlark.net/starlark"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/render/rendertest"
)

// TestStarlarkConversionsInParallel: resources converted in parallel,
// values shared between them included, are what converting them in order
// makes.
func TestStarlarkConversionsInParallel(t *testing.T) {
	inputs := itemsFromFile(t, "app.yaml", starlarkResources+"---\n"+rendertest.App(0))
	var c starlarkConverter
	values, err := c.starlarkValues(inputs)
	if err != nil {
		t.Fatal(err)
	}
	var inOrder starlarkConverter
	for i, n := range inputs {
		want, err := inOrder.starlarkValue(n.YNode(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if values[i].String() != want.String() {
			t.Errorf("item %d: got %s, want %s", i, values[i], want)
		}
	}
	if c.values != inOrder.values {
		t.Errorf("counted %d values, want %d", c.values, inOrder.values)
	}

	shared := starlark.NewList([]starlark.Value{starlark.MakeInt(1), starlark.NewSet(1), starlark.NewDict(1)})
	for _, v := range values {
		if err := v.(*starlark.Dict).SetKey(starlark.String("shared"), shared); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, v := range values {
		var conv starlarkConverter
		n, err := conv.yamlNode(v, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, nodeString(t, n))
	}
	got, err := yamlItems(starlark.NewList(values), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if s := nodeString(t, got[i].YNode()); s != want[i] {
			t.Errorf("item %d:\n%s\nwant\n%s", i, s, want[i])
		}
	}
}

func nodeString(t *testing.T, n *yaml.Node) string {
	t.Helper()
	s, err := yaml.NewRNode(n).String()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
