// Package rendertest is the package the render's benchmarks render: the
// Go benchmark of internal/render and test/bench/renderbench measure the
// same one.
package rendertest

import (
	"fmt"
	"strings"
)

// The package measured: R resources in files of four (a Deployment, a
// Service, a ConfigMap and a ServiceAccount per app), a ConfigMap of
// settings, and a Kptfile whose pipeline runs the four functions of the
// goal — set-namespace, set-labels, apply-replacements (the settings'
// image into every Deployment) and starlark (an annotation on every
// resource) — the last two configured by files of the package, as kpt
// users write them.
const (
	imageNamespace = "gcr.io/kpt-fn/set-namespace:v0.4.1"
	imageLabels    = "gcr.io/kpt-fn/set-labels:v0.2.0"
	imageReplace   = "gcr.io/kpt-fn/apply-replacements:v0.1.1"
	imageStarlark  = "gcr.io/kpt-fn/starlark:v0.5.0"
	// SettingsFile is the file of the settings ConfigMap.
	SettingsFile     = "settings.yaml"
	replacementsFile = "fn-replacements.yaml"
	starlarkFile     = "fn-starlark.yaml"
)

// Package returns the files of the package with about resources
// resources (rounded up to a multiple of four), named name, its settings
// naming image; withPipeline false leaves the Kptfile without one (the
// side-by-side baseline of a PUT that renders nothing).
func Package(name string, resources int, image string, withPipeline bool) map[string]string {
	files := map[string]string{"Kptfile": kptfile(name, withPipeline), SettingsFile: Settings(image)}
	if withPipeline {
		files[replacementsFile] = replacements
		files[starlarkFile] = starlarkRun
	}
	for i := 0; i*4 < resources; i++ {
		files[fmt.Sprintf("apps/app-%03d.yaml", i)] = App(i)
	}
	return files
}

func kptfile(name string, withPipeline bool) string {
	k := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: " + name + "\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ninfo:\n  description: a package of many resources, rendered by a four-function pipeline\n"
	if !withPipeline {
		return k
	}
	return k + `pipeline:
  mutators:
    - image: ` + imageNamespace + `
      configMap:
        namespace: bench
    - image: ` + imageLabels + `
      configMap:
        app.kubernetes.io/part-of: bench
        tier: web
    - image: ` + imageReplace + `
      configPath: ` + replacementsFile + `
    - image: ` + imageStarlark + `
      configPath: ` + starlarkFile + `
`
}

// Settings is the settings ConfigMap, naming image.
func Settings(image string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-settings\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  image: " + image + "\n"
}

const replacements = `apiVersion: fn.kpt.dev/v1alpha1
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

const starlarkRun = `apiVersion: fn.kpt.dev/v1alpha1
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

// App is the i-th app's four resources.
func App(i int) string {
	n := fmt.Sprintf("app-%03d", i)
	var b strings.Builder
	fmt.Fprintf(&b, `# The app %[1]s: its workload, its Service, its settings and its identity.
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
`, n, i)
	return b.String()
}
