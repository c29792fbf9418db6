package render

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/render/rendertest"
)

// TestCopyNodes: copies are the trees RNode.Copy makes, and an edit of a
// copy changes neither the original nor the other nodes of the copy.
func TestCopyNodes(t *testing.T) {
	nodes, err := decodeResources([]byte(kyamlPackage["multi.yaml"]+"---\n"+kyamlPackage["anchors.yaml"]+"---\n"+rendertest.App(0)), "r.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	copies := copyNodes(nodes)
	for i, n := range nodes {
		want := n.Copy()
		if !sameNodes(copies[i].YNode(), want.YNode()) {
			t.Fatalf("copy %d:\n%s\nwant\n%s", i, copies[i].MustString(), want.MustString())
		}
		if copies[i].YNode() == n.YNode() {
			t.Fatalf("copy %d is the original", i)
		}
	}
	before := make([]string, len(nodes))
	for i, n := range nodes {
		before[i] = n.MustString()
	}
	for _, c := range copies {
		var grow func(n *yaml.Node)
		grow = func(n *yaml.Node) {
			for _, item := range n.Content {
				grow(item)
			}
			if n.Kind == yaml.MappingNode {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "added"}, &yaml.Node{Kind: yaml.ScalarNode, Value: "x"})
			}
		}
		wantCopy := c.Copy()
		grow(wantCopy.YNode())
		grow(c.YNode())
		if !sameNodes(c.YNode(), wantCopy.YNode()) {
			t.Fatalf("edited copy:\n%s\nwant\n%s", c.MustString(), wantCopy.MustString())
		}
	}
	for i, n := range nodes {
		if got := n.MustString(); got != before[i] {
			t.Fatalf("original %d changed by an edit of its copy:\n%s", i, got)
		}
	}
}
