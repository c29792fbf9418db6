package render

import (
	"testing"

	"sigs.k8s.io/kustomize/api/filters/annotations"
	"sigs.k8s.io/kustomize/api/filters/labels"
	"sigs.k8s.io/kustomize/api/filters/namespace"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// metadataResources are resources with labels and annotations to add to,
// to replace (of every style), and none at all.
const metadataResources = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    tier: "db"
    app: 'app'
  annotations:
    note: |
      a block
spec:
  selector:
    matchLabels:
      tier: db # the tier
  template:
    metadata:
      labels:
        tier: db
---
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector:
    on: "yes"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels:
spec:
  selector: &meta
    matchLabels:
      app: db
  template:
    metadata: *meta
  volumeClaimTemplates:
    - metadata:
        name: data
    - metadata:
        name: logs
        labels: {kept: "1"}
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: rc
  annotations: ~
spec:
  selector: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: affine
spec:
  template:
    spec:
      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector:
                matchLabels:
                  app: x
            - topologyKey: zone
        podAntiAffinity: {}
      topologySpreadConstraints: ~
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: old
spec:
  template:
    spec:
      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            labelSelector:
              matchLabels: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: mapped
spec:
  selector:
    matchLabels: ~
  template:
    spec:
      affinity:
        podAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            labelSelector:
              matchLabels: {}
---
apiVersion: v2
kind: Service
metadata:
  name: v2
spec:
  selector: {}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: kn
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
spec:
  podSelector: {}
  ingress:
    - from:
        - podSelector:
            matchLabels: {a: b}
        - namespaceSelector: {}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cj
spec:
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            a: b
`

// TestSetMapEntriesAsKustomize checks that set-labels and set-annotations
// leave the YAML kustomize's labels and annotations filters leave, node
// for node (tags and styles too), whatever YAML 1.1 makes of the values.
func TestSetMapEntriesAsKustomize(t *testing.T) {
	entries := []map[string]string{
		{"tier": "web", "app": "bench"},
		{"on": "yes", "tier": "true", "n": "10", "x": "0x1F", "f": "1.5", "e": "", "null": "~", "d": "2001-12-14", "colon": "a: b"},
		{"note": "a\nb", "app": "Off", "tier": "NO"},
	}
	for _, data := range entries {
		for _, what := range []string{"labels", "annotations"} {
			want, err := metadataItems()
			if err != nil {
				t.Fatal(err)
			}
			got, err := metadataItems()
			if err != nil {
				t.Fatal(err)
			}
			if what == "labels" {
				fs, _ := parseFieldSpecs(labelFieldSpecs)
				_, err = labels.Filter{Labels: data, FsSlice: fs}.Filter(want)
				if err == nil {
					err = setMapEntries(got, data, fs)
				}
			} else {
				fs, _ := parseFieldSpecs(annotationFieldSpecs)
				_, err = annotations.Filter{Annotations: data, FsSlice: fs}.Filter(want)
				if err == nil {
					err = setMapEntries(got, data, fs)
				}
			}
			if err != nil {
				t.Fatalf("%s %v: %v", what, data, err)
			}
			for i := range want {
				if !sameNodes(got[i].YNode(), want[i].YNode()) || !sameSharing(got[i].YNode(), want[i].YNode()) {
					t.Errorf("%s %v: got\n%s\nwant\n%s", what, data, got[i].MustString(), want[i].MustString())
				}
			}
		}
	}
}

// TestSetMapEntriesErrorsAsKustomize: a field a spec reaches that cannot
// hold entries fails as it does in kustomize.
func TestSetMapEntriesErrorsAsKustomize(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: text\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template: [1]\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      affinity: x\n",
		metadataResources + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  labels: [x]\n---\n" +
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  selector: 1\n",
	} {
		want, _ := decodeResources([]byte(doc), "r.yaml", ".")
		got, _ := decodeResources([]byte(doc), "r.yaml", ".")
		fs, _ := parseFieldSpecs(labelFieldSpecs)
		data := map[string]string{"a": "b", "c": "d"}
		_, wantErr := labels.Filter{Labels: data, FsSlice: fs}.Filter(want)
		gotErr := setMapEntries(got, data, fs)
		if wantErr == nil || gotErr == nil || gotErr.Error() != wantErr.Error() {
			t.Errorf("%q: got error %v, want %v", doc, gotErr, wantErr)
		}
	}
}

// TestSetNamespaceAsKustomize: set-namespace leaves what kustomize's
// namespace filter over all the resources leaves, and fails as it does.
func TestSetNamespaceAsKustomize(t *testing.T) {
	for _, doc := range []string{
		metadataResources + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\n" +
			"subjects:\n  - kind: ServiceAccount\n    name: default\n  - kind: User\n    name: u\n---\n" +
			"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: old\n",
		metadataResources + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: {a: b}\n---\n" +
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: c\n  namespace: [x]\n",
		namespaceResources,
		namespaceResources + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    x: &n old\n  namespace: *n\n",
		namespaceResources + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: x\n",
	} {
		for _, ns := range []string{"yes", "bench", "0x10"} {
			testSetNamespaceAsKustomize(t, doc, ns)
		}
	}
}

// namespaceResources have namespaces of every form, or none, or no
// metadata, and are of namespaced and cluster-scoped kinds, kinds the
// namespace field specs apply to and bindings.
const namespaceResources = `apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
  namespace: old
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: quoted
  namespace: "old" # a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: single
  namespace: &a 'old'
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: empty
  namespace:
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: tilde
  namespace: ~
  labels: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: flow}
