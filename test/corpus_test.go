package test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/validate"
)

var update = flag.Bool("update", false, "rewrite the expected findings of the corpus")

// TestBadCorpus validates every package of testdata/bad, each holding one
// defect, and compares the findings with testdata/bad/<case>.want.
func TestBadCorpus(t *testing.T) {
	ctx := context.Background()
	engine, err := validate.Build(ctx, validate.Config{Limits: krm.DefaultLimits()}, schema.NewBuiltin())
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := os.ReadDir("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "bad", name)
			report := engine.Validate(ctx, validate.Package{Path: name, FS: os.DirFS(dir)})
			var got bytes.Buffer
			defects := 0
			for _, r := range report.Results {
				got.WriteString(validate.Line(r) + "\n")
				if r.Severity != result.Info {
					defects++
				}
			}
			if defects != 1 {
				t.Errorf("%d errors and warnings, want exactly 1 (one defect per case):\n%s", defects, got.String())
			}
			wantFile := dir + ".want"
			if *update {
				if err := os.WriteFile(wantFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test ./test -run TestBadCorpus -update)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
	if n < 25 {
		t.Errorf("corpus has %d cases", n)
	}
}

// TestExamplesAreValid keeps the shipped examples free of errors: they are
// what `make run` shows a newcomer.
func TestExamplesAreValid(t *testing.T) {
	ctx := context.Background()
	engine, err := validate.Build(ctx, validate.Config{Limits: krm.DefaultLimits()}, schema.NewBuiltin())
	if err != nil {
		t.Fatal(err)
	}
	roots, err := krm.FindPackages(os.DirFS("../examples"), ".")
	if err != nil || len(roots) == 0 {
		t.Fatalf("examples: %v, %v", roots, err)
	}
	for _, root := range roots {
		report := engine.Validate(ctx, validate.Package{Path: root, FS: os.DirFS(filepath.Join("../examples", root))})
		for _, r := range report.Results {
			if r.Severity == result.Error {
				t.Errorf("%s", validate.Line(r))
			}
			if strings.HasPrefix(r.Check, "schema") && r.Severity != result.Error {
				t.Errorf("%s: every example resource should have a schema", validate.Line(r))
			}
		}
	}
}
