package render

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// runCatalogFn runs fn over the resources of items, all of file
// resources.yaml, with the functionConfig config ("" for none), as kpt
// gives them to a function.
func runCatalogFn(t *testing.T, fn builtinFunc, config, items string) (*framework.ResourceList, error) {
	t.Helper()
	nodes, err := (&kio.ByteReader{Reader: strings.NewReader(items), PreserveSeqIndent: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.PipeE(yaml.SetAnnotation(kioutil.PathAnnotation, "resources.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	rl := &framework.ResourceList{Items: nodes}
	if config != "" {
		rl.FunctionConfig = yaml.MustParse(config)
	}
	return rl, fn(rl)
}

// itemsString is the resources as kpt writes them back into their file.
func itemsString(t *testing.T, rl *framework.ResourceList) string {
	t.Helper()
	var b bytes.Buffer
	w := kio.ByteWriter{Writer: &b, ClearAnnotations: []string{kioutil.PathAnnotation, kioutil.IndexAnnotation}}
	if err := w.Write(rl.Items); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkRun asserts what a function run did: the error it returned (wantErr
// a part of its message, "" for none) and, without one, the resources.
func checkRun(t *testing.T, rl *framework.ResourceList, err error, wantErr, want string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one saying %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(itemsString(t, rl), want); diff != "" {
		t.Errorf("resources (-got +want):\n%s", diff)
	}
}

// The catalog's examples/apply-replacements-simple: its resources.yaml and
// job.yaml, and its replacements.yaml, which the example's Kptfile names
// with configPath.
const (
	replacementsPod = `apiVersion: v1
kind: Pod
metadata:
  name: my-pod
spec:
  containers:
    - image: busybox
      name: myapp-container
  restartPolicy: OnFailure
`
	replacementsJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: hello
`
	replacementsExample = `apiVersion: kpt.dev/v1alpha1
kind: Replacements
metadata:
  name: replacements-fn-config
replacements:
  - source:
      kind: Pod
      name: my-pod
      fieldPath: spec
    targets:
      - select:
          name: hello
          kind: Job
        fieldPaths:
          - spec.template.spec
        options:
          create: true
`
)

func TestApplyReplacements(t *testing.T) {
	current := strings.Replace(replacementsExample, "kpt.dev/v1alpha1\nkind: Replacements", "fn.kpt.dev/v1alpha1\nkind: ApplyReplacements", 1)
	// The example's .expected/diff.patch applied to job.yaml.
	wantJob := replacementsJob + `spec:
  template:
    spec:
      containers:
      - image: busybox
        name: myapp-container
      restartPolicy: OnFailure
`
	for _, tt := range []struct {
		name, config, items, wantErr, want string
	}{
		{name: "catalog example", config: replacementsExample, items: replacementsPod + "---\n" + replacementsJob,
			want: replacementsPod + "---\n" + wantJob},
		{name: "current kind", config: current, items: replacementsPod + "---\n" + replacementsJob,
			want: replacementsPod + "---\n" + wantJob},
		{name: "comments kept", config: strings.NewReplacer("fieldPath: spec", "fieldPath: spec.restartPolicy",
			"- spec.template.spec", "- spec.template.spec.restartPolicy").Replace(current),
			items: "# the job\n" + replacementsJob + "spec: # its spec\n  backoffLimit: 2 # retries\n---\n" + replacementsPod,
			want: "# the job\n" + replacementsJob + "spec: # its spec\n  backoffLimit: 2 # retries\n" +
				"  template:\n    spec:\n      restartPolicy: OnFailure\n---\n" + replacementsPod},
		{name: "no functionConfig", items: replacementsJob, wantErr: "apply-replacements: a functionConfig of kind ApplyReplacements is required"},
		{name: "a ConfigMap", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n", items: replacementsJob,
			wantErr: "apply-replacements: received functionConfig of kind ConfigMap and apiVersion v1"},
		{name: "misspelt field", config: strings.Replace(current, "fieldPaths:", "fieldPath:", 1), items: replacementsJob,
			wantErr: `apply-replacements: unable to convert functionConfig to replacements: error unmarshaling JSON: while decoding JSON: json: unknown field "fieldPath"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl, err := runCatalogFn(t, applyReplacements, tt.config, tt.items)
			checkRun(t, rl, err, tt.wantErr, tt.want)
			if len(rl.Results) != 0 {
				t.Errorf("results: %v", rl.Results)
			}
		})
	}
}

// TestApplyReplacementsFailure: a replacement that cannot be applied is an
// error result, the resources left as they were.
func TestApplyReplacementsFailure(t *testing.T) {
	config := strings.Replace(replacementsExample, "name: my-pod", "name: no-such-pod", 1)
	rl, err := runCatalogFn(t, applyReplacements, config, replacementsPod+"---\n"+replacementsJob)
	if err != nil {
		t.Fatal(err)
	}
	if rl.Results.ExitCode() != 1 || len(rl.Results) != 1 || !strings.Contains(rl.Results[0].Message, "nothing selected by Pod.[noVer].[noGrp]/no-such-pod.[noNs]:spec") {
		t.Errorf("results: %v", rl.Results)
	}
	if got, want := itemsString(t, rl), replacementsPod+"---\n"+replacementsJob; got != want {
		t.Errorf("resources changed:\n%s", got)
	}
}

// exampleChanges lists the files a catalog example's render changes: those
// whose expected bytes differ from the input's, most often resources.yaml
// alone, job.yaml for apply-replacements-simple.
func exampleChanges(t *testing.T, name string) []string {
	t.Helper()
	in := readTree(t, filepath.Join(examples, name, "input"))
	var changed []string
	for file, data := range readTree(t, filepath.Join(examples, name, "expected")) {
		if in[file] != data {
			changed = append(changed, file)
		}
	}
	slices.Sort(changed)
	return changed
}