---
apiVersion: v1
kind: ConfigMap
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: ~
---
apiVersion: v1
kind: ConfigMap
metadata: !!null {name: tagged}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster
  namespace: old
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: crb
subjects:
  - kind: ServiceAccount
    name: default
    namespace: old
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: api
spec:
  service:
    name: s
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crd
spec:
  conversion:
    webhook:
      clientConfig:
        service:
          namespace: old
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
`

func testSetNamespaceAsKustomize(t *testing.T, doc, ns string) {
	t.Helper()
	want, err := decodeResources([]byte(doc), "r.yaml", ".")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := decodeResources([]byte(doc), "r.yaml", ".")
	fs, _ := parseFieldSpecs(namespaceFieldSpecs)
	_, wantErr := namespace.Filter{Namespace: ns, FsSlice: fs, SetRoleBindingSubjects: namespace.DefaultSubjectsOnly}.Filter(want)
	config, err := newConfigMap(map[string]string{"namespace": ns})
	if err != nil {
		t.Fatal(err)
	}
	gotErr := setNamespace(&framework.ResourceList{Items: got, FunctionConfig: config})
	switch {
	case wantErr != nil:
		if gotErr == nil || gotErr.Error() != "set-namespace: "+wantErr.Error() {
			t.Errorf("got error %v, want %v", gotErr, wantErr)
		}
	case gotErr != nil:
		t.Errorf("got error %v", gotErr)
	default:
		for i := range want {
			if !sameNodes(got[i].YNode(), want[i].YNode()) || !sameSharing(got[i].YNode(), want[i].YNode()) ||
				!samePositions(got[i].YNode(), want[i].YNode()) {
				t.Errorf("namespace %s: got\n%s\nwant\n%s", ns, got[i].MustString(), want[i].MustString())
			}
		}
	}
}

// samePositions tells whether two trees of the same shape have their
// nodes at the same lines and columns.
func samePositions(a, b *yaml.Node) bool {
	if a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !samePositions(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

func metadataItems() ([]*yaml.RNode, error) {
	return decodeResources([]byte(metadataResources), "r.yaml", ".")
}

// sameNodes tells whether two trees are the same in every field but
// their positions.
func sameNodes(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value || a.Anchor != b.Anchor ||
		a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment ||
		len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !sameNodes(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// sameSharing tells whether two trees of the same shape share nodes at
// the same places: a later edit of one node shows in the same fields.
func sameSharing(a, b *yaml.Node) bool {
	var as, bs []*yaml.Node
	var walk func(n *yaml.Node, into *[]*yaml.Node)
	walk = func(n *yaml.Node, into *[]*yaml.Node) {
		*into = append(*into, n)
		for _, c := range n.Content {
			walk(c, into)
		}
	}
	walk(a, &as)
	walk(b, &bs)
	if len(as) != len(bs) {
		return false
	}
	first := map[*yaml.Node]int{}
	firstB := map[*yaml.Node]int{}
	for i := range as {
		ia, ok := first[as[i]]
		if !ok {
			first[as[i]], ia = i, i
		}
		ib, ok := firstB[bs[i]]
		if !ok {
			firstB[bs[i]], ib = i, i
		}
		if ia != ib {
			return false
		}
	}
	return true
}
