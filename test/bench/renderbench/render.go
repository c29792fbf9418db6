package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/render"
)

// renderRun is what the in-process renders and the command measured.
type renderRun struct {
	times   []time.Duration
	changed int // files the render changed
	results int // function results listed
	err     error
}

// renderedApp tells whether an app file holds what the four functions
// write, image being the settings' image.
func renderedApp(data, image string) error {
	for _, want := range []string{"namespace: bench", "tier: web", "image: " + image, "bench.pkgserver.dev/rendered: \"true\""} {
		if !strings.Contains(data, want) {
			return fmt.Errorf("the rendered app file lacks %q:\n%s", want, data)
		}
	}
	return nil
}

// renderInProcess renders the package's files n times with the library
// the server and the command use, after ten warm-up renders.
func renderInProcess(files map[string]string, n int) (renderRun, error) {
	in := map[string][]byte{}
	for p, b := range files {
		in[p] = []byte(b)
	}
	var run renderRun
	for i := -10; i < n; i++ {
		start := time.Now()
		out, err := render.RenderFiles(context.Background(), in, render.Options{})
		took := time.Since(start)
		if err != nil {
			return run, fmt.Errorf("render: %w", err)
		}
		if i < 0 {
			continue
		}
		run.times = append(run.times, took)
		run.changed, run.results = len(out.Changed), len(out.Results.Items)
		if i == 0 {
			if err := renderedApp(string(out.Contents["apps/app-000.yaml"]), "registry.example.com/app:1.0.0"); err != nil {
				return run, err
			}
		}
	}
	return run, nil
}

// renderCommand runs `pkgserver fn render DIR` n times, each on a fresh
// copy of the package, timing the whole process as a user or a CI job
// would meet it; then `--check` on the last rendered copy must find it
// rendered.
func renderCommand(bin, dir string, files map[string]string, n int) (renderRun, error) {
	var run renderRun
	var last string
	for i := 0; i < n; i++ {
		pkg := filepath.Join(dir, fmt.Sprintf("pkg-%d", i))
		if err := writeFiles(pkg, files); err != nil {
			return run, err
		}
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "fn", "render", pkg)
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return run, fmt.Errorf("fn render: %v\n%s", err, stderr.String())
		}
		run.times = append(run.times, time.Since(start))
		run.changed = strings.Count(stderr.String(), "changed: ")
		last = pkg
	}
	data, err := os.ReadFile(filepath.Join(last, "apps", "app-000.yaml"))
	if err != nil {
		return run, err
	}
	if err := renderedApp(string(data), "registry.example.com/app:1.0.0"); err != nil {
		return run, err
	}
	if out, err := exec.Command(bin, "fn", "render", "--check", last).CombinedOutput(); err != nil {
		return run, fmt.Errorf("fn render --check of the rendered package: %v\n%s", err, out)
	}
	return run, nil
}

func writeFiles(dir string, files map[string]string) error {
	for p, b := range files {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f, []byte(b), 0o644); err != nil {
			return err
		}
	}
	return nil
}
