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

// writeScript writes an executable shell script and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fn.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func execPackage(t *testing.T, exec string) (string, map[string]string) {
	t.Helper()
	files := map[string]string{
		"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - exec: " + exec + "\n",
		"cm.yaml": "# the config\n" + configMap("cm", "prod"),
	}
	return writeFiles(t, files), files
}

// TestExec: an exec function gets the ResourceList on its standard input
// and its arguments as kpt splits them, and its output ResourceList is
// written back, comments kept; what it writes to standard error is in its
// result. It sees none of the caller's environment and runs in an empty
// directory of its own, not the package's.
func TestExec(t *testing.T) {
	t.Setenv("PKGSERVER_TEST_SECRET", "leaked")
	marker := filepath.Join(t.TempDir(), "marker")
	script := writeScript(t, `
echo "args: $1|$2" >&2
echo "pwd: $(pwd)" >&2
env >&2
ls -A >&2
touch written.yaml
sed "s/namespace: prod/namespace: $1/"
touch "`+marker+`"
`)
	command := script + ` staging 'b c'`
	dir, files := execPackage(t, command)
	out, err := Render(context.Background(), dir, Options{AllowExec: true})
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	if want := strings.Replace(files["cm.yaml"], "namespace: prod", "namespace: staging", 1); got["cm.yaml"] != want {
		t.Errorf("cm.yaml:\n%s\nwant\n%s", got["cm.yaml"], want)
	}
	if _, ok := got["written.yaml"]; ok {
		t.Error("the function wrote into the package directory")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the function did not run to its end: %v", err)
	}
	if len(out.Results.Items) != 1 {
		t.Fatalf("results: %+v", out.Results)
	}
	res := out.Results.Items[0]
	if res.Exec != command || res.Image != "" || res.ExitCode != 0 {
		t.Errorf("result: %+v", res)
	}
	stderr := res.Stderr
	if !strings.Contains(stderr, "args: staging|b c\n") {
		t.Errorf("arguments: stderr\n%s", stderr)
	}
	if strings.Contains(stderr, "PKGSERVER_TEST_SECRET") || strings.Contains(stderr, "HOME=") || !strings.Contains(stderr, "PATH=/usr/bin:/bin\n") {
		t.Errorf("environment: stderr\n%s", stderr)
	}
	if strings.Contains(stderr, "pwd: "+dir+"\n") || strings.Contains(stderr, "Kptfile") {
		t.Errorf("working directory: stderr\n%s", stderr)
	}
}

// TestExecFailure: an exec function exiting non-zero fails the render with
// its exit status and standard error, and the package is untouched.
func TestExecFailure(t *testing.T) {
	dir, files := execPackage(t, writeScript(t, "cat >/dev/null\necho 'no good' >&2\nexit 3\n"))
	mt := mtimes(t, dir)
	out, err := Render(context.Background(), dir, Options{AllowExec: true})
	var fe *FunctionError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "exited with status 3: no good") {
		t.Fatalf("Render: %v", err)
	}
	res := out.Results.Items[0]
	if res.ExitCode != 3 || res.Stderr != "no good\n" || out.Results.ExitCode != 1 {
		t.Errorf("result: %+v", out.Results)
	}
	untouched(t, dir, files, mt)
}

// TestExecTimeout: an exec function running past ExecTimeout is killed,
// with the processes it started.
func TestExecTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	dir, files := execPackage(t, writeScript(t, "sleep 30 &\necho $! > "+pidFile+"\nwait\n"))
	mt := mtimes(t, dir)
	start := time.Now()
	out, err := Render(context.Background(), dir, Options{AllowExec: true, ExecTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not finish within 300ms") {
		t.Fatalf("Render: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the render took %s", d)
	}
	if r := out.Results.Items[0]; r.ExitCode != 1 || len(r.Results) != 1 || r.Results[0].Severity != "error" {
		t.Errorf("result: %+v", r)
	}
	untouched(t, dir, files, mt)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// The killed sleep is gone, or a zombie until init reaps it.
	proc := filepath.Join("/proc", strings.TrimSpace(string(b)))
	for range 50 {
		if st, err := os.ReadFile(filepath.Join(proc, "stat")); err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("the function's child %s still runs", proc)
}

// TestExecResults: the structured results an exec function returns are its
// result's, and a RenderFiles render runs it too when allowed.
func TestExecResults(t *testing.T) {
	script := writeScript(t, `cat >/dev/null
cat <<'END'
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items: []
results:
  - message: all gone
    severity: info
END
`)
	files := map[string][]byte{
		"Kptfile": []byte(kptfileHead + "pipeline:\n  mutators:\n    - exec: " + script + "\n"),
		"cm.yaml": []byte(configMap("cm", "prod")),
	}
	out, err := RenderFiles(context.Background(), files, Options{AllowExec: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(out.Deleted, []string{"cm.yaml"}); diff != "" {
		t.Errorf("Deleted (-got +want):\n%s", diff)
	}
	if r := out.Results.Items[0]; len(r.Results) != 1 || r.Results[0].Message != "all gone" || r.Results[0].Severity != "info" {
		t.Errorf("result: %+v", r)
	}
	if _, err := RenderFiles(context.Background(), files, Options{}); !errors.Is(err, ErrExecNotAllowed) {
		t.Errorf("exec not allowed: %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"fn", []string{"fn"}},
		{"  ./fn  a\tb ", []string{"./fn", "a", "b"}},
		{`fn 'a b' "c \"d\"" e\ f`, []string{"fn", "a b", `c "d"`, "e f"}},
		{"fn a#b # comment", []string{"fn", "a#b"}},
		{`fn ''`, []string{"fn", ""}},
	} {
		got, err := splitWords(tt.in)
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{`fn 'a`, `fn "a`, `fn \`} {
		if _, err := splitWords(in); err == nil {
			t.Errorf("splitWords(%q): no error", in)
		}
	}
}
