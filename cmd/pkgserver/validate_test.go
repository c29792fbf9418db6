package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestValidateSoftLimit: the CLI's soft memory limit grows with the
// validations that may run at once, up to the budget that bounds them.
func TestValidateSoftLimit(t *testing.T) {
	for _, tt := range []struct {
		budget   int64
		parallel int
		want     int64
	}{
		{1 << 30, 1, 256 << 20},  // one package: as before
		{1 << 30, 2, 512 << 20},  // two at once
		{1 << 30, 64, 1 << 30},   // many cores: the budget bounds them
		{4 << 30, 8, 2 << 30},    // a larger budget
		{64 << 20, 8, 256 << 20}, // a small budget: at least 256 MiB
		{1 << 30, 0, 256 << 20},  // no package
	} {
		if got := validateSoftLimit(tt.budget, tt.parallel); got != tt.want {
			t.Errorf("validateSoftLimit(%d, %d) = %d, want %d", tt.budget, tt.parallel, got, tt.want)
		}
	}
}

// TestValidateMemoryFlag: --validation-memory bounds the validations run at once: a
// package counted more than it is refused with a memory finding, one
// within it is validated, and a budget below a validation's least is a
// usage error.
func TestValidateMemoryFlag(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "Kptfile"), []byte("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n"), 0o644))
	// About 1 MiB of YAML: counted 20 MiB.
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm" + strings.Repeat("x", 8) + "\ndata:\n  a: " + strings.Repeat("v", 900) + "\n---\n")
	}
	must(os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(b.String()), 0o644))
	run := func(args ...string) (string, error) {
		cmd := newValidateCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("--validation-memory", "8Mi", "--no-default-policies", dir)
	if err == nil || !strings.Contains(out, "not validated: package too large for the validation memory budget") {
		t.Errorf("a package over --validation-memory: %v\n%s", err, out)
	}
	if out, err := run("--validation-memory", "128Mi", "--no-default-policies", dir); strings.Contains(out, "[memory]") {
		t.Errorf("a package within --validation-memory: %v\n%s", err, out)
	}
	if _, err := run("--validation-memory", "1Mi", dir); err == nil || !strings.Contains(err.Error(), "--validation-memory 1Mi") {
		t.Errorf("a budget below a validation's least: %v", err)
	}
}
