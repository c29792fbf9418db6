package render

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const kptfileHead = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n"

// TestWriteBack: comments and formatting of a changed file are kept, and a
// file whose resources no function changed keeps its bytes.
func TestWriteBack(t *testing.T) {
	files := map[string]string{
		"Kptfile": kptfileHead + `pipeline:
  mutators:
    - image: gcr.io/kpt-fn/set-namespace:v0.1
      configMap:
        namespace: staging
`,
		"app.yaml": `# The web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # keep this name
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx
`,
		// Cluster-scoped: set-namespace leaves it alone. Its odd but valid
		// formatting would not survive a rewrite.
		"cluster.yaml": `apiVersion:   rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get"]
`,
	}
	dir := writeFiles(t, files)
	mt := mtimes(t, dir)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	want := strings.Replace(files["app.yaml"], "namespace: prod", "namespace: staging", 1)
	if diff := cmp.Diff(got["app.yaml"], want); diff != "" {
		t.Errorf("app.yaml (-got +want):\n%s", diff)
	}
	if got["cluster.yaml"] != files["cluster.yaml"] {
		t.Errorf("cluster.yaml changed:\n%s", got["cluster.yaml"])
	}
	delete(mt, "app.yaml")
	untouchedFiles := map[string]string{"Kptfile": files["Kptfile"], "cluster.yaml": files["cluster.yaml"], "app.yaml": want}
	untouched(t, dir, untouchedFiles, mt)
	if !cmp.Equal(out.Changed, []string{"app.yaml"}) {
		t.Errorf("Changed = %q", out.Changed)
	}
}

// TestValidatorsDoNotMutate: validators run on copies; what they change is
// not written, and they run after every mutator.
func TestValidatorsDoNotMutate(t *testing.T) {
	files := map[string]string{
		"Kptfile": kptfileHead + `pipeline:
  validators:
    - image: gcr.io/kpt-fn/set-labels:v0.1
      configMap: {app: web}
`,
		"deployment.yaml": deployment,
	}
	dir := writeFiles(t, files)
	out, err := Render(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Changed) != 0 || len(out.Results.Items) != 1 {
		t.Errorf("outcome: %+v", out)
	}
	if diff := cmp.Diff(readTree(t, dir), files); diff != "" {
		t.Errorf("package (-got +want):\n%s", diff)
	}
}

// TestPipelineRefused: a pipeline that cannot run is refused before any
// of its functions runs, the package untouched.
func TestPipelineRefused(t *testing.T) {
	for _, tt := range []struct {
		name    string
		files   map[string]string
		wantErr error
		want    string
	}{
		{"exec not allowed", map[string]string{"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - exec: ./fn\n"},
			ErrExecNotAllowed, "exec functions are not allowed on this server"},
		{"configPath and configMap", map[string]string{
			"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configPath: fn.yaml\n      configMap: {a: b}\n",
			"fn.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fn\n"}, nil, "configPath and configMap are both given"},
		{"configPath missing", map[string]string{"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configPath: fn.yaml\n"},
			nil, "functionConfig must exist in the current package"},
		{"configPath outside", map[string]string{"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      configPath: ../fn.yaml\n"},
			nil, "not a file of the package"},
		{"image and exec", map[string]string{"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-labels:v0.1\n      exec: ./fn\n"},
			nil, "not both"},
		{"subpackage Kptfile", map[string]string{"Kptfile": kptfileHead, "sub/Kptfile": "apiVersion: kpt.dev/v1alpha2\nkind: Kptfile\n"},
			nil, "subpackage sub: the Kptfile's apiVersion"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			out, err := Render(context.Background(), dir, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render: %v, want an error saying %s", err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Render: %v, want %v", err, tt.wantErr)
			}
			if len(out.Results.Items) != 0 || out.Results.ExitCode != 1 {
				t.Errorf("results: %+v", out.Results)
			}
			if diff := cmp.Diff(readTree(t, dir), tt.files); diff != "" {
				t.Errorf("package changed (-got +want):\n%s", diff)
			}
		})
	}
}

// TestNotPackage: a directory without a Kptfile, and a Kptfile of another
// version, are refused.
func TestNotPackage(t *testing.T) {
	if _, err := Render(context.Background(), t.TempDir(), Options{}); !errors.Is(err, ErrNotPackage) {
		t.Errorf("no Kptfile: %v", err)
	}
	dir := writeFiles(t, map[string]string{"Kptfile": "apiVersion: kpt.dev/v1alpha2\nkind: Kptfile\nmetadata:\n  name: pkg\n"})
	if _, err := Render(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "kpt.dev/v1alpha2") {
		t.Errorf("v1alpha2 Kptfile: %v", err)
	}
}

