package render

import (
	"bytes"
	"maps"
	"regexp"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/render/rendertest"
)

// kyamlPackage is a package laid out to exercise kyaml's reader and writer:
// documents with separators, comments and empty documents, a bare
// sequence, JSON, wide and compact sequences, annotations under legacy
// names, a resource without metadata, .krmignore and a subpackage.
var kyamlPackage = map[string]string{
	"Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\n",
	"multi.yaml": `# head of the file

apiVersion: v1
kind: ConfigMap
metadata:
  name: a # the first
  annotations: {}
data:
  k: "1"
---
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: b
  annotations:
    config.kubernetes.io/path: elsewhere.yaml
    keep: 'yes'
spec:
  template:
    spec:
      containers:
        - name: app
          args:
            - --x
--- # a comment after the separator
apiVersion: v1
kind: Service
metadata: {}
spec:
  ports:
  - port: 80
`,
	"list.yaml":      "- a\n- b\n",
	"cm.json":        `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"x": "y"}}`,
	"nometa.yaml":    "apiVersion: v1\nkind: Thing\nspec:\n  on: true\n",
	"crlf.yaml":      "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: crlf\r\n",
	"ignored.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ignored\n",
	".krmignore":     "ignored.yaml\n",
	"notes.txt":      "not a resource\n",
	"sub/Kptfile":    "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n",
	"sub/r.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\n",
	"deep/d/r.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n",
	"empty.yaml":     "",
	"comments.yaml":  "# nothing but a comment\n",
	"trailing.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t\ndata:\n  s: |\n    text\n---\n",
	"anchors.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anc\ndata:\n  a: &v one\n  b: *v\n",
	"nested/x.yml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yml\n",
	"nested/y.YAML":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: upper\n",
	"nested/.hidden": "apiVersion: v1\n",
}

// TestReadPackageAsKyaml: the package reader reads what kyaml's
// LocalPackageReader reads, with the same annotations in the same order.
func TestReadPackageAsKyaml(t *testing.T) {
	dir := writeFiles(t, kyamlPackage)
	got, err := readPackage(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := kio.LocalPackageReader{
		FileSystem:        filesys.FileSystemOrOnDisk{FileSystem: filesys.MakeFsOnDisk()},
		PackagePath:       dir,
		PackageFileName:   "Kptfile",
		MatchFilesGlob:    kio.MatchAll,
		PreserveSeqIndent: true,
		WrapBareSeqNode:   true,
		SetAnnotations:    map[string]string{pkgPathAnnotation: dir},
	}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d resources, kyaml %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i].MustString(), want[i].MustString()
		if g != w {
			t.Errorf("resource %d:\n%s\nkyaml:\n%s", i, g, w)
		}
	}
	// Written back, each file is what kyaml's writer writes.
	files, err := byFile(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		g, err := encodeFile(name, files[name])
		if err != nil {
			t.Fatal(err)
		}
		var w bytes.Buffer
		err = kio.ByteWriter{Writer: &w, ClearAnnotations: []string{kioutil.PathAnnotation, legacyPathAnnotation}}.Write(files[name])
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != w.String() {
			t.Errorf("%s written:\n%s\nkyaml:\n%s", name, g, w.String())
		}
	}
}

