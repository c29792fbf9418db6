package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestDeployPackage: the Kubernetes package in deploy/ is valid under the
// default policies without a warning, is rendered as committed, and
// rendered with other values carries them into every resource and stays
// valid.
func TestDeployPackage(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	pkg := filepath.Join("..", "..", "deploy", "pkgserver")
	if out, err := runCLI("validate", pkg); err != nil || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Fatalf("validate %s: %v\n%s", pkg, err, out)
	}
	if out, err := runCLI("fn", "render", "--check", pkg); err != nil {
		t.Fatalf("the package is not rendered: %v\n%s", err, out)
	}

	dir := filepath.Join(t.TempDir(), "pkgserver")
	if err := os.CopyFS(dir, os.DirFS(pkg)); err != nil {
		t.Fatal(err)
	}
	setters := filepath.Join(dir, "setters.yaml")
	data, err := os.ReadFile(setters)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer("namespace: pkgserver", "namespace: tools", "image: pkgserver:0.1.0",
		"image: registry.example.com/pkgserver:1.2.3", `replicas: "3"`, `replicas: "5"`).Replace(string(data))
	if err := os.WriteFile(setters, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI("fn", "render", dir); err != nil {
		t.Fatalf("render with other values: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Base(f) == "setters.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "namespace: tools") || strings.Contains(string(b), "namespace: pkgserver") {
			t.Errorf("%s: the namespace was not set:\n%s", filepath.Base(f), b)
		}
	}
	deployment, err := os.ReadFile(filepath.Join(dir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"image: registry.example.com/pkgserver:1.2.3", "replicas: 5"} {
		if !strings.Contains(string(deployment), want) {
			t.Errorf("deployment.yaml lacks %q", want)
		}
	}
	if out, err := runCLI("validate", dir); err != nil || !strings.Contains(out, "0 errors, 0 warnings") {
		t.Errorf("validate the rendered copy: %v\n%s", err, out)
	}
}

// TestStaticBuild: the binaries build as deploy/Containerfile builds them,
// static (no cgo, no dynamic loader), and run.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	out := t.TempDir()
	for _, pkg := range []string{"pkgserver", "pkgserver-hook"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(out, pkg), "./cmd/"+pkg)
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
		f, err := elf.Open(filepath.Join(out, pkg))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is linked dynamically", pkg)
			}
		}
		f.Close()
	}
	b, err := exec.Command(filepath.Join(out, "pkgserver"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "pkgserver") {
		t.Errorf("pkgserver version: %v\n%s", err, b)
	}
}

// runCLI runs the pkgserver command line in process, returning what it
// printed and its error.
func runCLI(args ...string) (string, error) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}
