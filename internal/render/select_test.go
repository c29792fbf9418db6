package render

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestSelectors: a mutator sees the resources its selectors pick and its
// exclusions leave; a selected resource it drops is deleted (its file with
// it), one it returns replaces the input's, a new one is added, and the
// others stay as they were. A validator sees its selection only.
func TestSelectors(t *testing.T) {
	var seen [][]string
	record := func(rl *framework.ResourceList) error {
		var names []string
		for _, n := range rl.Items {
			names = append(names, n.GetName())
		}
		seen = append(seen, names)
		return nil
	}
	builtins["test-record"] = record
	builtins["test-drop"] = func(rl *framework.ResourceList) error {
		var keep []*yaml.RNode
		for _, n := range rl.Items {
			if n.GetName() != "drop" {
				keep = append(keep, n)
			}
		}
		rl.Items = append(keep, yaml.MustParse(configMap("added", "prod")))
		return record(rl)
	}
	t.Cleanup(func() { delete(builtins, "test-record"); delete(builtins, "test-drop") })
	files := map[string]string{
		"Kptfile": kptfileHead + `pipeline:
  mutators:
    - image: gcr.io/kpt-fn/set-labels:v0.1
      configMap: {picked: "yes"}
      selectors:
        - kind: ConfigMap
          labels: {team: a}
        - name: web
      exclude:
        - namespace: skip
        - {}
    - image: gcr.io/kpt-fn/test-drop
      selectors:
        - annotations: {drop: "me"}
        - apiVersion: apps/v1
  validators:
    - image: gcr.io/kpt-fn/test-record
      exclude:
        - kind: Deployment
`,
		"a.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    team: a\n",
		"b.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels:\n    team: b\n",
		"skip.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n  namespace: skip\n  labels:\n    team: a\n",
		"drop.yaml":       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drop\n  annotations:\n    drop: me\n",
		"deployment.yaml": strings.Replace(deployment, "namespace: prod", "namespace: prod\n  labels:\n    team: b", 1),
	}
	dir := writeFiles(t, files)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"web", "added"}, {"a", "b", "s", "added"}}
	if diff := cmp.Diff(seen, want); diff != "" {
		t.Errorf("resources functions saw (-got +want):\n%s", diff)
	}
	got := readTree(t, dir)
	if !strings.Contains(got["a.yaml"], "picked: \"yes\"") || strings.Contains(got["b.yaml"], "picked") ||
		strings.Contains(got["skip.yaml"], "picked") || !strings.Contains(got["deployment.yaml"], "picked: \"yes\"") {
		t.Errorf("set-labels selection:\n%v", got)
	}
	if _, ok := got["drop.yaml"]; ok {
		t.Error("drop.yaml was not deleted")
	}
	if diff := cmp.Diff(out.Deleted, []string{"drop.yaml"}); diff != "" {
		t.Errorf("Deleted (-got +want):\n%s", diff)
	}
	if g := got["prod/configmap_added.yaml"]; g != configMap("added", "prod") {
		t.Errorf("added resource: %q\n%v", g, got)
	}
	for name, data := range got {
		if strings.Contains(data, "kpt-resource-id") || strings.Contains(data, "config.k8s.io/id") {
			t.Errorf("%s keeps an id annotation:\n%s", name, data)
		}
	}
}

// TestConfigPath: a configPath names a file of the package whose resource is
// the function's functionConfig, as the mutators before left it; the
// resource is among the function's items too, and kept with its comments.
func TestConfigPath(t *testing.T) {
	var names []string
	builtins["test-record"] = func(rl *framework.ResourceList) error {
		names = nil
		for _, n := range rl.Items {
			names = append(names, n.GetName())
		}
		return nil
	}
	builtins["test-edit"] = func(rl *framework.ResourceList) error {
		for _, n := range rl.Items {
			if n.GetName() == "labels-config" {
				if err := n.PipeE(yaml.SetField("data", yaml.NewMapRNode(&map[string]string{"app": "edited"}))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	t.Cleanup(func() { delete(builtins, "test-record"); delete(builtins, "test-edit") })
	files := map[string]string{
		"Kptfile": kptfileHead + `pipeline:
  mutators:
    - image: gcr.io/kpt-fn/test-edit
    - image: gcr.io/kpt-fn/set-labels:v0.1
      configPath: ./fn/labels.yaml
  validators:
    - image: gcr.io/kpt-fn/test-record
      configPath: fn/labels.yaml
`,
		"fn/labels.yaml":  "# the labels\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labels-config\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  app: web\n",
		"deployment.yaml": deployment,
	}
	dir := writeFiles(t, files)
	if _, err := Render(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	if !strings.Contains(got["deployment.yaml"], "app: edited") {
		t.Errorf("deployment.yaml:\n%s", got["deployment.yaml"])
	}
	cfg := got["fn/labels.yaml"]
	if !strings.HasPrefix(cfg, "# the labels\n") || !strings.Contains(cfg, "app: edited") || !strings.Contains(cfg, "local-config") {
		t.Errorf("fn/labels.yaml:\n%s", cfg)
	}
	if diff := cmp.Diff(names, []string{"web", "labels-config"}); diff != "" {
		t.Errorf("validator's items (-got +want):\n%s", diff)
	}
}

// TestLocalConfig: a resource annotated config.kubernetes.io/local-config
// is passed to functions and kept in the package.
func TestLocalConfig(t *testing.T) {
	local := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setters\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata:\n  a: b\n"
	dir := writeFiles(t, map[string]string{
		"Kptfile":      kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configMap: {app: web}\n",
		"setters.yaml": local,
	})
	if _, err := Render(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)["setters.yaml"]
	if !strings.Contains(got, "local-config") || !strings.Contains(got, "app: web") {
		t.Errorf("setters.yaml:\n%s", got)
	}
}

// TestRemovedResource: a file keeps the resources a function did not
// remove; only a file left empty is deleted. The same render in memory
// says the same.
func TestRemovedResource(t *testing.T) {
	builtins["test-drop"] = func(rl *framework.ResourceList) error {
		var keep []*yaml.RNode
		for _, n := range rl.Items {
			if !strings.HasPrefix(n.GetName(), "drop") {
				keep = append(keep, n)
			}
		}
		rl.Items = keep
		return nil
	}
	t.Cleanup(func() { delete(builtins, "test-drop") })
	files := map[string]string{
		"Kptfile":       kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/test-drop\n",
		"both.yaml":     configMap("keep", "prod") + "---\n" + configMap("drop-1", "prod"),
		"sub/Kptfile":   kptfile("sub", ""),
		"sub/only.yaml": configMap("drop-2", "prod"),
	}
	mem := map[string][]byte{}
	for name, data := range files {
		mem[name] = []byte(data)
	}
	inMemory, err := RenderFiles(context.Background(), mem, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, files)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	if got["both.yaml"] != configMap("keep", "prod") {
		t.Errorf("both.yaml:\n%s", got["both.yaml"])
	}
	if _, ok := got["sub/only.yaml"]; ok {
		t.Error("sub/only.yaml was not deleted")
	}
	for _, o := range []*Outcome{out, inMemory} {
		if !cmp.Equal(o.Changed, []string{"both.yaml"}) || !cmp.Equal(o.Deleted, []string{"sub/only.yaml"}) {
			t.Errorf("Changed %q, Deleted %q", o.Changed, o.Deleted)
		}
	}
}
