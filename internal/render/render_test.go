package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// examples holds packages of the kpt function catalog's examples, each an
// input and the expected output of `kpt fn render` (see its README).
const examples = "../../test/testdata/render"

// copyPackage copies dir into a new temporary directory and returns it.
func copyPackage(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "pkg")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// readTree returns the files of dir by slash path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pkg")
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCatalogExamples renders each catalog example and compares the
// package with the catalog's expected output; a second render changes
// nothing.
func TestCatalogExamples(t *testing.T) {
	entries, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			dir := copyPackage(t, filepath.Join(examples, e.Name(), "input"))
			out, err := Render(context.Background(), dir, Options{})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(readTree(t, dir), readTree(t, filepath.Join(examples, e.Name(), "expected"))); diff != "" {
				t.Errorf("rendered package (-got +want):\n%s", diff)
			}
			if got, want := out.Changed, exampleChanges(t, e.Name()); !cmp.Equal(got, want) {
				t.Errorf("Changed = %q, want %q", got, want)
			}
			if out.Results.ExitCode != 0 || len(out.Results.Items) != 1 || out.Results.Items[0].ExitCode != 0 {
				t.Errorf("results: %+v", out.Results)
			}
			again, err := Render(context.Background(), dir, Options{})
			if err != nil || len(again.Changed)+len(again.Deleted) != 0 {
				t.Errorf("second render: changed %q deleted %q, %v", again.Changed, again.Deleted, err)
			}
		})
	}
}

// TestCatalogImages: the catalog's current registry serves the same
// functions, whatever the tag or digest.
func TestCatalogImages(t *testing.T) {
	for _, tt := range []struct {
		image, name string
		ok          bool
	}{
		{"gcr.io/kpt-fn/set-namespace:v0.1", "set-namespace", true},
		{"gcr.io/kpt-fn/set-labels", "set-labels", true},
		{"ghcr.io/kptdev/krm-functions-catalog/set-annotations:latest", "set-annotations", true},
		{"ghcr.io/kptdev/krm-functions-catalog/set-namespace@sha256:0123", "set-namespace", true},
		{"gcr.io/kpt-fn/apply-setters:v0.2", "apply-setters", true},
		{"gcr.io/kpt-fn/", "", false},
		{"gcr.io/kpt-fn/x/set-labels:v1", "", false},
		{"docker.io/example/set-labels:v1", "", false},
	} {
		name, ok := catalogName(tt.image)
		if name != tt.name || ok != tt.ok {
			t.Errorf("catalogName(%q) = %q, %v; want %q, %v", tt.image, name, ok, tt.name, tt.ok)
		}
	}
	src := filepath.Join(examples, "set-namespace-simple")
	dir := copyPackage(t, filepath.Join(src, "input"))
	kf := filepath.Join(dir, "Kptfile")
	b, err := os.ReadFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	ghcr := strings.Replace(string(b), "gcr.io/kpt-fn/set-namespace:v0.1", "ghcr.io/kptdev/krm-functions-catalog/set-namespace:latest", 1)
	if ghcr == string(b) {
		t.Fatalf("the example's Kptfile names no gcr.io/kpt-fn/set-namespace:v0.1:\n%s", b)
	}
	b = []byte(ghcr)
	if err := os.WriteFile(kf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	got, want := readTree(t, dir)["resources.yaml"], readTree(t, filepath.Join(src, "expected"))["resources.yaml"]
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("resources.yaml (-got +want):\n%s", diff)
	}
}

// untouched asserts the package in dir holds exactly files, each with the
// modification time it had before.
func untouched(t *testing.T, dir string, files map[string]string, mtimes map[string]time.Time) {
	t.Helper()
	if diff := cmp.Diff(readTree(t, dir), files); diff != "" {
		t.Errorf("package changed (-got +want):\n%s", diff)
	}
	for name, mt := range mtimes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.ModTime().Equal(mt) {
			t.Errorf("%s was rewritten", name)
		}
	}
}

func mtimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	for name := range readTree(t, dir) {
		// An old time, so that a rewrite shows whatever the clock's grain.
		old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
		m[name] = old
	}
	return m
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
`

// TestFailureLeavesPackageUntouched: an image no built-in serves, and a
// mutator or a validator that fails after a mutator ran, leave every file
// as it was and report why; the function's results say what failed.
func TestFailureLeavesPackageUntouched(t *testing.T) {
	for _, tt := range []struct {
		name, mutators string
		wantErr        error
		wantItems      int
		wantMessage    string
	}{
		{
			name: "unknown image",
			mutators: `    - image: gcr.io/kpt-fn/set-labels:v0.1
      configMap: {app: web}
    - image: gcr.io/kpt-fn/kubeval:v0.3
      configMap: {replicas: "3"}
`,
			wantErr:     ErrNoRuntime,
			wantMessage: `"gcr.io/kpt-fn/kubeval:v0.3"`,
		},
		{
			name: "validator error",
			mutators: `    - image: gcr.io/kpt-fn/set-labels:v0.1
      configMap: {app: web}
  validators:
    - image: gcr.io/kpt-fn/set-annotations:v0.1
`,
			wantItems:   2,
			wantMessage: "a functionConfig is required",
		},
		{
			name: "function error",
			mutators: `    - image: gcr.io/kpt-fn/set-labels:v0.1
      configMap: {app: web}
    - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:latest
      configMap: {name: staging}
`,
			wantItems:   2,
			wantMessage: "input namespace cannot be empty",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{
				"Kptfile":         "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  mutators:\n" + tt.mutators,
				"deployment.yaml": deployment,
			}
			dir := writeFiles(t, files)
			mt := mtimes(t, dir)
			out, err := Render(context.Background(), dir, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantMessage) {
				t.Fatalf("Render: %v, want an error saying %s", err, tt.wantMessage)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Render: %v, want %v", err, tt.wantErr)
			}
			if out.Results.ExitCode != 1 || len(out.Results.Items) != tt.wantItems {
				t.Errorf("results: %+v", out.Results)
			}
			if tt.wantItems > 0 {
				var fe *FunctionError
				if !errors.As(err, &fe) {
					t.Fatalf("Render: %v, want a *FunctionError", err)
				}
				last := fe.Results.Items[len(fe.Results.Items)-1]
				if last.ExitCode != 1 || len(last.Results) != 1 || last.Results[0].Severity != "error" ||
					!strings.Contains(last.Results[0].Message, tt.wantMessage) {
					t.Errorf("failed function's result: %+v", last)
				}
			}
			untouched(t, dir, files, mt)
		})
	}
}

// TestDryRun reports what a render would change and writes nothing.
func TestDryRun(t *testing.T) {
	dir := copyPackage(t, filepath.Join(examples, "set-labels-simple", "input"))
	before := readTree(t, dir)
	mt := mtimes(t, dir)
	out, err := Render(context.Background(), dir, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Changed, []string{"resources.yaml"}; !cmp.Equal(got, want) {
		t.Errorf("Changed = %q, want %q", got, want)
	}
	untouched(t, dir, before, mt)
}

// TestRenderFiles renders a package held as files in memory: the outcome
// is the on-disk render's, and the files given are not modified.
func TestRenderFiles(t *testing.T) {
	in := filepath.Join(examples, "set-namespace-simple", "input")
	files := map[string][]byte{}
	for name, data := range readTree(t, in) {
		files[name] = []byte(data)
	}
	before := readTree(t, in)
	got, err := RenderFiles(context.Background(), files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := copyPackage(t, in)
	want, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Changed) == 0 {
		t.Fatal("RenderFiles changed nothing")
	}
	if diff := cmp.Diff(want.Changed, got.Changed); diff != "" {
		t.Errorf("changed files (-disk +memory):\n%s", diff)
	}
	after := readTree(t, dir)
	for _, name := range got.Changed {
		if string(got.Contents[name]) != after[name] {
			t.Errorf("%s: in memory\n%s\non disk\n%s", name, got.Contents[name], after[name])
		}
		if string(files[name]) != before[name] {
			t.Errorf("%s: the given file was modified", name)
		}
	}
	if _, err := RenderFiles(context.Background(), map[string][]byte{"../x.yaml": nil}, Options{}); err == nil {
		t.Error("a path outside the package was accepted")
	}
}
