package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func kptfile(name, pipeline string) string {
	return "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: " + name + "\n" + pipeline
}

func configMap(name, ns string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\ndata:\n  a: b\n"
}

// TestSubpackages: subpackages render first, depth first, each over its
// own resources and its subpackages'; the parent's pipeline then runs over
// all of them. The results list every function in that order.
func TestSubpackages(t *testing.T) {
	files := map[string]string{
		"Kptfile":     kptfile("root", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configMap: {tier: root}\n"),
		"cm.yaml":     configMap("root", "prod"),
		"a/Kptfile":   kptfile("a", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4\n      configMap: {namespace: a}\n"),
		"a/cm.yaml":   configMap("a", "prod"),
		"a/b/Kptfile": kptfile("b", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-annotations:v0.1\n      configMap: {owner: b}\n"),
		"a/b/cm.yaml": configMap("b", "prod"),
		// Not a package: its resources belong to a.
		"a/plain/cm.yaml": configMap("plain", "prod"),
		"c/Kptfile":       kptfile("c", ""),
		"c/cm.yaml":       configMap("c", "prod"),
	}
	dir := writeFiles(t, files)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, r := range out.Results.Items {
		images = append(images, r.Image)
	}
	want := []string{"gcr.io/kpt-fn/set-annotations:v0.1", "gcr.io/kpt-fn/set-namespace:v0.4", "gcr.io/kpt-fn/set-labels:v0.1"}
	if diff := cmp.Diff(images, want); diff != "" {
		t.Errorf("functions run (-got +want):\n%s", diff)
	}
	if out.Packages != 4 {
		t.Errorf("Packages = %d, want 4", out.Packages)
	}
	got := readTree(t, dir)
	for name, tt := range map[string]struct {
		ns    string
		owner bool
	}{
		"cm.yaml": {"prod", false}, "a/cm.yaml": {"a", false}, "a/b/cm.yaml": {"a", true},
		"a/plain/cm.yaml": {"a", false}, "c/cm.yaml": {"prod", false},
	} {
		g := got[name]
		if !strings.Contains(g, "namespace: "+tt.ns+"\n") || !strings.Contains(g, "tier: root") ||
			strings.Contains(g, "owner: b") != tt.owner || strings.Contains(g, "package-path") || strings.Contains(g, "path:") {
			t.Errorf("%s:\n%s", name, g)
		}
	}
	for _, k := range []string{"Kptfile", "a/Kptfile", "a/b/Kptfile", "c/Kptfile"} {
		if got[k] != files[k] {
			t.Errorf("%s changed:\n%s", k, got[k])
		}
	}
	wantChanged := []string{"a/b/cm.yaml", "a/cm.yaml", "a/plain/cm.yaml", "c/cm.yaml", "cm.yaml"}
	if diff := cmp.Diff(out.Changed, wantChanged); diff != "" {
		t.Errorf("Changed (-got +want):\n%s", diff)
	}
}

// TestSubpackagePaths: a subpackage's resources carry paths relative to
// the subpackage and its directory in kpt's package-path annotation; a
// resource a pipeline creates without a path goes, named as kyaml names
// it, into the directory of the package whose pipeline created it.
func TestSubpackagePaths(t *testing.T) {
	var seen []string
	builtins["test-record"] = func(rl *framework.ResourceList) error {
		for _, n := range rl.Items {
			a := n.GetAnnotations()
			seen = append(seen, a["internal.config.kubernetes.io/path"]+" "+filepath.Base(a[pkgPathAnnotation]))
		}
		return nil
	}
	builtins["test-create"] = func(rl *framework.ResourceList) error {
		data := rl.FunctionConfig.GetDataMap()
		rl.Items = append(rl.Items, yaml.MustParse(configMap(data["name"], data["namespace"])))
		return nil
	}
	t.Cleanup(func() { delete(builtins, "test-record"); delete(builtins, "test-create") })
	files := map[string]string{
		"Kptfile":     kptfile("root", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/test-record\n    - image: gcr.io/kpt-fn/test-create\n      configMap: {name: new-root, namespace: ''}\n"),
		"cm.yaml":     configMap("root", "prod"),
		"sub/Kptfile": kptfile("sub", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/test-create\n      configMap: {name: New-Sub, namespace: prod}\n"),
		"sub/cm.yaml": configMap("sub", "prod"),
	}
	dir := writeFiles(t, files)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seen, []string{"cm.yaml sub", "prod/configmap_New-Sub.yaml sub", "cm.yaml pkg"}); diff != "" {
		t.Errorf("paths functions see (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(out.Changed, []string{"configmap_new-root.yaml", "sub/prod/configmap_New-Sub.yaml"}); diff != "" {
		t.Errorf("Changed (-got +want):\n%s", diff)
	}
	got := readTree(t, dir)
	if g := got["sub/prod/configmap_New-Sub.yaml"]; g != configMap("New-Sub", "prod") {
		t.Errorf("new resource in sub:\n%s", g)
	}
}

// TestSubpackageFailure: a function failing in a subpackage, after the
// other subpackage rendered, leaves every file of the tree untouched.
func TestSubpackageFailure(t *testing.T) {
	files := map[string]string{
		"Kptfile":     kptfile("root", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configMap: {tier: root}\n"),
		"cm.yaml":     configMap("root", "prod"),
		"a/Kptfile":   kptfile("a", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4\n      configMap: {namespace: a}\n"),
		"a/cm.yaml":   configMap("a", "prod"),
		"b/Kptfile":   kptfile("b", "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4\n      configMap: {name: b}\n"),
		"b/cm.yaml":   configMap("b", "prod"),
		"b/gone.yaml": configMap("gone", "prod"),
	}
	dir := writeFiles(t, files)
	mt := mtimes(t, dir)
	out, err := Render(context.Background(), dir, Options{})
	var fe *FunctionError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "subpackage b: ") {
		t.Fatalf("Render: %v, want a *FunctionError in subpackage b", err)
	}
	if len(out.Results.Items) != 2 || out.Results.Items[0].ExitCode != 0 || out.Results.Items[1].ExitCode != 1 || out.Results.ExitCode != 1 {
		t.Errorf("results: %+v", out.Results)
	}
	untouched(t, dir, files, mt)
}

// TestGitDirNoSubpackage: a subpackage's resources are not read by its
// parent, and a .git directory holding a Kptfile is no subpackage.
func TestGitDirNoSubpackage(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"Kptfile":       kptfile("root", ""),
		".git/Kptfile":  kptfile("git", ""),
		"sub/Kptfile":   kptfile("sub", ""),
		"sub/x/cm.yaml": configMap("x", "prod"),
	})
	root, err := loadTree(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(root.subs) != 1 || root.subs[0].rel != "sub" || len(root.local) != 0 || len(root.subs[0].local) != 1 {
		t.Errorf("tree: %+v", root)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "Kptfile")); err != nil {
		t.Fatal(err)
	}
}
