package render

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// searchConfig is search-replace's ConfigMap with data.
func searchConfig(data ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: search\ndata:\n")
	for i := 0; i+1 < len(data); i += 2 {
		fmt.Fprintf(&b, "  %s: '%s'\n", data[i], strings.ReplaceAll(data[i+1], "'", "''"))
	}
	return b.String()
}

// resultLines is each result as "file field: message".
func resultLines(results framework.Results) []string {
	var lines []string
	for _, r := range results {
		var where []string
		if r.File != nil {
			where = append(where, r.File.Path)
		}
		if r.Field != nil {
			where = append(where, r.Field.Path)
		}
		lines = append(lines, strings.TrimPrefix(strings.Join(where, " ")+": "+r.Message, ": "))
	}
	return lines
}

const searchDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment # the web tier
  namespace: foo1-dev-bar1-us-east-1-baz1
spec:
  replicas: 3
  foo: 3
  environments: [dev, stage]
  template:
    spec:
      containers:
        - name: nginx
          image: nginx:1.20 # pinned
        - name: sidecar
          image: "envoy:1.2"
`

func TestSearchReplace(t *testing.T) {
	for _, tt := range []struct {
		name    string
		config  string
		want    string
		results []string
	}{
		{name: "by value", config: searchConfig("by-value", "3"), want: searchDeployment,
			results: []string{`resources.yaml spec.replicas: Matched field value "3"`, `resources.yaml spec.foo: Matched field value "3"`}},
		{name: "by value, put value", config: searchConfig("by-value", "3", "put-value", "four"),
			want:    strings.NewReplacer("replicas: 3", "replicas: four", "foo: 3", "foo: four").Replace(searchDeployment),
			results: []string{`resources.yaml spec.replicas: Mutated field value to "four"`, `resources.yaml spec.foo: Mutated field value to "four"`}},
		{name: "by path and value", config: searchConfig("by-path", "spec.replicas", "by-value", "3", "put-value", "4"),
			want:    strings.Replace(searchDeployment, "replicas: 3", "replicas: 4", 1),
			results: []string{`resources.yaml spec.replicas: Mutated field value to "4"`}},
		{name: "regex capture groups", config: searchConfig("by-value-regex", `(\w+)-dev-(\w+)-us-east-1-(\w+)`, "put-value", "${1}-prod-${2}-us-central-1-${3}"),
			want:    strings.Replace(searchDeployment, "foo1-dev-bar1-us-east-1-baz1", "foo1-prod-bar1-us-central-1-baz1", 1),
			results: []string{`resources.yaml metadata.namespace: Mutated field value to "foo1-prod-bar1-us-central-1-baz1"`}},
		{name: "any depth, comments and quoting kept", config: searchConfig("by-path", "**.image", "by-value-regex", `(\w+):(.*)`, "put-value", "mirror/${1}:${2}"),
			want: strings.NewReplacer("image: nginx:1.20", "image: mirror/nginx:1.20", `image: "envoy:1.2"`, `image: "mirror/envoy:1.2"`).Replace(searchDeployment),
			results: []string{
				`resources.yaml spec.template.spec.containers[0].image: Mutated field value to "mirror/nginx:1.20 # pinned"`,
				`resources.yaml spec.template.spec.containers[1].image: Mutated field value to "\"mirror/envoy:1.2\""`,
			}},
		{name: "list item", config: searchConfig("by-path", "spec.template.spec.containers[1].name", "put-value", "proxy"),
			want:    strings.Replace(searchDeployment, "name: sidecar", "name: proxy", 1),
			results: []string{`resources.yaml spec.template.spec.containers[1].name: Mutated field value to "proxy"`}},
		{name: "every list item", config: searchConfig("by-path", "spec.template.spec.containers[*].name"), want: searchDeployment,
			results: []string{
				`resources.yaml spec.template.spec.containers[0].name: Matched field value "nginx"`,
				`resources.yaml spec.template.spec.containers[1].name: Matched field value "sidecar"`,
			}},
		{name: "one element wildcard", config: searchConfig("by-path", "*.replicas"), want: searchDeployment,
			results: []string{`resources.yaml spec.replicas: Matched field value "3"`}},
		{name: "field created", config: searchConfig("by-path", "metadata.labels.tier", "put-value", "web"),
			want:    strings.Replace(searchDeployment, "baz1\n", "baz1\n  labels:\n    tier: web\n", 1),
			results: []string{`resources.yaml metadata.labels.tier: Mutated field value to "web"`}},
		{name: "field set, comment kept", config: searchConfig("by-path", "metadata.name", "put-value", "web"),
			want:    strings.Replace(searchDeployment, "name: nginx-deployment", "name: web", 1),
			results: []string{`resources.yaml metadata.name: Mutated field value to "web"`}},
		{name: "put comment", config: searchConfig("by-value-regex", `nginx:(.*)`, "put-comment", "kpt-set: nginx:${1}"),
			want:    strings.Replace(searchDeployment, "# pinned", "# kpt-set: nginx:1.20", 1),
			results: []string{`resources.yaml spec.template.spec.containers[0].image: Mutated field value to "nginx:1.20 # kpt-set: nginx:1.20"`}},
		{name: "put comment on a list", config: searchConfig("by-path", "**.environments", "put-comment", "kpt-set: ${env}"),
			want:    strings.Replace(searchDeployment, "environments: [dev, stage]", "environments: # kpt-set: ${env}\n    - dev\n    - stage", 1),
			results: []string{`resources.yaml **.environments # kpt-set: ${env}: Mutated field value to "[dev, stage]"`}},
		{name: "no match", config: searchConfig("by-value", "nothing"), want: searchDeployment, results: []string{"no matches"}},
		{name: "kpt's annotations not searched", config: searchConfig("by-value", "resources.yaml"), want: searchDeployment, results: []string{"no matches"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl, err := runCatalogFn(t, searchReplace, tt.config, searchDeployment)
			checkRun(t, rl, err, "", tt.want)
			got := resultLines(rl.Results)
			sort.Strings(got)
			sort.Strings(tt.results)
			if diff := cmp.Diff(got, tt.results); diff != "" {
				t.Errorf("results (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSearchReplaceErrors(t *testing.T) {
	for _, tt := range []struct{ name, config, wantErr string }{
		{"not a ConfigMap", "apiVersion: fn.kpt.dev/v1alpha1\nkind: SearchReplace\nmetadata: {name: x}\n",
			"search-replace: functionConfig must be a ConfigMap, not fn.kpt.dev/v1alpha1 SearchReplace"},
		{"no functionConfig", "", "search-replace: a functionConfig is required"},
		{"invalid matcher", searchConfig("by-name", "x"),
			`search-replace: invalid matcher "by-name", must be one of ["by-value" "by-value-regex" "by-path" "put-value" "put-comment"]`},
		{"no search", searchConfig("put-value", "x"), `search-replace: at least one of ["by-value", "by-value-regex", "by-path"] must be provided`},
		{"value and regex", searchConfig("by-value", "x", "by-value-regex", "x"), `search-replace: only one of ["by-value", "by-value-regex"] can be provided`},
		{"bad regex", searchConfig("by-value-regex", "(x"), "search-replace: by-value-regex: error parsing regexp: missing closing ): `(x`"},
		{"unresolved group", searchConfig("by-value-regex", "nginx:(.*)", "put-value", "${2}"), "search-replace: unable to resolve capture groups"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rl, err := runCatalogFn(t, searchReplace, tt.config, searchDeployment)
			checkRun(t, rl, err, tt.wantErr, "")
		})
	}
}

func TestMatchPath(t *testing.T) {
	for _, tt := range []struct {
		path, pattern string
		want          bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.*.c", true},
		{"a.b.c", "a.*", false},
		{"a.b.c", "**", true},
		{"a.b.c", "**.c", true},
		{"a.b.c", "a.**.c", true},
		{"a.c", "a.**.c", true},
		{"a.a.b.c.e.b", "a.*.b.**.b", true},
		{"a[1].b", "a[*].b", true},
		{"a[1].b", "*[1].b", true},
		{"a[1].b", "a[0].b", false},
		{"a[1].b", "a.b", false},
	} {
		if got := matchPath(strings.Split(tt.path, "."), strings.Split(tt.pattern, ".")); got != tt.want {
			t.Errorf("matchPath(%s, %s) = %v", tt.path, tt.pattern, got)
		}
	}
}
