package render

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// itemsFromFile parses resources separated by "---" as read from file.
func itemsFromFile(t *testing.T, file, text string) []*yaml.RNode {
	t.Helper()
	var items []*yaml.RNode
	for _, doc := range strings.Split(text, "---\n") {
		n, err := yaml.Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.PipeE(yaml.SetAnnotation(kioutil.PathAnnotation, file)); err != nil {
			t.Fatal(err)
		}
		items = append(items, n)
	}
	return items
}

// writtenItems is items as written back to their file.
func writtenItems(t *testing.T, items []*yaml.RNode) string {
	t.Helper()
	var docs []string
	for _, n := range items {
		n = n.Copy()
		if err := n.PipeE(yaml.ClearAnnotation(kioutil.PathAnnotation)); err != nil {
			t.Fatal(err)
		}
		if err := yaml.ClearEmptyAnnotations(n); err != nil {
			t.Fatal(err)
		}
		b, err := yaml.MarshalWithOptions(n.Document(), &yaml.EncoderOptions{SeqIndent: yaml.WideSequenceStyle})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

func dataConfigMap(t *testing.T, data map[string]string) *yaml.RNode {
	t.Helper()
	cm, err := newConfigMap(data)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// TestApplySetters sets scalars, parts of strings and sequences as the
// catalog's examples show, and reports each field set.
func TestApplySetters(t *testing.T) {
	in := `apiVersion: v1
kind: MyKind
metadata:
  name: nginx-deployment # kpt-set: ${image}-deployment
  namespace: prod # a comment that is no setter
spec:
  replicas: 1 # kpt-set: ${replicas}
  image: nginx:1.7.1 # kpt-set: ${image}:${tag}
  host: my-app.dev.example.com # kpt-set: my-app.${stage}.${domain}.${tld}
  untouched: old # kpt-set: ${other}
  containers:
    - name: a
      args: [x, y] # kpt-set: ${args}
environments: # kpt-set: ${env}
  - dev
  - stage
empty: # kpt-set: ${none}
  - gone
`
	want := `apiVersion: v1
kind: MyKind
metadata:
  name: ubuntu-deployment # kpt-set: ${image}-deployment
  namespace: prod # a comment that is no setter
spec:
  replicas: 3 # kpt-set: ${replicas}
  image: ubuntu:1.8.0 # kpt-set: ${image}:${tag}
  host: my-app.prod.example.com # kpt-set: my-app.${stage}.${domain}.${tld}
  untouched: old # kpt-set: ${other}
  containers:
    - name: a
      args: # kpt-set: ${args}
        - "--verbose"
        - "2"
environments: # kpt-set: ${env}
  - prod
  - dev
empty: [] # kpt-set: ${none}
`
	rl := &framework.ResourceList{
		Items: itemsFromFile(t, "app.yaml", in),
		FunctionConfig: dataConfigMap(t, map[string]string{
			"image":    "ubuntu",
			"replicas": "3",
			"tag":      "1.8.0",
			"stage":    "prod",
			"args":     "- \"--verbose\"\n- \"2\"\n",
			"env":      "- prod\n- dev",
			"none":     "",
		}),
	}
	if err := applySetters(rl); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(writtenItems(t, rl.Items), want); diff != "" {
		t.Errorf("resources (-got +want):\n%s", diff)
	}
	var got []string
	for _, r := range rl.Results {
		if r.Severity != framework.Info || r.File == nil || r.File.Path != "app.yaml" || r.Field == nil {
			t.Errorf("result %+v: want an info naming app.yaml and a field", r)
			continue
		}
		got = append(got, r.Field.Path+" "+r.Message)
	}
	// A mapping's sequences are set before the fields below it.
	wantResults := []string{
		`environments set field value to "- prod\n- dev"`,
		`empty set field value to ""`,
		`metadata.name set field value to "ubuntu-deployment"`,
		`spec.replicas set field value to "3"`,
		`spec.image set field value to "ubuntu:1.8.0"`,
		`spec.host set field value to "my-app.prod.example.com"`,
		`spec.containers[0].args set field value to "- \"--verbose\"\n- \"2\"\n"`,
	}
	if diff := cmp.Diff(got, wantResults); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
}

// TestApplySettersConfig: an ApplySetters works as a ConfigMap does, its
// values strings or lists; anything else is an error naming the function.
func TestApplySettersConfig(t *testing.T) {
	const res = "apiVersion: v1\nkind: MyKind\nmetadata:\n  name: foo # kpt-set: ${name}\nenv: # kpt-set: ${env}\n  - dev\n"
	for _, tt := range []struct {
		name, config, want, wantErr string
	}{
		{
			name: "ApplySetters",
			config: `apiVersion: fn.kpt.dev/v1alpha1
kind: ApplySetters
metadata:
  name: setters
setters:
  - name: name
    value: bar
  - name: env
    value:
      - prod
      - staging
`,
			want: "apiVersion: v1\nkind: MyKind\nmetadata:\n  name: bar # kpt-set: ${name}\nenv: # kpt-set: ${env}\n  - prod\n  - staging\n",
		},
		{
			name:    "setter without a name",
			config:  "apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplySetters\nmetadata:\n  name: s\nsetters:\n  - value: x\n",
			wantErr: "apply-setters: ApplySetters: setters[0]: a setter needs a name",
		},
		{
			name:    "setter given twice",
			config:  "apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplySetters\nmetadata:\n  name: s\nsetters:\n  - {name: a, value: x}\n  - {name: a, value: y}\n",
			wantErr: `setters[1]: setter "a" given twice`,
		},
		{
			name:    "another kind",
			config:  "apiVersion: fn.kpt.dev/v1alpha1\nkind: SetLabels\nmetadata:\n  name: s\n",
			wantErr: "apply-setters: functionConfig must be a ConfigMap or an fn.kpt.dev/v1alpha1 ApplySetters, not fn.kpt.dev/v1alpha1 SetLabels",
		},
		{
			name:    "no functionConfig",
			wantErr: "apply-setters: a functionConfig is required",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := &framework.ResourceList{Items: itemsFromFile(t, "r.yaml", res)}
			if tt.config != "" {
				rl.FunctionConfig = yaml.MustParse(tt.config)
			}
			err := applySetters(rl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("applySetters: %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(writtenItems(t, rl.Items), tt.want); diff != "" {
				t.Errorf("resources (-got +want):\n%s", diff)
			}
		})
	}
}

// TestApplySettersErrors: values a field cannot take fail the function
// with the catalog's messages.
func TestApplySettersErrors(t *testing.T) {
	for _, tt := range []struct {
		name, res, wantErr string
		data               map[string]string
	}{
		{
			name:    "list setter given a scalar",
			res:     "env: # kpt-set: ${env}\n  - dev\n",
			data:    map[string]string{"env": "prod"},
			wantErr: `input to array setter must be an array of values, but found "prod"`,
		},
		{
			name:    "list field marked with a pattern",
			res:     "env: # kpt-set: ${env}-x\n  - dev\n",
			data:    map[string]string{"env": "- prod"},
			wantErr: `invalid setter pattern for array node: "${env}-x"`,
		},
		{
			name:    "a setter neither given nor readable",
			res:     "image: nginx # kpt-set: ${image}:${tag}\n",
			data:    map[string]string{"tag": "1.2"},
			wantErr: "values for setters [${image}] must be provided",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := &framework.ResourceList{
				Items:          itemsFromFile(t, "r.yaml", "apiVersion: v1\nkind: MyKind\nmetadata:\n  name: foo\n"+tt.res),
				FunctionConfig: dataConfigMap(t, tt.data),
			}
			err := applySetters(rl)
			if err == nil || !strings.HasPrefix(err.Error(), "apply-setters: failed to apply setters: ") ||
				!strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("applySetters: %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestApplySettersNoMatch warns when no field names a setter given, or
// no setter is given.
func TestApplySettersNoMatch(t *testing.T) {
	const res = "apiVersion: v1\nkind: MyKind\nmetadata:\n  name: foo # kpt-set: ${name}\n"
	for name, config := range map[string]string{
		"another setter":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  other: x\n",
		"empty ConfigMap":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n",
		"ApplySetters, no setters": "apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplySetters\nmetadata:\n  name: s\nsetters: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			rl := &framework.ResourceList{
				Items:          itemsFromFile(t, "r.yaml", res),
				FunctionConfig: yaml.MustParse(config),
			}
			if err := applySetters(rl); err != nil {
				t.Fatal(err)
			}
			if len(rl.Results) != 1 || rl.Results[0].Severity != framework.Warning || rl.Results[0].Message != "no matches for input setter(s)" {
				t.Errorf("results: %v", rl.Results)
			}
			if got := writtenItems(t, rl.Items); got != res {
				t.Errorf("resource changed:\n%s", got)
			}
		})
	}
}

// TestApplySettersEmptyValues: empty values give empty strings and empty
// sequences, and values set where those were keep the fields' styles;
// setter names and values may hold any character but '}'.
func TestApplySettersEmptyValues(t *testing.T) {
	for _, tt := range []struct {
		name, res, want string
		data            map[string]string
	}{
		{
			name: "to empty",
			res:  "metadata:\n  name: myService # kpt-set: ${app}\n  namespace: \"foo\" # kpt-set: ${ns}\nimage: nginx:1.7.1 # kpt-set: ${image}:${tag}\nenv: # kpt-set: ${env}\n  - foo\n  - bar\nroles: [dev, prod] # kpt-set: ${roles}\n",
			data: map[string]string{"app": "", "ns": "", "image": "", "env": "", "roles": ""},
			want: "metadata:\n  name: \"\" # kpt-set: ${app}\n  namespace: \"\" # kpt-set: ${ns}\nimage: :1.7.1 # kpt-set: ${image}:${tag}\nenv: [] # kpt-set: ${env}\nroles: [] # kpt-set: ${roles}\n",
		},
		{
			name: "from empty",
			res:  "metadata:\n  name: \"\" # kpt-set: ${app}\nimage: :1.7.1 # kpt-set: ${image}:${tag}\nenv: [] # kpt-set: ${env}\n",
			data: map[string]string{"app": "myService", "image": "nginx", "tag": "1.7.1", "env": "[foo, bar]"},
			want: "metadata:\n  name: \"myService\" # kpt-set: ${app}\nimage: nginx:1.7.1 # kpt-set: ${image}:${tag}\nenv: # kpt-set: ${env}\n  - foo\n  - bar\n",
		},
		{
			name: "special characters",
			res:  "metadata:\n  name: x\nimage: nginx:1.7.9 # kpt-set: ${image-~!@#$%^&*()<>?\"|}:${tag}\n",
			data: map[string]string{`image-~!@#$%^&*()<>?"|`: `ubuntu-~!@#$%^&*()<>?"|`},
			want: "metadata:\n  name: x\nimage: ubuntu-~!@#$%^&*()<>?\"|:1.7.9 # kpt-set: ${image-~!@#$%^&*()<>?\"|}:${tag}\n",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl := &framework.ResourceList{
				Items:          itemsFromFile(t, "r.yaml", tt.res),
				FunctionConfig: dataConfigMap(t, tt.data),
			}
			if err := applySetters(rl); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(writtenItems(t, rl.Items), tt.want); diff != "" {
				t.Errorf("resource (-got +want):\n%s", diff)
			}
		})
	}
}
