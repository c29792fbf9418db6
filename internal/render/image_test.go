package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const imageConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: my-config
data:
  name: nginx
  newName: bitnami/nginx
  newTag: 1.21.4
`

func TestSetImage(t *testing.T) {
	pod := func(image string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app # the app\nspec:\n  containers:\n  - name: server\n    image: " + image + " # pinned\n"
	}
	myKind := "apiVersion: dev.example.com/v1\nkind: MyKind\nmetadata:\n  name: mine\nspec:\n  manifest:\n    images:\n    - image: %s\n"
	setImageCR := `apiVersion: fn.kpt.dev/v1alpha1
kind: SetImage
metadata:
  name: my-func-config
image:
  name: nginx
  newName: bitnami/nginx
  newTag: 1.21.4
additionalImageFields:
- kind: MyKind
  create: false
  group: dev.example.com
  path: spec/manifest/images[]/image
  version: v1
`
	for _, tt := range []struct {
		name, config, items, wantErr, want string
	}{
		{name: "ConfigMap, comments kept", config: imageConfigMap, items: pod("nginx:1.20.2"), want: pod("bitnami/nginx:1.21.4")},
		{name: "digest replaces the tag", items: pod("nginx:1.20.2"), want: pod("nginx@sha256:3cbb"),
			config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {name: nginx, digest: 'sha256:3cbb'}\n"},
		{name: "another image untouched", config: imageConfigMap, items: pod("nginx-ingress:1.0"), want: pod("nginx-ingress:1.0")},
		{name: "SetImage with additional fields", config: setImageCR,
			items: pod("nginx") + "---\n" + strings.Replace(myKind, "%s", "nginx:1.0", 1),
			want:  pod("bitnami/nginx:1.21.4") + "---\n" + strings.Replace(myKind, "%s", "bitnami/nginx:1.21.4", 1)},
		{name: "no functionConfig", items: pod("nginx"), wantErr: "set-image: a functionConfig is required"},
		{name: "wrong kind", config: "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\n", items: pod("nginx"),
			wantErr: "set-image: `functionConfig` must be a `ConfigMap` or `SetImage`, not v1 Secret"},
		{name: "no name", config: strings.Replace(imageConfigMap, "name: nginx", "image: nginx", 1), items: pod("nginx"),
			wantErr: `set-image: unknown key "image" in the ConfigMap's data`},
		{name: "name missing", config: strings.Replace(setImageCR, "  name: nginx\n", "", 1), items: pod("nginx"),
			wantErr: "set-image: missing image name"},
		{name: "nothing to set", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {name: nginx}\n", items: pod("nginx"),
			wantErr: "set-image: missing image newName, newTag, or digest"},
		{name: "tag and digest", config: strings.Replace(imageConfigMap, "newName: bitnami/nginx", "digest: sha256:3cbb", 1), items: pod("nginx"),
			wantErr: "set-image: image newTag and digest both set"},
		{name: "SetImage misspelt", config: strings.Replace(setImageCR, "additionalImageFields", "additionalImageField", 1), items: pod("nginx"),
			wantErr: `set-image: functionConfig SetImage: error unmarshaling JSON: while decoding JSON: json: unknown field "additionalImageField"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl, err := runCatalogFn(t, setImage, tt.config, tt.items)
			checkRun(t, rl, err, tt.wantErr, tt.want)
		})
	}
}

// TestSetImageResults: the results of the catalog's
// examples/set-image-simple, as its .expected/results.yaml lists them, and
// the one result of a run that changed nothing.
func TestSetImageResults(t *testing.T) {
	items, err := os.ReadFile(filepath.Join(examples, "set-image-simple", "input", "resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := runCatalogFn(t, setImage, imageConfigMap, string(items))
	if err != nil {
		t.Fatal(err)
	}
	want := `- message: set image from nginx:1.20.2 to bitnami/nginx:1.21.4
  severity: info
  resourceRef:
    apiVersion: v1
    kind: Pod
    name: app1
  field:
    path: spec.containers.image
    currentValue: nginx:1.20.2
    proposedValue: bitnami/nginx:1.21.4
  file:
    path: resources.yaml
- message: set image from nginx:1.20.2 to bitnami/nginx:1.21.4
  severity: info
  resourceRef:
    apiVersion: v1
    kind: Pod
    name: app2
  field:
    path: spec.containers.image
    currentValue: nginx:1.20.2
    proposedValue: bitnami/nginx:1.21.4
  file:
    path: resources.yaml
    index: 1
`
	if diff := cmp.Diff(resultsYAML(t, rl.Results), want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
	rl, err = runCatalogFn(t, setImage, imageConfigMap, itemsString(t, rl))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(resultsYAML(t, rl.Results), "- message: no images changed\n  severity: info\n"); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
}

func resultsYAML(t *testing.T, results framework.Results) string {
	t.Helper()
	b, err := yaml.Marshal(results)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
