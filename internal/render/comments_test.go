package render

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A rebuilt resource gets back its comments: fields by key, named list
// items by name wherever they moved, other items by position; a comment
// the output has is kept.
func TestCopyComments(t *testing.T) {
	from := yaml.MustParse(`# the app
kind: Deployment
spec:
  replicas: 2 # scaled by hand
  containers:
    - name: a # first
      image: a
    - name: b
      image: b # pinned
  args:
    - x # one
    - y
`)
	to := yaml.MustParse(`kind: Deployment
spec:
  replicas: 3 # set here
  containers:
    - name: b
      image: b
    - name: a
      image: a2
  args:
    - x
    - y
  extra: true
`)
	copyComments(from.YNode(), to.YNode())
	got, err := to.String()
	if err != nil {
		t.Fatal(err)
	}
	want := `# the app
kind: Deployment
spec:
  replicas: 3 # set here
  containers:
  - name: b
    image: b # pinned
  - name: a # first
    image: a2
  args:
  - x # one
  - y
  extra: true
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
