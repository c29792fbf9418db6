package lifecycle

import (
	"strings"
	"testing"
)

func TestMetaEditApply(t *testing.T) {
	kptfile := `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: nginx # the package
  labels:
    pkg.pkgserver.dev/latest-revision: "true"
    team: web
  annotations:
    config.kubernetes.io/local-config: "true"
    example.com/owner: alice
info:
  description: a web server
  readinessGates:
  - conditionType: example.com/reviewed
`
	e := &MetaEdit{Labels: map[string]string{"tier": "gold"}, Annotations: map[string]string{}, ReadinessGates: []string{}}
	out, err := e.apply([]byte(kptfile))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{"name: nginx # the package", "tier: gold", `pkg.pkgserver.dev/latest-revision: "true"`,
		`config.kubernetes.io/local-config: "true"`, "description: a web server"} {
		if !strings.Contains(got, want) {
			t.Errorf("lost %q:\n%s", want, got)
		}
	}
	for _, gone := range []string{"team: web", "example.com/owner", "readinessGates"} {
		if strings.Contains(got, gone) {
			t.Errorf("kept %q:\n%s", gone, got)
		}
	}
	// Nil parts are left alone.
	out, err = (&MetaEdit{ReadinessGates: []string{"a.example.com/x"}}).apply([]byte(kptfile))
	if err != nil || !strings.Contains(string(out), "team: web") || !strings.Contains(string(out), "conditionType: a.example.com/x") ||
		strings.Contains(string(out), "example.com/reviewed") {
		t.Errorf("gates only: %v\n%s", err, out)
	}
	// A Kptfile of two documents is not rewritten (the second would be lost).
	if _, err := e.apply([]byte(kptfile + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")); err == nil ||
		!strings.Contains(err.Error(), "exactly one YAML document") {
		t.Errorf("two documents: %v", err)
	}
}
