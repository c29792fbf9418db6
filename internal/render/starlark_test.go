package render

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// starlarkRun returns a StarlarkRun functionConfig running source with
// params.
func starlarkRun(source, params string) *yaml.RNode {
	config := yaml.MustParse("apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: test-script\n")
	if err := config.PipeE(yaml.SetField("source", yaml.NewStringRNode(source))); err != nil {
		panic(err)
	}
	if params != "" {
		if err := config.PipeE(yaml.SetField("params", yaml.MustParse(params))); err != nil {
			panic(err)
		}
	}
	return config
}

const starlarkResources = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the front end
  annotations:
    config.kubernetes.io/local-config: "true"
spec:
  # how many
  replicas: 3
  paused: false
  ratio: 0.5
  note: null
  template:
    spec:
      containers:
        - name: web
          image: nginx
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  count: "5"
`

// TestStarlarkRun: the catalog's README example with params; the script's
// changes come back with the comments and field order of the input, new
// fields after the input's.
func TestStarlarkRun(t *testing.T) {
	rl := &framework.ResourceList{
		Items: itemsFromFile(t, "app.yaml", starlarkResources),
		FunctionConfig: starlarkRun(`toMatch = ctx.resource_list["functionConfig"]["params"]["toMatch"]
toAdd = ctx.resource_list["functionConfig"]["params"]["toAdd"]
for resource in ctx.resource_list["items"]:
  annotations = resource["metadata"].get("annotations", {})
  match = True
  for key in toMatch:
    if annotations.get(key) != toMatch[key]:
      match = False
      break
  if match:
    for key in toAdd:
      resource["metadata"]["annotations"][key] = toAdd[key]
    spec = resource["spec"]
    spec["replicas"] = spec["replicas"] * 2
    spec["paused"] = not spec["paused"]
    spec["ratio"] = spec["ratio"] * 3
    spec["zeta"] = "new"
    spec["alpha"] = [1, "two", None]
`, "toMatch:\n  config.kubernetes.io/local-config: \"true\"\ntoAdd:\n  configmanagement.gke.io/managed: disabled\n"),
	}
	if err := runStarlark(rl); err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # the front end
  annotations:
    config.kubernetes.io/local-config: "true"
    configmanagement.gke.io/managed: disabled
spec:
  # how many
  replicas: 6
  paused: true
  ratio: 1.5
  note: null
  template:
    spec:
      containers:
        - name: web
          image: nginx
  alpha:
    - 1
    - two
    - null
  zeta: new
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  count: "5"
`
	if diff := cmp.Diff(writtenItems(t, rl.Items), want); diff != "" {
		t.Errorf("resources (-got +want):\n%s", diff)
	}
}

// TestStarlarkConfigMap: a ConfigMap's data.source is the script and the
// rest of its data are strings beside it; the script may add and remove
// resources and what it prints is reported.
func TestStarlarkConfigMap(t *testing.T) {
	rl := &framework.ResourceList{
		Items: itemsFromFile(t, "app.yaml", starlarkResources),
		FunctionConfig: dataConfigMap(t, map[string]string{
			"replicas": "5",
			"source": `data = ctx.resource_list["functionConfig"]["data"]
items = [r for r in ctx.resource_list["items"] if r["kind"] != "ConfigMap"]
for r in items:
  r["spec"]["replicas"] = data["replicas"]
  print("set", r["metadata"]["name"], "to", data["replicas"])
items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}})
ctx.resource_list["items"] = items
`,
		}),
	}
	if err := runStarlark(rl); err != nil {
		t.Fatal(err)
	}
	if len(rl.Items) != 2 || rl.Items[0].GetKind() != "Deployment" || rl.Items[1].GetKind() != "Namespace" {
		t.Fatalf("items:\n%s", writtenItems(t, rl.Items))
	}
	replicas, err := rl.Items[0].Pipe(yaml.Lookup("spec", "replicas"))
	if err != nil || replicas.MustString() != "\"5\"\n" {
		t.Errorf("spec.replicas = %v, %v; want the string 5", replicas, err)
	}
	if got, want := rl.Items[1].MustString(), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"; got != want {
		t.Errorf("new resource:\n%s\nwant\n%s", got, want)
	}
	if len(rl.Results) != 1 || rl.Results[0].Message != "set web to 5" || rl.Results[0].Severity != framework.Info {
		t.Errorf("results: %v", rl.Results)
	}
}

// TestStarlarkKeepsPackage: a script that changes nothing leaves the
// package as it was, comments and all.
func TestStarlarkKeepsPackage(t *testing.T) {
	files := map[string]string{
		"Kptfile": kptfileHead + `pipeline:
  mutators:
    - image: gcr.io/kpt-fn/starlark:v0.4
      configMap:
        source: |
          for r in ctx.resource_list["items"]:
            r["metadata"]["name"] = r["metadata"]["name"]
`,
		"app.yaml": "# The web front end.\n" + strings.Replace(starlarkResources, "  count: \"5\"\n", "  count: \"5\" # kept\n", 1),
	}
	dir := writeFiles(t, files)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed)+len(out.Deleted) != 0 {
		t.Errorf("changed %q deleted %q:\n%s", out.Changed, out.Deleted, out.Contents["app.yaml"])
	}
}