// TestAnnotationsAsKyaml: setting, clearing and defaulting annotations on
// the nodes does what kyaml's filters do.
func TestAnnotationsAsKyaml(t *testing.T) {
	docs := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n  annotations: {}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
		"apiVersion: v1\nkind: ConfigMap\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    k: \"v\"\n    config.kubernetes.io/path: p.yaml\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    internal.config.kubernetes.io/index: '2'\n    config.k8s.io/id: '7'\n",
	}
	type op struct {
		name  string
		ours  func(*yaml.RNode)
		kyaml func(*yaml.RNode) error
	}
	ops := []op{
		{"set new", func(n *yaml.RNode) { setAnnotation(n, "n", "1") }, func(n *yaml.RNode) error { return n.PipeE(yaml.SetAnnotation("n", "1")) }},
		{"set multi-line", func(n *yaml.RNode) { setAnnotation(n, "m", "a\nb") }, func(n *yaml.RNode) error { return n.PipeE(yaml.SetAnnotation("m", "a\nb")) }},
		{"set existing", func(n *yaml.RNode) { setAnnotation(n, "k", "w") }, func(n *yaml.RNode) error { return n.PipeE(yaml.SetAnnotation("k", "w")) }},
		{"clear", func(n *yaml.RNode) { clearAnnotation(n, "k") }, func(n *yaml.RNode) error { return n.PipeE(yaml.ClearAnnotation("k")) }},
		{"clear empty", clearEmptyAnnotations, yaml.ClearEmptyAnnotations},
		{"copy legacy", copyLegacyAnnotations, kioutil.CopyLegacyAnnotations},
		{"default path", func(n *yaml.RNode) { defaultPathAnnotation("d", []*yaml.RNode{n}) },
			func(n *yaml.RNode) error { return kioutil.DefaultPathAnnotation("d", []*yaml.RNode{n}) }},
		{"default path and index", func(n *yaml.RNode) { defaultPathAndIndexAnnotation("", []*yaml.RNode{n}) },
			func(n *yaml.RNode) error { return kioutil.DefaultPathAndIndexAnnotation("", []*yaml.RNode{n}) }},
	}
	for _, doc := range docs {
		for _, o := range ops {
			ours, theirs := yaml.MustParse(doc), yaml.MustParse(doc)
			o.ours(ours)
			if err := o.kyaml(theirs); err != nil {
				t.Fatal(err)
			}
			if g, w := ours.MustString(), theirs.MustString(); g != w {
				t.Errorf("%s on\n%s\ngot:\n%s\nkyaml:\n%s", o.name, doc, g, w)
			}
			p, i := fileAnnotations(ours)
			kp, ki, _ := kioutil.GetFileAnnotations(theirs)
			if p != kp || i != ki {
				t.Errorf("%s: file annotations %q %q, kyaml %q %q", o.name, p, i, kp, ki)
			}
		}
	}
}

// TestFileChanged: a file is changed when a resource's YAML differs in
// values, keys or comments, and not when it differs only in a form that
// writes the same.
func TestFileChanged(t *testing.T) {
	read := func(doc string) []*yaml.RNode {
		n, err := decodeResources([]byte(doc), "f.yaml", "/pkg")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	base := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: \"5\" # five\n  s: plain\n"
	old := read(base)
	for _, c := range []struct {
		name string
		edit func(n *yaml.RNode)
		want bool
	}{
		{"untouched", func(*yaml.RNode) {}, false},
		{"value", func(n *yaml.RNode) { fieldValue(fieldValue(n.YNode(), "data"), "s").Value = "other" }, true},
		{"comment", func(n *yaml.RNode) { fieldValue(fieldValue(n.YNode(), "data"), "n").LineComment = "" }, true},
		{"same form", func(n *yaml.RNode) { fieldValue(fieldValue(n.YNode(), "data"), "n").Style = 0 }, false},
		{"other form", func(n *yaml.RNode) { fieldValue(fieldValue(n.YNode(), "data"), "s").Style = yaml.SingleQuotedStyle }, true},
		{"unwrapped document", func(n *yaml.RNode) { n.SetYNode(n.YNode()) }, false},
	} {
		ns := read(base)
		c.edit(ns[0])
		if got := fileChanged("f.yaml", old, ns); got != c.want {
			t.Errorf("%s: changed %v, want %v", c.name, got, c.want)
		}
	}
}

// TestDocumentSeparators: the separator lines are those kyaml's regular
// expression finds.
func TestDocumentSeparators(t *testing.T) {
	re := regexp.MustCompile(`\n---.*\n`)
	for _, text := range []string{
		"", "---\n", "a\n---\nb", "a\n---", "a\n---\n---\nb\n", "a\n---\n\n---\n", "a\n--- # c\nb\n---x\n",
		"\n---\n---\n---\n", "a\n-- \n---- x\n", "a\n---\rb\n", "\n---", "x\n---é\ny\n---\n",
		kyamlPackage["multi.yaml"], kyamlPackage["trailing.yaml"], rendertest.App(3),
	} {
		var want [][2]int
		for _, loc := range re.FindAllStringIndex(text, -1) {
			want = append(want, [2]int{loc[0], loc[1]})
		}
		if got := documentSeparators(text); !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", text, got, want)
		}
	}
}
