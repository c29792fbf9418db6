package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// legacyPathAnnotation is the path annotation of kyaml before v0.12, which
// kpt still gives functions and clears on writing (kyaml deprecates the name,
// not the annotation).
const legacyPathAnnotation = "config.kubernetes.io/path"

// readPackage reads the resources of the package in dir as kpt does: every
// YAML and JSON file outside subpackages and .krmignore, each resource
// annotated with its file relative to the package
// (internal.config.kubernetes.io/path and the legacy
// config.kubernetes.io/path), its index in the file (…/index) and the
// package's directory (internal.config.kubernetes.io/package-path),
// sequence indentation kept.
func readPackage(fsys filesys.FileSystem, dir string) ([]*yaml.RNode, error) {
	r := kio.LocalPackageReader{
		FileSystem:        filesys.FileSystemOrOnDisk{FileSystem: fsys},
		PackagePath:       dir,
		PackageFileName:   "Kptfile",
		MatchFilesGlob:    kio.MatchAll,
		PreserveSeqIndent: true,
		WrapBareSeqNode:   true,
		SetAnnotations:    map[string]string{pkgPathAnnotation: dir},
	}
	nodes, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read package: %w", err)
	}
	return nodes, nil
}

// serialize renders resources into the files they belong to, as kpt's
// writer does: grouped by path annotation, ordered by index annotation,
// the reader's annotations dropped. Resources without a path get kyaml's
// default one.
func serialize(nodes []*yaml.RNode) (map[string][]byte, error) {
	nodes = copyNodes(nodes)
	if err := kioutil.DefaultPathAndIndexAnnotation("", nodes); err != nil {
		return nil, err
	}
	byFile := map[string][]*yaml.RNode{}
	for _, n := range nodes {
		p, _, err := kioutil.GetFileAnnotations(n)
		if err != nil {
			return nil, err
		}
		p = filepath.ToSlash(p)
		if path.IsAbs(p) || !filepath.IsLocal(filepath.FromSlash(p)) {
			return nil, fmt.Errorf("resource %s/%s: path %q is outside the package", n.GetKind(), n.GetName(), p)
		}
		byFile[p] = append(byFile[p], n)
	}
	files := make(map[string][]byte, len(byFile))
	for p, ns := range byFile {
		if err := kioutil.SortNodes(ns); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		w := kio.ByteWriter{
			Writer:           &buf,
			ClearAnnotations: []string{kioutil.PathAnnotation, legacyPathAnnotation},
		}
		if err := w.Write(ns); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		files[p] = buf.Bytes()
	}
	return files, nil
}

// writePlan is what writing a render back changes.
type writePlan struct {
	changed map[string][]byte
	deleted []string
}

// planWrite compares the files of the render's output with the files as
// read (baseline): a file is written only when its resources changed, so
// that a file the pipeline did not touch keeps its bytes, formatting and
// all; a file read whose every resource is gone is deleted.
func planWrite(baseline map[string][]byte, output []*yaml.RNode) (*writePlan, error) {
	files, err := serialize(output)
	if err != nil {
		return nil, err
	}
	wp := &writePlan{changed: map[string][]byte{}}
	for name, data := range files {
		if old, ok := baseline[name]; !ok || !bytes.Equal(old, data) {
			wp.changed[name] = data
		}
	}
	for name := range baseline {
		if _, ok := files[name]; !ok {
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
