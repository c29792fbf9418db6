package render

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// pkgPathAnnotation is the annotation kpt gives each resource while a
// render runs: the directory of the package the resource belongs to (for a
// resource a function created, the package whose pipeline ran it). The
// resource's path annotation is relative to that directory until the
// render writes the resource back.
const pkgPathAnnotation = "internal.config.kubernetes.io/package-path"

// pkgNode is a package of the tree a render hydrates.
type pkgNode struct {
	// dir is the package's directory in the file system, the value of
	// pkgPathAnnotation on its resources.
	dir string
	// rel is the package's directory relative to the root package,
	// slash-separated; "." for the root.
	rel      string
	pipeline *krm.Pipeline
	// local are the package's own resources, as read.
	local []*yaml.RNode
	// subs are its direct subpackages, sorted by path.
	subs []*pkgNode
}

// loadTree reads the package in dir and, recursively, its subpackages:
// their Kptfiles and resources.
func loadTree(fsys filesys.FileSystem, dir string) (*pkgNode, error) {
	return loadPackage(fsys, dir, dir)
}

func loadPackage(fsys filesys.FileSystem, root, dir string) (*pkgNode, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, err
	}
	p := &pkgNode{dir: dir, rel: filepath.ToSlash(rel)}
	kf, err := readKptfile(fsys, dir)
	if err != nil {
		return nil, p.wrap(err)
	}
	p.pipeline = kf.Pipeline
	if p.local, err = readPackage(fsys, dir); err != nil {
		return nil, p.wrap(err)
	}
	subdirs, err := directSubpackages(fsys, dir)
	if err != nil {
		return nil, p.wrap(err)
	}
	for _, sd := range subdirs {
		sub, err := loadPackage(fsys, root, sd)
		if err != nil {
			return nil, err
		}
		p.subs = append(p.subs, sub)
	}
	return p, nil
}

// wrap names the subpackage an error is about; the root's errors are
// returned as they are.
func (p *pkgNode) wrap(err error) error {
	if p.rel == "." {
		return err
	}
	return fmt.Errorf("subpackage %s: %w", p.rel, err)
}

// allLocal returns the resources of the package and its subpackages as
// read, in the order kpt hydrates them.
func (p *pkgNode) allLocal() []*yaml.RNode {
	var nodes []*yaml.RNode
	for _, s := range p.subs {
		nodes = append(nodes, s.allLocal()...)
	}
	return append(nodes, p.local...)
}

// readKptfile reads and checks the Kptfile of the package in dir.
func readKptfile(fsys filesys.FileSystem, dir string) (*krm.Kptfile, error) {
	kptfile := filepath.Join(dir, "Kptfile")
	if !fsys.Exists(kptfile) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotPackage)
	}
	data, err := fsys.ReadFile(kptfile)
	if err != nil {
		return nil, err
	}
	kf, errs := krm.ParseKptfile(data)
	if len(errs) > 0 {
		return nil, fmt.Errorf("parse Kptfile: line %d: %s", errs[0].Line, errs[0].Message)
	}
	if kf.APIVersion != krm.KptfileAPIVersion || kf.Kind != krm.KptfileKind {
		return nil, fmt.Errorf("the Kptfile's apiVersion %q kind %q: want %s %s", kf.APIVersion, kf.Kind, krm.KptfileAPIVersion, krm.KptfileKind)
	}
	return kf, nil
}

// directSubpackages returns the directories under dir holding a Kptfile
// that no other such directory under dir holds, sorted by slash path as
// kpt orders them; .git directories are skipped.
func directSubpackages(fsys filesys.FileSystem, dir string) ([]string, error) {
	var subs []string
	err := fsys.Walk(dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() || p == dir {
			return nil
		}
		if info.Name() == ".git" {
			return filepath.SkipDir
		}
		if fsys.Exists(filepath.Join(p, "Kptfile")) {
			subs = append(subs, p)
			return filepath.SkipDir
		}
		return nil
	})
	slices.SortFunc(subs, func(a, b string) int {
		return strings.Compare(filepath.ToSlash(a), filepath.ToSlash(b))
	})
	return subs, err
}

// hydration is the state of one render across the package tree.
type hydration struct {
	fsys     filesys.FileSystem
	root     *pkgNode
	opts     Options
	results  *ResultList
	packages int
}

// hydrate renders p's subpackages, then runs p's pipeline over its own
// resources and theirs, and returns the result.
func (h *hydration) hydrate(ctx context.Context, p *pkgNode) ([]*yaml.RNode, error) {
	var input []*yaml.RNode
	for _, s := range p.subs {
		out, err := h.hydrate(ctx, s)
		if err != nil {
			return nil, err
		}
		input = append(input, out...)
	}
	input = append(input, p.local...)
	h.packages++
	out, err := h.runPipeline(ctx, p, input)
	if err != nil {
		return nil, p.wrap(err)
	}
	return out, nil
}

// rootRelative makes each resource's path annotation relative to the root
// package in rootDir, as kpt does before writing: the path of the package
// a resource belongs to is put in front, and the package annotation goes.
func rootRelative(rootDir string, nodes []*yaml.RNode) ([]*yaml.RNode, error) {
	for _, n := range nodes {
		pkgDir := annotationValue(n, pkgPathAnnotation)
		rel := "."
		if pkgDir != "" {
			r, err := filepath.Rel(rootDir, pkgDir)
			if err != nil || !filepath.IsLocal(r) && r != "." {
				return nil, fmt.Errorf("resource %s/%s: package %q is outside the package rendered", n.GetKind(), n.GetName(), pkgDir)
			}
			rel = filepath.ToSlash(r)
		}
		clearAnnotation(n, pkgPathAnnotation)
		p, _ := fileAnnotations(n)
		if p == "" || rel == "." {
			continue
		}
		p = path.Join(rel, filepath.ToSlash(p))
		setAnnotation(n, kioutil.PathAnnotation, p)
		setAnnotation(n, legacyPathAnnotation, p)
	}
	return nodes, nil
}
