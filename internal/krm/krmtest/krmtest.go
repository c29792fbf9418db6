// Package krmtest helps tests build resources from YAML text.
package krmtest

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// Object parses one YAML document into the unstructured value pkgserver
// validates, failing the test on any error.
func Object(t testing.TB, doc string) map[string]any {
	t.Helper()
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := krm.ToObject(n.YNode())
	if err != nil {
		t.Fatal(err)
	}
	return obj
}
