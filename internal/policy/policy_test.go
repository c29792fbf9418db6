package policy

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/krm/krmtest"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/policies"
)

func defaults(t *testing.T) *Set {
	t.Helper()
	src := NewSources(krm.DefaultLimits())
	if err := src.AddFS(policies.FS, ".", "policies"); err != nil {
		t.Fatal(err)
	}
	set, err := src.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

var deploymentGVK = k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

func deployment(containers string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
` + containers
}

func TestDefaultPolicies(t *testing.T) {
	set := defaults(t)
	if got, want := set.Names(), []string{"pkgserver-disallow-privileged-containers", "pkgserver-require-image-tag"}; !cmp.Equal(got, want) {
		t.Fatalf("defaults = %v, want %v", got, want)
	}
	tests := []struct {
		name string
		gvk  k8sschema.GroupVersionKind
		res  string
		doc  string
		want []Finding
	}{
		{
			name: "pinned and unprivileged",
			gvk:  deploymentGVK, res: "deployments",
			doc: deployment(`      - {name: a, image: nginx:1.25}
      - {name: b, image: "registry.local:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
`),
		},
		{
			name: "privileged container",
			gvk:  deploymentGVK, res: "deployments",
			doc: deployment(`      - {name: a, image: nginx:1.25, securityContext: {privileged: true}}
      - {name: b, image: nginx:1.25, securityContext: {privileged: false}}
`),
			want: []Finding{{Policy: "pkgserver-disallow-privileged-containers", Binding: "pkgserver-disallow-privileged-containers",
				Severity: result.Warning, Reason: "Forbidden", Message: "privileged containers are not allowed: a"}},
		},
		{
			name: "latest and untagged images, registry port is not a tag",
			gvk:  deploymentGVK, res: "deployments",
			doc: deployment(`      - {name: a, image: nginx:latest}
      - {name: b, image: "registry.local:5000/app"}
      - {name: c, image: nginx:1.25}
`),
			want: []Finding{{Policy: "pkgserver-require-image-tag", Binding: "pkgserver-require-image-tag", Severity: result.Warning,
				Reason: "Invalid", Message: "images must carry a tag other than :latest, or a digest: nginx:latest, registry.local:5000/app"}},
		},
		{
			name: "cronjob template",
			gvk:  k8sschema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}, res: "cronjobs",
			doc: `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: init, image: busybox, securityContext: {privileged: true}}]
          containers: [{name: main, image: busybox:1.36}]
`,
			want: []Finding{
				{Policy: "pkgserver-disallow-privileged-containers", Binding: "pkgserver-disallow-privileged-containers", Severity: result.Warning,
					Reason: "Forbidden", Message: "privileged containers are not allowed: init"},
				{Policy: "pkgserver-require-image-tag", Binding: "pkgserver-require-image-tag", Severity: result.Warning,
					Reason: "Invalid", Message: "images must carry a tag other than :latest, or a digest: busybox"},
			},
		},
		{
			name: "pod without spec is not an evaluation error",
			gvk:  k8sschema.GroupVersionKind{Version: "v1", Kind: "Pod"}, res: "pods",
			doc: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
		},
		{
			name: "other kinds are not matched",
			gvk:  k8sschema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, res: "configmaps",
			doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {image: 'nginx:latest'}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := set.Evaluate(context.Background(), Input{Object: krmtest.Object(t, tt.doc), GVK: tt.gvk, Resource: tt.res, Namespaced: true})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func compileOne(t *testing.T, doc string) (*Set, error) {
	t.Helper()
	src := NewSources(krm.DefaultLimits())
	if err := src.AddFile("test.yaml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	return src.Compile()
}

const replicasPolicy = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: max-replicas
  annotations:
    pkg.pkgserver.dev/validation-actions: %s
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  matchConditions:
  - name: not-exempt
    expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"
  variables:
  - name: replicas
    expression: "has(object.spec.replicas) ? object.spec.replicas : 1"
  validations:
  - expression: "variables.replicas <= 5"
    messageExpression: "'replicas must be at most 5, not ' + string(variables.replicas)"
  - expression: "oldObject == null || variables.replicas >= oldObject.spec.replicas"
    message: replicas may not shrink
    reason: Forbidden
`

func TestPolicyFeatures(t *testing.T) {
	deploy := func(replicas string, labels string) map[string]any {
		return krmtest.Object(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {"+labels+"}}\nspec: {replicas: "+replicas+"}\n")
	}
	for _, tc := range []struct {
		actions  string
		severity result.Severity
	}{{"Deny", result.Error}, {"Warn", result.Warning}, {"Audit", result.Info}, {"Warn, Audit", result.Warning}} {
		set, err := compileOne(t, strings.Replace(replicasPolicy, "%s", tc.actions, 1))
		if err != nil {
			t.Fatal(err)
		}
		got := set.Evaluate(context.Background(), Input{Object: deploy("7", ""), GVK: deploymentGVK, Resource: "deployments", Namespaced: true})
		want := []Finding{{Policy: "max-replicas", Binding: "max-replicas", Severity: tc.severity, Reason: "Invalid", Message: "replicas must be at most 5, not 7"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("actions %s (-want +got):\n%s", tc.actions, diff)
		}
	}

	set, err := compileOne(t, strings.Replace(replicasPolicy, "%s", "Deny", 1))
	if err != nil {
		t.Fatal(err)
	}
	exempt := set.Evaluate(context.Background(), Input{Object: deploy("7", "exempt: 'yes'"), GVK: deploymentGVK, Resource: "deployments", Namespaced: true})
	if len(exempt) != 0 {
		t.Errorf("matchConditions false: got findings %v", exempt)
	}
	shrink := set.Evaluate(context.Background(), Input{Object: deploy("2", ""), OldObject: deploy("3", ""), GVK: deploymentGVK, Resource: "deployments", Namespaced: true})
	want := []Finding{{Policy: "max-replicas", Binding: "max-replicas", Severity: result.Error, Reason: "Forbidden", Message: "replicas may not shrink"}}
	if diff := cmp.Diff(want, shrink); diff != "" {
		t.Errorf("oldObject (-want +got):\n%s", diff)
	}
}

func TestBindingsAndParams(t *testing.T) {
	doc := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: limit}
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: ["*"], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas <= int(params.data.max)"
    messageExpression: "'at most ' + params.data.max + ' replicas'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: limit-prod}
spec:
  policyName: limit
  validationActions: [Deny]
  paramRef: {name: limits, namespace: policy, parameterNotFoundAction: Deny}
  matchResources:
    namespaceSelector: {matchLabels: {env: prod}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: limit-missing}
spec:
  policyName: limit
  validationActions: [Audit]
  paramRef: {name: nowhere, namespace: policy, parameterNotFoundAction: Allow}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: limits, namespace: policy}
data: {max: "3"}
`
	set, err := compileOne(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	obj := krmtest.Object(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: 4}\n")
	prodNS := krmtest.Object(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n")
	in := Input{Object: obj, GVK: deploymentGVK, Resource: "deployments", Namespaced: true}
	if got := set.Evaluate(context.Background(), in); len(got) != 0 {
		t.Errorf("namespace not labelled prod: got %v", got)
	}
	in.Namespace = prodNS
	want := []Finding{{Policy: "limit", Binding: "limit-prod", Severity: result.Error, Reason: "Invalid", Message: "at most 3 replicas"}}
	if diff := cmp.Diff(want, set.Evaluate(context.Background(), in)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFailurePolicy(t *testing.T) {
	doc := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: needs-spec}
spec:
  failurePolicy: %s
  matchConstraints:
    resourceRules:
    - {apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"]}
  validations:
  - expression: "object.spec.replicas > 0"
`
	obj := krmtest.Object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
	in := Input{Object: obj, GVK: k8sschema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, Resource: "configmaps", Namespaced: true}
	set, err := compileOne(t, strings.Replace(doc, "%s", "Fail", 1))
	if err != nil {
		t.Fatal(err)
	}
	got := set.Evaluate(context.Background(), in)
	if len(got) != 1 || got[0].Severity != result.Error || !strings.Contains(got[0].Message, "no such key") {
		t.Errorf("failurePolicy Fail: got %+v, want one error about the missing key", got)
	}
	set, err = compileOne(t, strings.Replace(doc, "%s", "Ignore", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Evaluate(context.Background(), in); len(got) != 0 {
		t.Errorf("failurePolicy Ignore: got %+v, want none", got)
	}
}

func TestCompileErrors(t *testing.T) {
	base := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"]}
`
	tests := []struct{ name, doc, want string }{
		{"syntax", base + "  validations:\n  - expression: \"object.spec.(\"\n", "test.yaml:1: ValidatingAdmissionPolicy \"p\": spec.validations[0].expression: compilation failed"},
		{"type", base + "  validations:\n  - expression: \"'a'\"\n", "spec.validations[0].expression: must evaluate to bool"},
		{"unknown variable", base + "  validations:\n  - expression: \"variables.nope\"\n", "spec.validations[0].expression: compilation failed"},
		{"authorizer is not available", base + "  validations:\n  - expression: \"authorizer.path('/healthz').check('get').allowed()\"\n", "undeclared reference to 'authorizer'"},
		{"unknown field", base + "  validations:\n  - expression: \"true\"\n    messsage: typo\n", `unknown field "spec.validations[0].messsage"`},
		{"no validations", base, "spec.validations must not be empty"},
		{"bad action", strings.Replace(base, "metadata: {name: p}", "metadata: {name: p, annotations: {pkg.pkgserver.dev/validation-actions: Block}}", 1) +
			"  validations:\n  - expression: \"true\"\n", `unknown validation action "Block"`},
		{"orphan binding", base + "  validations:\n  - expression: \"true\"\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: b}\nspec: {policyName: other, validationActions: [Deny]}\n", `binds policy "other", which is not loaded`},
		{"same policy twice", base + "  validations:\n  - expression: \"true\"\n---\n" + base + "  validations:\n  - expression: \"true\"\n",
			`test.yaml:11: ValidatingAdmissionPolicy "p" is already defined at test.yaml:1`},
		{"beta policy", strings.Replace(base, "/v1", "/v1beta1", 1) + "  validations:\n  - expression: \"true\"\n", "is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileOne(t, tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	doc := `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: expensive}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"]}
  validations:
  - expression: "object.items.all(a, object.items.all(b, object.items.all(c, a + b + c >= 0)))"
`
	set, err := compileOne(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	var items strings.Builder
	for i := range 300 {
		if i > 0 {
			items.WriteString(", ")
		}
		items.WriteString("1")
	}
	obj := krmtest.Object(t, "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nitems: ["+items.String()+"]\n")
	got := set.Evaluate(context.Background(), Input{Object: obj, GVK: k8sschema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Thing"}, Resource: "things"})
	if len(got) != 1 || !strings.Contains(got[0].Message, "cost") {
		t.Errorf("got %+v, want one finding about the cost limit", got)
	}
}

func TestUsesOldObject(t *testing.T) {
	if defaults(t).UsesOldObject() {
		t.Error("the default policies look at oldObject or tell updates from creations")
	}
	policy := func(ops, expr string) string {
		return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ` + ops + `
      resources: ["deployments"]
  validations:
  - expression: "` + expr + `"
`
	}
	for _, tc := range []struct {
		ops, expr string
		want      bool
	}{
		{`["CREATE", "UPDATE"]`, "object.spec.replicas <= 5", false},
		{`["*"]`, "object.spec.replicas <= 5", false},
		{`["CREATE", "UPDATE"]`, "oldObject == null || object.spec.replicas >= oldObject.spec.replicas", true},
		{`["CREATE", "UPDATE"]`, "request.operation == 'CREATE'", true},
		{`["UPDATE"]`, "object.spec.replicas <= 5", true},
	} {
		src := NewSources(krm.DefaultLimits())
		if err := src.AddFS(fstest.MapFS{"p.yaml": {Data: []byte(policy(tc.ops, tc.expr))}}, "p.yaml", "p.yaml"); err != nil {
			t.Fatal(err)
		}
		set, err := src.Compile()
		if err != nil {
			t.Fatal(err)
		}
		if got := set.UsesOldObject(); got != tc.want {
			t.Errorf("operations %s, %q: UsesOldObject = %v, want %v", tc.ops, tc.expr, got, tc.want)
		}
	}
}