// TestStarlarkFailures: fail(), runtime and syntax errors, load(), a
// script running past its step limit and items the script broke fail the
// function with a message saying why.
func TestStarlarkFailures(t *testing.T) {
	for _, tt := range []struct {
		name, source, wantErr string
	}{
		{"fail", "def check():\n  fail(\"replicas must be set\")\ncheck()\n", `starlark: fail: replicas must be set (at test-script:2:7)`},
		{"runtime error", `x = ctx.resource_list["items"][7]`, "starlark: list index 7 out of range [-2:1] (at test-script:1:31)"},
		{"syntax error", "for x in\n", "starlark: test-script:1:9: got newline, want primary expression"},
		{"load", `load("encoding/json.star", "json")`, `load("encoding/json.star"): the in-process starlark function loads no modules`},
		{"infinite loop", "while True:\n  pass\n", "starlark: the script was stopped after 100000 execution steps, its limit"},
		{"items not a list", `ctx.resource_list["items"] = "x"`, `ctx.resource_list["items"] must be a list of resources, not a string`},
		{"item not a dict", `ctx.resource_list["items"].append(1)`, `ctx.resource_list["items"][2] must be a dict, not a int`},
		{"function in a resource", `ctx.resource_list["items"][0]["f"] = len`, `ctx.resource_list["items"][0]: a builtin_function_or_method cannot be written as YAML`},
		{"cycle", "d = ctx.resource_list[\"items\"][0]\nd[\"self\"] = d\n", `values nested deeper than 1000`},
		{"first failure in order", "ctx.resource_list[\"items\"].append(1)\nctx.resource_list[\"items\"][1][\"f\"] = len\n", `ctx.resource_list["items"][1]: a builtin_function_or_method cannot be written as YAML`},
		{"items removed", `ctx.resource_list.pop("items")`, `the script removed ctx.resource_list["items"]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := &framework.ResourceList{
				Items:          itemsFromFile(t, "app.yaml", starlarkResources),
				FunctionConfig: starlarkRun(tt.source, ""),
			}
			err := execStarlark(rl, 100_000)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("execStarlark: %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestStarlarkStepLimit: the limit runStarlark sets stops a script that
// never ends.
func TestStarlarkStepLimit(t *testing.T) {
	rl := &framework.ResourceList{FunctionConfig: starlarkRun("while True:\n  pass\n", "")}
	start := time.Now()
	err := runStarlark(rl)
	if err == nil || !strings.Contains(err.Error(), "the script was stopped after") {
		t.Fatalf("runStarlark: %v, want the step limit's error", err)
	}
	t.Logf("stopped after %v", time.Since(start))
}

// TestStarlarkConfig: a functionConfig that names no script is an error
// naming the function.
func TestStarlarkConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		config  *yaml.RNode
		wantErr string
	}{
		{"none", nil, "starlark: a functionConfig is required"},
		{"ConfigMap without source", yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"), "starlark: `source` must not be empty"},
		{"StarlarkRun without source", starlarkRun("", ""), "starlark: `source` must not be empty"},
		{"StarlarkRun with a list for source", yaml.MustParse("apiVersion: fn.kpt.dev/v1alpha1\nkind: StarlarkRun\nmetadata:\n  name: x\nsource: [a]\n"), "starlark: StarlarkRun: source must be a string"},
		{"another kind", yaml.MustParse("apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplySetters\nmetadata:\n  name: x\n"), "starlark: functionConfig must be a ConfigMap or a fn.kpt.dev/v1alpha1 StarlarkRun, not fn.kpt.dev/v1alpha1 ApplySetters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := runStarlark(&framework.ResourceList{FunctionConfig: tt.config})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runStarlark: %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestStarlarkFailsRender: a script's fail() fails the render with its
// message and leaves the package as it was.
func TestStarlarkFailsRender(t *testing.T) {
	files := map[string]string{
		"Kptfile": kptfileHead + `pipeline:
  validators:
    - image: ghcr.io/kptdev/krm-functions-catalog/starlark:latest
      configMap:
        source: |
          for r in ctx.resource_list["items"]:
            if r["kind"] == "Deployment" and r["metadata"].get("namespace") == "prod":
              fail("no deployments to prod: " + r["metadata"]["name"])
`,
		"deployment.yaml": deployment,
	}
	dir := writeFiles(t, files)
	mt := mtimes(t, dir)
	_, err := Render(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "starlark: fail: no deployments to prod: web") {
		t.Fatalf("Render: %v, want the script's failure", err)
	}
	untouched(t, dir, files, mt)
}