// TestSetNamespaceDependsOn: a depends-on reference to a resource of the
// package follows it into the new namespace; one to a resource elsewhere
// does not (the set-namespace README's example).
func TestSetNamespaceDependsOn(t *testing.T) {
	files := map[string]string{
		"Kptfile": kptfileHead + "pipeline:\n  mutators:\n    - image: gcr.io/kpt-fn/set-namespace:v0.4\n      configMap:\n        namespace: staging\n",
		"rbac.yaml": `apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
  namespace: example
  annotations:
    config.kubernetes.io/depends-on: /namespaces/example/ServiceAccount/foo
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: example
  annotations:
    config.kubernetes.io/depends-on: /namespaces/example/ServiceAccount/sa,apps/namespaces/other/Deployment/web
subjects:
  - kind: ServiceAccount
    name: default
    namespace: example
  - kind: ServiceAccount
    name: sa
    namespace: example
roleRef:
  kind: Role
  name: confluent-operator
  apiGroup: rbac.authorization.k8s.io
`,
	}
	dir := writeFiles(t, files)
	if _, err := Render(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
  namespace: staging
  annotations:
    config.kubernetes.io/depends-on: /namespaces/example/ServiceAccount/foo
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: staging
  annotations:
    config.kubernetes.io/depends-on: /namespaces/staging/ServiceAccount/sa,apps/namespaces/other/Deployment/web
subjects:
  - kind: ServiceAccount
    name: default
    namespace: staging
  - kind: ServiceAccount
    name: sa
    namespace: example
roleRef:
  kind: Role
  name: confluent-operator
  apiGroup: rbac.authorization.k8s.io
`
	if diff := cmp.Diff(readTree(t, dir)["rbac.yaml"], want); diff != "" {
		t.Errorf("rbac.yaml (-got +want):\n%s", diff)
	}
}

// TestFunctionConfig: a function's configMap reaches it as kpt builds it,
// a ConfigMap named function-input whose values are all strings.
func TestFunctionConfig(t *testing.T) {
	cm, err := newConfigMap(map[string]string{"replicas": "3", "enabled": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if cm.GetApiVersion() != "v1" || cm.GetKind() != "ConfigMap" || cm.GetName() != "function-input" {
		t.Errorf("functionConfig: %s", cm.MustString())
	}
	data, err := cm.Pipe(yaml.Lookup("data"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := data.VisitFields(func(f *yaml.MapNode) error {
		if tag := f.Value.YNode().Tag; tag != yaml.NodeTagString {
			t.Errorf("data.%s: tag %s, want %s", f.Key.YNode().Value, tag, yaml.NodeTagString)
		}
		got[f.Key.YNode().Value] = f.Value.YNode().Value
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"replicas": "3", "enabled": "true"}; !cmp.Equal(got, want) {
		t.Errorf("data = %v, want %v", got, want)
	}
	if cm, _ := newConfigMap(nil); cm != nil {
		t.Errorf("no configMap: functionConfig %v, want none", cm)
	}
}

// TestReadPackageAnnotations: functions see each resource annotated as kpt
// annotates it: its file and its index in the file, under the current
// internal.config.kubernetes.io keys and the legacy config.kubernetes.io
// ones.
func TestReadPackageAnnotations(t *testing.T) {
	pkg, err := readPackage(filesys.MakeFsOnDisk(), writeFiles(t, map[string]string{
		"Kptfile":       kptfileHead,
		"a.yaml":        deployment + "---\n" + deployment,
		"sub/cm.yml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
		"notes.txt":     "not a resource\n",
		"sub/data.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got [][4]string
	for _, n := range pkg {
		a := n.GetAnnotations()
		got = append(got, [4]string{
			a["internal.config.kubernetes.io/path"], a["internal.config.kubernetes.io/index"],
			a["config.kubernetes.io/path"], a["config.kubernetes.io/index"],
		})
	}
	want := [][4]string{
		{"a.yaml", "0", "a.yaml", "0"},
		{"a.yaml", "1", "a.yaml", "1"},
		{"sub/cm.yml", "0", "sub/cm.yml", "0"},
		{"sub/data.json", "0", "sub/data.json", "0"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("annotations (-got +want):\n%s", diff)
	}
}

// TestSettleOutputDuplicates: two resources of a function's output may not
// share a package, file and index.
func TestSettleOutputDuplicates(t *testing.T) {
	p := &pkgNode{dir: "/pkg", rel: "."}
	for _, docs := range []string{"a: 1\n---\nb: 2\n", "a: 1\n---\nb: 2\n---\nc: 3\n"} {
		out, err := decodeResources([]byte(docs), "r.yaml", "/pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := settleOutput(p, nil, out); err != nil {
			t.Errorf("%q: %v", docs, err)
		}
		err = settleOutput(p, nil, append(out, out[0].Copy()))
		if want := `resource at path "r.yaml" and index "0" already exists`; err == nil || err.Error() != want {
			t.Errorf("%q with a copy of the first: got %v, want %q", docs, err, want)
		}
	}
}
