package render

import (
	"context"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/render/rendertest"
)

// BenchmarkRenderFiles renders the package test/bench/renderbench renders
// (rendertest.Package):
// 100 resources in files of four (a Deployment, a Service, a ConfigMap and
// a ServiceAccount per app), a ConfigMap of settings, and a Kptfile whose
// pipeline runs set-namespace, set-labels, apply-replacements (the
// settings' image into every Deployment) and starlark (an annotation on
// every resource). The render changes every file but the Kptfile.
func BenchmarkRenderFiles(b *testing.B) {
	files := benchPackage(100, "registry.example.com/app:1.0.0")
	ctx := context.Background()
	out, err := RenderFiles(ctx, files, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if got, want := len(out.Changed), 28; got != want {
		b.Fatalf("%d files changed (%v), want %d", got, out.Changed, want)
	}
	app := string(out.Contents["apps/app-000.yaml"])
	for _, want := range []string{"namespace: bench", "tier: web", "image: registry.example.com/app:1.0.0", "bench.pkgserver.dev/rendered: \"true\""} {
		if !strings.Contains(app, want) {
			b.Fatalf("the rendered app file lacks %q:\n%s", want, app)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderFiles(ctx, files, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPackage is the package renderbench renders, with about resources
// resources, its settings naming image.
func benchPackage(resources int, image string) map[string][]byte {
	files := map[string][]byte{}
	for p, data := range rendertest.Package("bench", resources, image, true) {
		files[p] = []byte(data)
	}
	return files
}
