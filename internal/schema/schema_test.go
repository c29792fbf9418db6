package schema

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/krm/krmtest"
)

func gvkOf(obj map[string]any) k8sschema.GroupVersionKind {
	return k8sschema.FromAPIVersionAndKind(obj["apiVersion"].(string), obj["kind"].(string))
}

// errorStrings returns the errors as strings, sorted: validation's own
// order is of no interest.
func errorStrings(errs []FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.String())
	}
	slices.Sort(out)
	return out
}

func TestBuiltinKindsCompile(t *testing.T) {
	b := NewBuiltin()
	if err := b.load(); err != nil {
		t.Fatal(err)
	}
	if len(b.kinds) < 50 {
		t.Fatalf("only %d built-in kinds", len(b.kinds))
	}
	for gvk := range b.kinds {
		if _, ok, err := b.Lookup(gvk); !ok || err != nil {
			t.Errorf("%s: found %v, %v", gvk, ok, err)
		}
	}
	for _, k := range []struct {
		gvk        k8sschema.GroupVersionKind
		resource   string
		namespaced bool
	}{
		{k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", true},
		{k8sschema.GroupVersionKind{Version: "v1", Kind: "Service"}, "services", true},
		{k8sschema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", false},
		{k8sschema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "clusterroles", false},
		{k8sschema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, "ingresses", true},
	} {
		got, ok := b.Kind(k.gvk)
		if !ok || got.Resource != k.resource || got.Namespaced != k.namespaced {
			t.Errorf("Kind(%s) = %+v, %v; want resource %s, namespaced %v", k.gvk, got, ok, k.resource, k.namespaced)
		}
	}
}

func TestBuiltinValidate(t *testing.T) {
	b := NewBuiltin()
	set := NewSet(b, nil)
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "valid deployment with quantities, int-or-string and null timestamps",
			doc: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, creationTimestamp: null, labels: {app.kubernetes.io/name: web}}
spec:
  replicas: 2
  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 1}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, creationTimestamp: null}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources: {requests: {cpu: 0.5, memory: 64Mi}, limits: {cpu: "1", memory: 1e9}}
        livenessProbe: {httpGet: {port: http, path: /}}
status: {}
`,
		},
		{
			name: "valid service and secret",
			doc:  "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {empty: '', hello: aGVsbG8=}\nstringData: {plain: text}\n",
		},
		{
			name: "unknown fields and wrong types",
			doc: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, lables: {a: b}}
spec:
  replica: 3
  replicas: three
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx:1.27, ports: [{containerPort: "80"}]}
`,
			want: []string{
				`metadata.lables: unknown field "metadata.lables"`,
				`spec.replica: unknown field "spec.replica"`,
				`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
				`spec.template.spec.containers[0].ports[0].containerPort: Invalid value: "string": spec.template.spec.containers[0].ports[0].containerPort in body must be of type integer: "string"`,
			},
		},
		{
			name: "required fields and list keys",
			doc: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: a, image: x:1}
      - {name: a, image: y:1}
`,
			want: []string{
				"spec.selector: Required value",
				`spec.template.spec.containers[1]: Duplicate value: {"name":"a"}`,
			},
		},
		{
			name: "metadata rules",
			doc:  "apiVersion: v1\nkind: Namespace\nmetadata: {name: Team_A, namespace: x, labels: {'bad key!': v}}\n",
			want: []string{
				"metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
				"metadata.name: Invalid value: \"Team_A\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
				"metadata.namespace: Forbidden: not allowed on this type",
			},
		},
		{
			name: "invalid base64",
			doc:  "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: 'not base64!'}\n",
			want: []string{`data.a: Invalid value: "not base64!": data.a in body must be of type byte: "not base64!"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := krmtest.Object(t, tt.doc)
			s, err := set.Lookup(gvkOf(obj))
			if err != nil || s == nil {
				t.Fatalf("Lookup: %v, %v", s, err)
			}
			got := errorStrings(s.Validate(context.Background(), obj))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, blue]}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
            x-kubernetes-validations:
            - rule: "self.size % 2 == 0"
              message: size must be even
  - name: v0
    served: false
    storage: false
    schema: {openAPIV3Schema: {type: object}}
`

func TestCRD(t *testing.T) {
	ctx := context.Background()
	schemas, errs := FromCRD(ctx, krmtest.Object(t, widgetCRD), "crd.yaml")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(schemas) != 1 || schemas[0].Kind.GVK.Version != "v1" || schemas[0].Kind.Resource != "widgets" || !schemas[0].Kind.Namespaced {
		t.Fatalf("schemas = %+v, want only the served v1", schemas)
	}
	set := NewSet(NewBuiltin(), nil).With(schemas)
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{name: "valid", doc: "spec: {size: 4, color: red, extra: {anything: [1, 2]}}"},
		{name: "schema violations", doc: "spec: {size: 11, color: green, colour: red}", want: []string{
			`spec.color: Unsupported value: "green": supported values: "red", "blue"`,
			`spec.colour: unknown field "spec.colour"`,
			"spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
		}},
		{name: "CEL rule", doc: "spec: {size: 3}", want: []string{"spec: Invalid value: size must be even"}},
		{name: "required", doc: "spec: {color: red}", want: []string{"spec.size: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := krmtest.Object(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"+tt.doc+"\n")
			s, err := set.Lookup(gvkOf(obj))
			if err != nil || s == nil {
				t.Fatalf("Lookup: %v, %v", s, err)
			}
			if diff := cmp.Diff(tt.want, errorStrings(s.Validate(ctx, obj))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if s, _ := set.Lookup(k8sschema.GroupVersionKind{Group: "example.com", Version: "v0", Kind: "Widget"}); s != nil {
		t.Error("a version that is not served has a schema")
	}
}

func TestInvalidCRD(t *testing.T) {
	tests := []struct{ name, from, to, want string }{
		{"name must be plural.group", "name: widgets.example.com", "name: widget.example.com", `metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group`},
		{"unknown field", "scope: Namespaced", "scope: Namespaced\n  scoop: x", `unknown field "spec.scoop"`},
		{"not structural", "size: {type: integer, minimum: 1, maximum: 10}", "size: {minimum: 1}", "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: Required value: must not be empty for specified object fields"},
		{"bad rule", `rule: "self.size % 2 == 0"`, `rule: "self.nope"`, "compilation failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(widgetCRD, tt.from, tt.to, 1)
			schemas, errs := FromCRD(context.Background(), krmtest.Object(t, doc), "crd.yaml")
			if schemas != nil {
				t.Errorf("got schemas from an invalid CRD")
			}
			if got := strings.Join(errorStrings(errs), "\n"); !strings.Contains(got, tt.want) {
				t.Errorf("errors:\n%s\nwant one containing %q", got, tt.want)
			}
		})
	}
}

func TestLoadCRDs(t *testing.T) {
	fsys := fstest.MapFS{
		"crds/widget.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n---\n" + widgetCRD)},
		"crds/notes.txt":   {Data: []byte("not yaml: [")},
	}
	schemas, err := LoadCRDs(context.Background(), fsys, ".", krm.DefaultLimits())
	if err != nil || len(schemas) != 1 {
		t.Fatalf("LoadCRDs = %v, %v", schemas, err)
	}
	fsys["crds/bad.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(widgetCRD, "widgets.example.com", "wrong.example.com", 1))}
	if _, err := LoadCRDs(context.Background(), fsys, ".", krm.DefaultLimits()); err == nil || !strings.Contains(err.Error(), "crds/bad.yaml:3: invalid CustomResourceDefinition") {
		t.Errorf("error = %v, want the bad CRD named", err)
	}
}
