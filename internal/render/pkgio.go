package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The path and index annotations of kyaml before v0.12, which kpt still
// gives functions and clears on writing (kyaml deprecates the names, not
// the annotations); legacyIDAnnotation is the id's.
const (
	legacyPathAnnotation  = "config.kubernetes.io/path"
	legacyIndexAnnotation = "config.kubernetes.io/index"
)

// readPackage reads the resources of the package in dir as kpt does
// (kyaml's LocalPackageReader with sequence indentation kept and bare
// sequences wrapped): every YAML and JSON file outside subpackages and
// .krmignore, each resource annotated with its file relative to the
// package (internal.config.kubernetes.io/path and the legacy
// config.kubernetes.io/path), its index in the file (…/index), its
// sequence indentation (…/seqindent) and the package's directory
// (internal.config.kubernetes.io/package-path). kyaml walks the package;
// the files are decoded here, the annotations set on the nodes directly.
func readPackage(fsys filesys.FileSystem, dir string) ([]*yaml.RNode, error) {
	names, err := packageFiles(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read package: %w", err)
	}
	data := make([][]byte, len(names))
	for i, rel := range names {
		if data[i], err = fsys.ReadFile(filepath.Join(dir, rel)); err != nil {
			return nil, fmt.Errorf("read package: %s: %w", filepath.Join(dir, rel), err)
		}
	}
	// Files are decoded in parallel, their resources kept in file order.
	read := make([][]*yaml.RNode, len(names))
	err = eachParallel(len(names), func(i int) error {
		var err error
		if read[i], err = decodeResources(data[i], names[i], dir); err != nil {
			return fmt.Errorf("read package: %s: %w", filepath.Join(dir, names[i]), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(read...), nil
}

// packageFiles lists the files of the package in dir that kyaml's
// LocalPackageReader reads, relative to dir, in its order: its walk skips
// subpackages and what .krmignore names, and reports each file it would
// read to FileSkipFunc, which skips them all here.
func packageFiles(fsys filesys.FileSystem, dir string) ([]string, error) {
	var names []string
	r := kio.LocalPackageReader{
		FileSystem:      filesys.FileSystemOrOnDisk{FileSystem: fsys},
		PackagePath:     dir,
		PackageFileName: "Kptfile",
		FileSkipFunc: func(rel string) bool {
			for _, g := range kio.MatchAll {
				if ok, _ := filepath.Match(g, filepath.Base(rel)); ok {
					names = append(names, rel)
					break
				}
			}
			return true
		},
	}
	if _, err := r.Read(); err != nil {
		return nil, err
	}
	return names, nil
}

// documentSeparators returns where the lines of text that start with ---
// are, each from the newline before it to its own, as kyaml finds them
// (the regular expression \n---.*\n, leftmost first, without overlaps).
func documentSeparators(text string) [][2]int {
	var locs [][2]int
	for from := 0; ; {
		i := strings.Index(text[from:], "\n---")
		if i < 0 {
			return locs
		}
		start := from + i
		end := strings.IndexByte(text[start+4:], '\n')
		if end < 0 {
			return locs
		}
		from = start + 4 + end + 1
		locs = append(locs, [2]int{start, from})
	}
}

// decodeResources decodes the resources of a file, as kyaml's ByteReader
// does: documents split at separator lines, empty ones skipped, a bare
// sequence wrapped, each annotated with its file rel, its index among the
// file's resources, its sequence indentation and its package dir.
func decodeResources(data []byte, rel, dir string) ([]*yaml.RNode, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	var docs []string
	prev := 0
	for _, loc := range documentSeparators(text) {
		after := strings.TrimSpace(text[loc[0]+4 : loc[1]])
		if after != "" && after[0] != '#' {
			return nil, fmt.Errorf("invalid document separator: %s", strings.TrimSpace(text[loc[0]:loc[1]]))
		}
		docs = append(docs, text[prev:loc[0]])
		prev = loc[1]
	}
	if text != "" {
		docs = append(docs, text[prev:])
	}
	var nodes []*yaml.RNode
	for i, doc := range docs {
		if i != len(docs)-1 {
			doc += "\n"
		}
		n, err := decodeDocument(doc)
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue
		}
		annotateRead(n, rel, dir, strconv.Itoa(len(nodes)), yaml.DeriveSeqIndentStyle(doc))
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// decodeDocument decodes one document; nil for an empty one.
func decodeDocument(doc string) (*yaml.RNode, error) {
	node := &yaml.Node{}
	if err := yaml.NewDecoder(strings.NewReader(doc)).Decode(node); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("MalformedYAMLError: %w", err)
	}
	if yaml.IsYNodeEmptyDoc(node) {
		return nil, nil
	}
	n := yaml.NewRNode(node)
	if len(node.Content) > 0 && node.Content[0] != nil && node.Content[0].Kind == yaml.SequenceNode {
		wrapped := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
		if err := wrapped.PipeE(yaml.SetField(yaml.BareSeqNodeWrappingKey, n)); err != nil {
			return nil, err
		}
		n = wrapped
	}
	if yaml.IsMissingOrNull(n) {
		return nil, nil
	}
	return n, nil
}

// annotateRead sets the reader's annotations on a resource read, in the
// order of their names, as kyaml does.
func annotateRead(n *yaml.RNode, rel, dir, index, seqIndent string) {
	copyLegacyAnnotations(n)
	set := [][2]string{
		{legacyIndexAnnotation, index},
		{legacyPathAnnotation, rel},
		{kioutil.IndexAnnotation, index},
		{pkgPathAnnotation, dir},
		{kioutil.PathAnnotation, rel},
		{kioutil.SeqIndentAnnotation, seqIndent},
	}
	slices.SortFunc(set, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	set = slices.DeleteFunc(set, func(kv [2]string) bool { return kv[0] == kioutil.SeqIndentAnnotation && kv[1] == "" })
	setAnnotationList(n, set)
}

// writerAnnotations are the annotations writing a resource removes: the
// reader's and the file's.
var writerAnnotations = []string{
	kioutil.IndexAnnotation, legacyIndexAnnotation, kioutil.SeqIndentAnnotation,
	kioutil.PathAnnotation, legacyPathAnnotation,
}

// byFile groups resources by the file they belong to, each file's in the
// order of their index annotation, as kpt's writer does. Resources without
// a file or index get kyaml's default ones (on copies: nodes are not
// changed).
func byFile(nodes []*yaml.RNode) (map[string][]*yaml.RNode, error) {
	nodes = slices.Clone(nodes)
	for i, n := range nodes {
		a := annotationsNode(n)
		if fieldIndex(a, kioutil.PathAnnotation) < 0 || fieldIndex(a, kioutil.IndexAnnotation) < 0 ||
			fieldIndex(a, legacyPathAnnotation) < 0 || fieldIndex(a, legacyIndexAnnotation) < 0 {
			nodes[i] = n.Copy()
		}
	}
	defaultPathAndIndexAnnotation("", nodes)
	files := map[string][]*yaml.RNode{}
	for _, n := range nodes {
		p, _ := fileAnnotations(n)
		p = filepath.ToSlash(p)
		if path.IsAbs(p) || !filepath.IsLocal(filepath.FromSlash(p)) {
			return nil, fmt.Errorf("resource %s/%s: path %q is outside the package", n.GetKind(), n.GetName(), p)
		}
		files[p] = append(files[p], n)
	}
	for p, ns := range files {
		if err := sortByIndex(ns); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return files, nil
}

// sortByIndex orders one file's resources by their index annotation,
// those without one first, stably (kioutil.SortNodes within a file).
func sortByIndex(ns []*yaml.RNode) error {
	keys := make(map[*yaml.RNode]int, len(ns))
	for _, n := range ns {
		_, index := fileAnnotations(n)
		if index == "" {
			keys[n] = -1
			continue
		}
		i, err := strconv.Atoi(index)
		if err != nil {
			return fmt.Errorf("unable to parse config.kubernetes.io/index %s :%v", index, err)
		}
		keys[n] = i
	}
	slices.SortStableFunc(ns, func(a, b *yaml.RNode) int { return keys[a] - keys[b] })
	return nil
}

// encodeFile writes one file's resources as kpt's writer does, without
// the annotations of reading and of files: YAML documents indented by two,
// sequences as the resource was read (compact unless it was wide); a file
// of one resource named *.json as JSON, as kyaml writes it.
func encodeFile(name string, ns []*yaml.RNode) ([]byte, error) {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	if err := encodeFileTo(buf, name, ns); err != nil || buf.Len() == 0 {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// encodeBuffers hold what files are encoded into before their bytes are
// copied out, grown once rather than for every file.
var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func encodeFileTo(buf *bytes.Buffer, name string, ns []*yaml.RNode) error {
	if len(ns) == 1 && path.Ext(name) == ".json" || slices.ContainsFunc(ns, isWrappedSequence) {
		w := kio.ByteWriter{Writer: buf, ClearAnnotations: []string{kioutil.PathAnnotation, legacyPathAnnotation}}
		return w.Write(ns)
	}
	enc := yaml.NewEncoder(buf)
	for _, n := range ns {
		if annotationValue(n, kioutil.SeqIndentAnnotation) == string(yaml.WideSequenceStyle) {
			enc.DefaultSeqIndent()
		} else {
			enc.CompactSeqIndent()
		}
		if err := enc.Encode(withoutAnnotations(n, writerAnnotations)); err != nil {
			return err
		}
	}
	return enc.Close()
}

func isWrappedSequence(n *yaml.RNode) bool {
	return fieldIndex(resourceMapping(n), yaml.BareSeqNodeWrappingKey) >= 0
}

// withoutAnnotations returns the document of a resource without the
// annotations keys, then without an empty annotations or metadata mapping
// (kyaml's ClearEmptyAnnotations), sharing the nodes it does not change.
func withoutAnnotations(rn *yaml.RNode, keys []string) *yaml.Node {
	doc := rn.Document()
	m := resourceMapping(rn)
	mi := fieldIndex(m, yaml.MetadataField)
	if mi < 0 || m.Content[mi].Kind != yaml.MappingNode {
		return doc
	}
	meta := shallowCopy(m.Content[mi])
	if ai := fieldIndex(meta, yaml.AnnotationsField); ai >= 0 && meta.Content[ai].Kind == yaml.MappingNode {
		a := shallowCopy(meta.Content[ai])
		a.Content = slices.Clone(a.Content)
		for _, k := range keys {
			if i := fieldIndex(a, k); i >= 0 {
				a.Content = append(a.Content[:i-1], a.Content[i+1:]...)
			}
		}
		meta.Content = slices.Clone(meta.Content)
		meta.Content[ai] = a
	}
	removeEmptyField(meta, yaml.AnnotationsField)
	top := shallowCopy(m)
	top.Content = slices.Clone(m.Content)
	top.Content[mi] = meta
	removeEmptyField(top, yaml.MetadataField)
	if doc.Kind != yaml.DocumentNode {
		return &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{top}}
	}
	d := shallowCopy(doc)
	d.Content = []*yaml.Node{top}
	return d
}

func shallowCopy(n *yaml.Node) *yaml.Node {
	c := *n
	return &c
}

// writePlan is what writing a render back changes.
type writePlan struct {
	changed map[string][]byte
	deleted []string
}

// planWrite compares the files of the render's output with the
// resources as read (baseline): a file is written only when its resources
// changed (their YAML, not only where they were read from), so that a
// file the pipeline did not touch keeps its bytes, formatting and all; a
// file read whose every resource is gone is deleted.
func planWrite(baseline, output []*yaml.RNode) (*writePlan, error) {
	before, err := byFile(baseline)
	if err != nil {
		return nil, err
	}
	after, err := byFile(output)
	if err != nil {
		return nil, err
	}
	// Files are compared and written in parallel.
	names := slices.Sorted(maps.Keys(after))
	written := make([][]byte, len(names))
	err = eachParallel(len(names), func(i int) error {
		name, ns := names[i], after[names[i]]
		if old, ok := before[name]; ok && !fileChanged(name, old, ns) {
			return nil
		}
		data, err := encodeFile(name, ns)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		written[i] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	wp := &writePlan{changed: map[string][]byte{}}
	for i, name := range names {
		if written[i] != nil {
			wp.changed[name] = written[i]
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			wp.deleted = append(wp.deleted, name)
		}
	}
	slices.Sort(wp.deleted)
	return wp, nil
}

func (wp *writePlan) changedPaths() []string {
	var names []string
	for name := range wp.changed {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// apply writes the plan into the package in dir.
func (wp *writePlan) apply(fsys filesys.FileSystem, dir string) error {
	for _, name := range wp.changedPaths() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := fsys.MkdirAll(filepath.Dir(p)); err != nil {
			return err
		}
		if err := fsys.WriteFile(p, wp.changed[name]); err != nil {
			return err
		}
	}
	for _, name := range wp.deleted {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := fsys.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// diskFS is the disk, where each file is replaced atomically and keeps its
// mode.
type diskFS struct{ filesys.FileSystem }

func (diskFS) WriteFile(name string, data []byte) error { return writeFileAtomic(name, data) }

// writeFileAtomic replaces the file at name with data through a temporary
// file and a rename, keeping the file's mode.
func writeFileAtomic(name string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(name); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+strings.TrimPrefix(filepath.Base(name), ".")+".render-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, mode)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// fileChanged tells whether the resources of file name, as read (old) and
// as rendered (ns), are written differently. Resources whose YAML differs
// in kinds, values, keys, anchors or comments are; those that differ only
// in styles or tags are written to compare, as a function that rebuilds
// resources (starlark) may build the same YAML in another form.
func fileChanged(name string, old, ns []*yaml.RNode) bool {
	if len(old) != len(ns) {
		return true
	}
	for i := range ns {
		switch compareResources(old[i], ns[i]) {
		case sameYAML:
			continue
		case otherYAML:
			return true
		}
		was, err := encodeFile(name, old[i:i+1])
		if err != nil {
			return true
		}
		now, err := encodeFile(name, ns[i:i+1])
		if err != nil || !bytes.Equal(was, now) {
			return true
		}
	}
	return false
}

// How two YAML trees compare.
const (
	sameYAML  = iota
	otherForm // only styles or tags differ
	otherYAML
)

// compareResources compares two resources' YAML and the comments of their
// documents, whether or not they are held in a document node.
func compareResources(a, b *yaml.RNode) int {
	if docComments(a) != docComments(b) {
		return otherYAML
	}
	return compareNodes(a.YNode(), b.YNode())
}

func docComments(rn *yaml.RNode) [3]string {
	if d := rn.Document(); d != nil && d.Kind == yaml.DocumentNode {
		return [3]string{d.HeadComment, d.LineComment, d.FootComment}
	}
	return [3]string{}
}

// compareNodes compares two YAML trees, wherever they were read.
func compareNodes(a, b *yaml.Node) int {
	if a == b {
		return sameYAML
	}
	if a == nil || b == nil || a.Kind != b.Kind || a.Value != b.Value || a.Anchor != b.Anchor ||
		a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment ||
		len(a.Content) != len(b.Content) {
		return otherYAML
	}
	result := sameYAML
	if a.Style != b.Style || a.Tag != b.Tag && (a.Kind != yaml.ScalarNode || a.ShortTag() != b.ShortTag()) {
		result = otherForm
	}
	if a.Kind == yaml.AliasNode {
		result = max(result, compareNodes(a.Alias, b.Alias))
	}
	for i := range a.Content {
		if result = max(result, compareNodes(a.Content[i], b.Content[i])); result == otherYAML {
			return otherYAML
		}
	}
	return result
}
