package render

import (
	"slices"
	"strings"
	"testing"
)

func TestEnsureNameSubstring(t *testing.T) {
	const items = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings # the app's settings
  namespace: ns
data:
  a: b
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dev-web
  namespace: ns
spec:
  template:
    spec:
      volumes:
        - name: config
          configMap:
            name: settings # mounted
---
apiVersion: v1
kind: Namespace
metadata:
  name: ns
---
apiVersion: example.com/v1
kind: MyOwnResource
metadata:
  name: own
  namespace: ns
  annotations:
    team: web
spec:
  name: thing
`
	prepended := strings.NewReplacer("name: settings", "name: dev-settings", "name: own", "name: dev-own").Replace(items)
	cr := `apiVersion: fn.kpt.dev/v1alpha1
kind: EnsureNameSubstring
metadata:
  name: my-fn-config
substring: dev-
additionalNameFields:
  - path: spec/name
    kind: MyOwnResource
`
	for _, tt := range []struct {
		name, config, items, wantErr, want string
	}{
		{name: "ConfigMap prepend", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {prepend: dev-}\n",
			items: items, want: prepended},
		{name: "again, nothing changes", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {prepend: dev-}\n",
			items: prepended, want: prepended},
		{name: "EnsureNameSubstring with additional name fields", config: cr,
			items: items, want: strings.Replace(prepended, "name: thing", "name: dev-thing", 1)},
		{name: "fieldSpecs, append", config: strings.NewReplacer("additionalNameFields", "fieldSpecs", "substring: dev-", "substring: -dev\neditMode: append").Replace(cr),
			items: items, want: strings.NewReplacer("name: settings", "name: settings-dev", "name: dev-web", "name: dev-web-dev",
				"name: own", "name: own-dev", "name: thing", "name: thing-dev").Replace(items)},
		{name: "no functionConfig", items: items, wantErr: "ensure-name-substring: a functionConfig is required"},
		{name: "two entries", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {prepend: a-, append: -b}\n", items: items,
			wantErr: "ensure-name-substring: only 1 entry is allowed in the ConfigMap, but got: 2"},
		{name: "unknown key", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {prefix: a-}\n", items: items,
			wantErr: "ensure-name-substring: unknown editMode: prefix, only prepend and append are allowed"},
		{name: "empty substring", config: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {prepend: ''}\n", items: items,
			wantErr: "ensure-name-substring: substring must not be empty"},
		{name: "wrong kind", config: "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\n", items: items,
			wantErr: "ensure-name-substring: function config must be either v1 ConfigMap or fn.kpt.dev/v1alpha1 EnsureNameSubstring, but we got: v1 Secret"},
		{name: "misspelt field", config: strings.Replace(cr, "substring:", "substr:", 1), items: items,
			wantErr: `ensure-name-substring: functionConfig EnsureNameSubstring: error unmarshaling JSON: while decoding JSON: json: unknown field "substr"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl, err := runCatalogFn(t, ensureNameSubstring, tt.config, tt.items)
			checkRun(t, rl, err, tt.wantErr, tt.want)
		})
	}
}

// TestEnsureNameSubstringAnnotations: kustomize's build annotations do not
// stay behind, and a resource without annotations gets none.
func TestEnsureNameSubstringAnnotations(t *testing.T) {
	rl, err := runCatalogFn(t, ensureNameSubstring, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {append: -x}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
	if err != nil {
		t.Fatal(err)
	}
	for k := range rl.Items[0].GetAnnotations() {
		if slices.Contains(kustomizeBuildAnnotations, k) {
			t.Errorf("annotation %s left", k)
		}
	}
	if got, want := itemsString(t, rl), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a-x\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
