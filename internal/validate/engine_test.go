package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/policy"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/schema"
)

const kptfile = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n"

func pkg(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{"Kptfile": {Data: []byte(kptfile)}}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func engine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	cfg.Limits = krm.DefaultLimits()
	e, err := Build(context.Background(), cfg, schema.NewBuiltin())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func lines(r *Report) []string {
	var out []string
	for _, res := range r.Results {
		out = append(out, Line(res))
	}
	return out
}

func TestStructureAndKptfile(t *testing.T) {
	e := engine(t, Config{NoDefaultPolicies: true})
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "types of the identifying fields",
			files: map[string]string{"a.yaml": "apiVersion: 1\nkind: [ConfigMap]\nmetadata: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ' '}\n"},
			want: []string{
				"p/a.yaml:1: error: apiVersion must be a string [krm-structure]",
				"p/a.yaml:2: error: kind must be a string [krm-structure]",
				"p/a.yaml:3: error: metadata must be a mapping [krm-structure]",
				"p/a.yaml:7: error: metadata.name must not be empty [krm-structure]",
			},
		},
		{
			name: "same name in another namespace or group is another resource",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n---\n" +
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: b}\n---\n" +
				"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n"},
			want: []string{"p/a.yaml:9: error: duplicate resource: ConfigMap a/c is also defined at p/a.yaml:1 [duplicate-resource]"},
		},
		{
			name: "reader annotations",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n" +
				"    config.kubernetes.io/index: '0'\n    internal.config.kubernetes.io/id: '1'\n"},
			want: []string{
				"p/a.yaml:6: warning: annotation config.kubernetes.io/index is set by KRM tooling while reading and should not be committed [internal-annotation]",
				"p/a.yaml:7: error: annotation internal.config.kubernetes.io/id is internal to KRM tooling and must not be committed [internal-annotation]",
			},
		},
		{
			name: "kpt function configurations and local config have no schema and need none",
			files: map[string]string{"fn.yaml": "apiVersion: fn.kpt.dev/v1alpha1\nkind: SetLabels\nmetadata: {name: l}\n---\n" +
				"apiVersion: example.com/v1\nkind: Values\nmetadata: {name: v, annotations: {config.kubernetes.io/local-config: 'true'}}\n---\n" +
				"apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\n"},
			want: []string{"p/fn.yaml:9: info: no schema for example.com/v1 Thing: add its CustomResourceDefinition to the package or pass --schemas [schema]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lines(e.Validate(context.Background(), Package{Path: "p", FS: pkg(tt.files)}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestKptfileChecks(t *testing.T) {
	e := engine(t, Config{NoDefaultPolicies: true})
	good := kptfile + `upstream:
  type: git
  git: {repo: https://github.com/example/blueprints, directory: /nginx, ref: nginx/v3}
  updateStrategy: resource-merge
upstreamLock:
  type: git
  git: {repo: https://github.com/example/blueprints, directory: /nginx, ref: nginx/v3, commit: 0123456789abcdef0123456789abcdef01234567}
info:
  readinessGates: [{conditionType: pkg.pkgserver.dev/validated}]
pipeline:
  mutators:
  - image: set-labels:v0.2
    configMap: {app: web}
    selectors: [{kind: Deployment}]
  - image: ghcr.io/example/fn@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    configPath: fn/config.yaml
  validators:
  - exec: ./validate.sh
`
	fsys := pkg(map[string]string{"fn/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
	fsys["Kptfile"] = &fstest.MapFile{Data: []byte(good)}
	if got := lines(e.Validate(context.Background(), Package{Path: "p", FS: fsys})); len(got) != 0 {
		t.Errorf("a well-formed Kptfile has findings: %v", got)
	}

	bad := strings.NewReplacer("type: git\n  git", "type: oci\n  git", "resource-merge", "merge",
		"selectors: [{kind: Deployment}]", "exclude: [{}]", "pkg.pkgserver.dev/validated", "").Replace(good)
	fsys["Kptfile"] = &fstest.MapFile{Data: []byte(bad)}
	want := []string{
		`p/Kptfile:6: error: upstream type must be git, not "oci" [kptfile]`,
		`p/Kptfile:8: error: updateStrategy "merge" is not one of resource-merge, fast-forward, force-delete-replace, copy-merge [kptfile]`,
		`p/Kptfile:10: error: upstreamLock type must be git, not "oci" [kptfile]`,
		"p/Kptfile:13: error: readiness gate must name a conditionType [kptfile]",
		"p/Kptfile:18: error: selector must set at least one of apiVersion, kind, name, namespace, labels, annotations [kptfile]",
	}
	if diff := cmp.Diff(want, lines(e.Validate(context.Background(), Package{Path: "p", FS: fsys}))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	fsys["Kptfile"] = &fstest.MapFile{Data: []byte(kptfile + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n")}
	if diff := cmp.Diff([]string{"p/Kptfile:6: error: invalid Kptfile: Kptfile must hold exactly one YAML document [kptfile]"},
		lines(e.Validate(context.Background(), Package{Path: "p", FS: fsys}))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSubpackages: a package's subpackages are validated with it, each
// subpackage's Kptfile as kpt reads it in its directory (its upstream
// records, a configPath relative to it), and findings inside a subpackage
// carry their path from the package.
func TestSubpackages(t *testing.T) {
	e := engine(t, Config{NoDefaultPolicies: true})
	sub := `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: sub
upstream:
  type: git
  git: {repo: https://github.com/example/blueprints, directory: /sub, ref: sub/v1}
upstreamLock:
  type: git
  git: {repo: https://github.com/example/blueprints, directory: /sub, ref: sub/v1, commit: 0123456789abcdef0123456789abcdef01234567}
pipeline:
  mutators:
  - image: set-labels:v0.2
    configPath: fn/config.yaml
`
	fsys := pkg(map[string]string{
		"sub/Kptfile":        sub,
		"sub/fn/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"sub/deploy.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n",
	})
	if got := lines(e.Validate(context.Background(), Package{Path: "p", FS: fsys})); len(got) != 0 {
		t.Errorf("a package with a well-formed subpackage has findings: %v", got)
	}

	bad := strings.NewReplacer("type: git\n  git: {repo: https://github.com/example/blueprints, directory: /sub, ref: sub/v1}",
		"type: oci\n  git: {repo: https://github.com/example/blueprints, directory: /sub, ref: sub/v1}",
		"0123456789abcdef0123456789abcdef01234567", "abc", "fn/config.yaml", "config.yaml").Replace(sub)
	fsys["sub/Kptfile"] = &fstest.MapFile{Data: []byte(bad)}
	fsys["sub/deploy.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: 1\nkind: ConfigMap\nmetadata: {name: d}\n")}
	want := []string{
		`p/sub/Kptfile:6: error: upstream type must be git, not "oci" [kptfile]`,
		`p/sub/Kptfile:10: error: commit "abc" is not a full git object id [kptfile]`,
		`p/sub/Kptfile:14: error: configPath "config.yaml" does not name a file of the package [kptfile]`,
		"p/sub/deploy.yaml:1: error: apiVersion must be a string [krm-structure]",
	}
	if diff := cmp.Diff(want, lines(e.Validate(context.Background(), Package{Path: "p", FS: fsys}))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

const shrinkPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-shrink}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [UPDATE], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas >= oldObject.spec.replicas"
    messageExpression: "'replicas went down from ' + string(oldObject.spec.replicas)"
`

func TestOldObjectFromPreviousRevision(t *testing.T) {
	src := policy.NewSources(krm.DefaultLimits())
	if err := src.AddFile("shrink.yaml", []byte(shrinkPolicy)); err != nil {
		t.Fatal(err)
	}
	set, err := src.Compile()
	if err != nil {
		t.Fatal(err)
	}
	e := New(krm.DefaultLimits(), schema.NewSet(schema.NewBuiltin(), nil), set)
	deploy := func(n int) string {
		return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: %d\n"+
			"  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"+
			"    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n", n)
	}
	cur := pkg(map[string]string{"deploy.yaml": deploy(1)})
	if got := lines(e.Validate(context.Background(), Package{Path: "p", FS: cur})); len(got) != 0 {
		t.Errorf("without a previous revision the policy (UPDATE only) must not apply: %v", got)
	}
	prev := pkg(map[string]string{"other-file.yaml": deploy(3)})
	got := lines(e.Validate(context.Background(), Package{Path: "p", FS: cur, Previous: prev}))
	if diff := cmp.Diff([]string{"p/deploy.yaml:1: error: replicas went down from 3 [policy/no-shrink]"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateAllIsDeterministic(t *testing.T) {
	e := engine(t, Config{})
	var pkgs []Package
	for i := range 40 {
		pkgs = append(pkgs, Package{Path: fmt.Sprintf("p%02d", i), FS: pkg(map[string]string{
			"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: 1}\n",
			"b.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\nspec: {replica: 1}\n",
		})})
	}
	first := lines(e.ValidateAll(context.Background(), pkgs))
	for range 3 {
		if diff := cmp.Diff(first, lines(e.ValidateAll(context.Background(), pkgs))); diff != "" {
			t.Fatalf("reports differ between runs:\n%s", diff)
		}
	}
	r := e.ValidateAll(context.Background(), pkgs)
	if r.Packages != 40 || r.Resources != 120 {
		t.Errorf("counted %d packages, %d resources", r.Packages, r.Resources)
	}
}

func sampleReport() *Report {
	return &Report{Packages: 2, Resources: 5, Results: []result.Result{
		{Severity: result.Error, Message: `spec.replica: unknown field "spec.replica"`, Check: CheckSchema,
			File:        &result.File{Path: "pkgs/web/deploy.yaml", Line: 7},
			ResourceRef: &result.ResourceRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Field:       &result.Field{Path: "spec.replica"}},
		{Severity: result.Warning, Message: "images must carry a tag", Check: "policy/pkgserver-require-image-tag",
			File: &result.File{Path: "pkgs/web/deploy.yaml", Line: 1}},
		{Severity: result.Info, Message: "no schema", Check: CheckSchema, File: &result.File{Path: "pkgs/db/cr.yaml"}},
	}}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	want := `pkgs/web/deploy.yaml:7: error: spec.replica: unknown field "spec.replica" [schema]
pkgs/web/deploy.yaml:1: warning: images must carry a tag [policy/pkgserver-require-image-tag]
pkgs/db/cr.yaml: info: no schema [schema]
2 packages, 5 resources: 1 error, 1 warning
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	first := got["results"].([]any)[0]
	want := map[string]any{
		"severity":    "error",
		"message":     `spec.replica: unknown field "spec.replica"`,
		"file":        map[string]any{"path": "pkgs/web/deploy.yaml", "line": 7.0},
		"resourceRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
		"field":       map[string]any{"path": "spec.replica"},
		"check":       "schema",
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("first result (-want +got):\n%s", diff)
	}
	if got["apiVersion"] != "pkg.pkgserver.dev/v1alpha1" || got["kind"] != "ValidationReport" {
		t.Errorf("header = %v %v", got["apiVersion"], got["kind"])
	}
	wantSummary := map[string]any{"packages": 2.0, "resources": 5.0, "errors": 1.0, "warnings": 1.0}
	if diff := cmp.Diff(wantSummary, got["summary"]); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	b.Reset()
	if err := WriteJSON(&b, &Report{}); err != nil || !strings.Contains(b.String(), `"results": []`) {
		t.Errorf("empty report: %s, %v", b.String(), err)
	}
}

func TestWriteSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSARIF(&b, sampleReport(), "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %s, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	var ruleIDs []string
	for _, r := range run.Tool.Driver.Rules {
		ruleIDs = append(ruleIDs, r.ID)
		if r.ShortDescription.Text == "" {
			t.Errorf("rule %s has no description", r.ID)
		}
	}
	if diff := cmp.Diff([]string{"policy/pkgserver-require-image-tag", "schema"}, ruleIDs); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	var levels []string
	for _, r := range run.Results {
		levels = append(levels, r.Level)
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
	}
	if diff := cmp.Diff([]string{"error", "warning", "note"}, levels); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
	loc := run.Results[0].Locations[0].PhysicalLocation
	if loc.ArtifactLocation.URI != "pkgs/web/deploy.yaml" || loc.Region == nil || loc.Region.StartLine != 7 {
		t.Errorf("location = %+v", loc)
	}
	if run.Results[2].Locations[0].PhysicalLocation.Region != nil {
		t.Error("a finding without a line has a region")
	}
}
