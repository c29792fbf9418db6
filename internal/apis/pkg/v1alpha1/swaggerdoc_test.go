package v1alpha1

import (
	"flag"
	"testing"

	"github.com/pkgserver/pkgserver/internal/apis/docgen"
)

var update = flag.Bool("update", false, "rewrite the generated SwaggerDoc methods")

// The SwaggerDoc methods are those the doc comments generate.
func TestSwaggerDoc(t *testing.T) {
	if err := docgen.Check(".", *update); err != nil {
		t.Fatal(err)
	}
}
