package krm

import (
	"reflect"
	"testing"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// TestKptfileMeta: a Kptfile's labels, annotations, readiness gates and
// conditions are the revision's, without those pkgserver or KRM tooling
// own; a Kptfile that does not parse says nothing.
func TestKptfileMeta(t *testing.T) {
	got := KptfileMeta([]byte(`apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: nginx
  labels:
    tier: web
    pkg.pkgserver.dev/latest: "true"
  annotations:
    owner: team-a
    config.kubernetes.io/local-config: "true"
info:
  readinessGates:
  - conditionType: Tested
  - conditionType: ""
status:
  conditions:
  - type: Tested
    status: "True"
    reason: Passed
    message: all green
  - type: pkg.pkgserver.dev/Published
    status: "True"
`))
	want := revision.Meta{
		Labels:         map[string]string{"tier": "web"},
		Annotations:    map[string]string{"owner": "team-a"},
		ReadinessGates: []string{"Tested"},
		Conditions:     []revision.Condition{{Type: "Tested", Status: "True", Reason: "Passed", Message: "all green"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KptfileMeta = %+v\nwant %+v", got, want)
	}
	if m := KptfileMeta([]byte("kind: [unclosed")); !m.Empty() {
		t.Errorf("a Kptfile that does not parse gives %+v, want nothing", m)
	}
}
