package render

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRenderFiles renders the package test/bench/renderbench renders:
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

// benchPackage returns the files of the benchmark's package with about
// resources resources (rounded up to a multiple of four), its settings
// naming image.
func benchPackage(resources int, image string) map[string][]byte {
	files := map[string][]byte{
		"Kptfile":              []byte(benchKptfile),
		"settings.yaml":        []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-settings\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  image: " + image + "\n"),
		"fn-replacements.yaml": []byte(benchReplacements),
		"fn-starlark.yaml":     []byte(benchStarlarkRun),
	}
	for i := 0; i*4 < resources; i++ {
		files[fmt.Sprintf("apps/app-%03d.yaml", i)] = []byte(benchApp(i))
	}
	return files
}

const benchKptfile = `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: bench
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: a package of many resources, rendered by a four-function pipeline
pipeline:
  mutators:
    - image: gcr.io/kpt-fn/set-namespace:v0.4.1
      configMap:
        namespace: bench
    - image: gcr.io/kpt-fn/set-labels:v0.2.0
      configMap:
        app.kubernetes.io/part-of: bench
        tier: web
    - image: gcr.io/kpt-fn/apply-replacements:v0.1.1
      configPath: fn-replacements.yaml
    - image: gcr.io/kpt-fn/starlark:v0.5.0
      configPath: fn-starlark.yaml
`

const benchReplacements = `apiVersion: fn.kpt.dev/v1alpha1
kind: ApplyReplacements
metadata:
  name: image-from-settings
  annotations:
    config.kubernetes.io/local-config: "true"
replacements:
  - source:
      kind: ConfigMap
      name: bench-settings
      fieldPath: data.image
    targets:
      - select:
          kind: Deployment
        fieldPaths:
          - spec.template.spec.containers.[name=app].image
`

const benchStarlarkRun = `apiVersion: fn.kpt.dev/v1alpha1
kind: StarlarkRun
metadata:
  name: annotate
  annotations:
    config.kubernetes.io/local-config: "true"
source: |
  def annotate(resources):
    for r in resources:
      if r["kind"] in ("Deployment", "Service", "ConfigMap", "ServiceAccount"):
        r["metadata"].setdefault("annotations", {})["bench.pkgserver.dev/rendered"] = "true"
  annotate(ctx.resource_list["items"])
`

// benchApp is the i-th app's four resources.
func benchApp(i int) string {
	return fmt.Sprintf(`# The app %[1]s: its workload, its Service, its settings and its identity.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      serviceAccountName: %[1]s
      containers:
        - name: app
          image: registry.example.com/app:0.0.0 # set from bench-settings
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: %[1]s
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector:
    app: %[1]s
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: %[1]s
data:
  LOG_LEVEL: info
  INDEX: "%[2]d"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[1]s
`, fmt.Sprintf("app-%03d", i), i)
}
