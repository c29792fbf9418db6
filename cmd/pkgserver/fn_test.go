package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runFnRender runs `pkgserver fn render ARGS` and returns its standard
// output, standard error and exit status.
func runFnRender(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := newFnCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"render"}, args...))
	err := cmd.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		errOut.WriteString(ee.Error())
	default:
		code = 2
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

func fnPackage(t *testing.T, image string) string {
	t.Helper()
	dir := t.TempDir()
	kptfile := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  mutators:\n    - image: " + image + "\n      configMap:\n        namespace: staging\n"
	for name, data := range map[string]string{
		"Kptfile": kptfile,
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: prod\ndata:\n  a: b\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFnRender: --check on an unrendered package exits 1 and changes
// nothing; render writes it and prints the FunctionResultList; --check
// then exits 0.
func TestFnRender(t *testing.T) {
	dir := fnPackage(t, "gcr.io/kpt-fn/set-namespace:v0.1")
	cm := filepath.Join(dir, "cm.yaml")
	before := readFile(t, cm)

	_, stderr, code := runFnRender(t, "--check", dir)
	if code != 1 || !strings.Contains(stderr, "would change: cm.yaml") || readFile(t, cm) != before {
		t.Errorf("--check before rendering: exit %d\n%s", code, stderr)
	}

	stdout, stderr, code := runFnRender(t, "-o", "json", dir)
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	var list struct {
		APIVersion, Kind string
		ExitCode         int
		Items            []struct {
			Image    string
			ExitCode int
		}
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if list.APIVersion != "kpt.dev/v1" || list.Kind != "FunctionResultList" || list.ExitCode != 0 ||
		len(list.Items) != 1 || list.Items[0].Image != "gcr.io/kpt-fn/set-namespace:v0.1" {
		t.Errorf("-o json: %s", stdout)
	}
	if got := readFile(t, cm); !strings.Contains(got, "namespace: staging") {
		t.Errorf("cm.yaml not rendered:\n%s", got)
	}

	if _, stderr, code := runFnRender(t, "--check", dir); code != 0 {
		t.Errorf("--check after rendering: exit %d\n%s", code, stderr)
	}
}

// TestFnRenderFailure: a pipeline naming an image no built-in serves exits
// 1 naming it, the package untouched; -o yaml still prints the results.
func TestFnRenderFailure(t *testing.T) {
	dir := fnPackage(t, "gcr.io/kpt-fn/kubeval:v0.3")
	before := readFile(t, filepath.Join(dir, "cm.yaml"))
	stdout, stderr, code := runFnRender(t, "-o", "yaml", dir)
	if code != 1 || !strings.Contains(stderr, `"gcr.io/kpt-fn/kubeval:v0.3"`) || !strings.Contains(stderr, "no container runtime") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "kind: FunctionResultList") || !strings.Contains(stdout, "exitCode: 1") {
		t.Errorf("-o yaml:\n%s", stdout)
	}
	if readFile(t, filepath.Join(dir, "cm.yaml")) != before {
		t.Error("cm.yaml changed")
	}
	if _, _, code := runFnRender(t, "-o", "xml", dir); code != 2 {
		t.Errorf("-o xml: exit %d, want 2", code)
	}
	if _, _, code := runFnRender(t, t.TempDir()); code != 2 {
		t.Errorf("not a package: exit %d, want 2", code)
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFnRenderSubpackages: the subpackage renders first and the parent's
// pipeline reaches its resources; both packages are counted.
func TestFnRenderSubpackages(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"Kptfile":     "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root\npipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configMap: {app: web}\n",
		"sub/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\npipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4\n      configMap: {namespace: staging}\n",
		"sub/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: prod\n",
	})
	_, stderr, code := runFnRender(t, dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	want := "[PASS] \"gcr.io/kpt-fn/set-namespace:v0.4\"\n[PASS] \"gcr.io/kpt-fn/set-labels:v0.1\"\nchanged: sub/cm.yaml\nSuccessfully executed 2 function(s) in 2 package(s).\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant\n%s", stderr, want)
	}
	if got := readFile(t, filepath.Join(dir, "sub", "cm.yaml")); !strings.Contains(got, "namespace: staging") || !strings.Contains(got, "app: web") {
		t.Errorf("sub/cm.yaml:\n%s", got)
	}
}

// TestFnRenderExec: the CLI runs exec functions, as the user running it;
// a failing one prints its standard error and exit code and exits 1.
func TestFnRenderExec(t *testing.T) {
	kptfile := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  mutators:\n    - exec: %s\n"
	fn := filepath.Join(t.TempDir(), "fn.sh")
	if err := os.WriteFile(fn, []byte("#!/bin/sh\necho working >&2\nsed s/prod/$1/\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{
		"Kptfile": fmt.Sprintf(kptfile, fn+" dev"),
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: prod\n",
	})
	stdout, stderr, code := runFnRender(t, "-o", "yaml", dir)
	if code != 0 || !strings.Contains(stderr, "[PASS] \""+fn+" dev\"\n  Stderr:\n    working\n") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "exec: "+fn+" dev\n") || !strings.Contains(stdout, "stderr: |\n") {
		t.Errorf("-o yaml:\n%s", stdout)
	}
	if got := readFile(t, filepath.Join(dir, "cm.yaml")); !strings.Contains(got, "namespace: dev") {
		t.Errorf("cm.yaml:\n%s", got)
	}

	if err := os.WriteFile(fn, []byte("#!/bin/sh\necho broken >&2\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, filepath.Join(dir, "cm.yaml"))
	_, stderr, code = runFnRender(t, dir)
	if code != 1 || !strings.Contains(stderr, "[FAIL]") || !strings.Contains(stderr, "    broken\n  Exit code: 4\n") {
		t.Errorf("failing exec: exit %d\n%s", code, stderr)
	}
	if readFile(t, filepath.Join(dir, "cm.yaml")) != before {
		t.Error("cm.yaml changed")
	}
}
