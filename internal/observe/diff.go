package observe

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// Change is a package directory that differs between two versions of the
// repository directory: added, removed or changed.
type Change struct {
	// Path is the directory's path below the repository directory ("" for
	// the repository directory itself).
	Path string
	// Old and New are the package's tree on each side, "" where the
	// directory is not a package (no Kptfile) or absent.
	Old, New string
	// Problem says why the directory cannot be a package at its path, ""
	// when it can.
	Problem string
}

// DiffOptions say how the root of the compared trees, the repository
// directory, is read.
type DiffOptions struct {
	// SkipDotDirs leaves out the directories of the root whose names start
	// with a dot (.pkgserver holds the repository's own settings).
	SkipDotDirs bool
	// RootNotPackage compares the directories below a root that holds a
	// Kptfile as if it did not, rather than report the root as a change
	// whose problem is that Kptfile.
	RootNotPackage bool
}

// DiffPackages compares two versions of the repository directory (trees;
// "" where it is absent) and returns the package directories that differ,
// sorted as a depth-first walk of git's trees meets them. It descends a
// level at a time, each level read in one batch, and only into directories
// whose tree ids differ: the work is proportional to the change. A
// directory holding a Kptfile on either side is a package there: it is a
// change, and the packages below its other side, where that is not a
// package, appear or disappear with it.
func (r *Reader) DiffPackages(oldTree, newTree string, opt DiffOptions) ([]Change, error) {
	type pair struct{ old, new, path string }
	changed := map[string]*Change{}
	add := func(c Change) {
		if _, ok := changed[c.Path]; !ok {
			c.Problem = r.pathProblem(c.Path)
			changed[c.Path] = &c
		}
	}
	level := []pair{{oldTree, newTree, ""}}
	for len(level) > 0 {
		var ids []string
		for _, p := range level {
			if p.old != p.new {
				ids = append(ids, p.old, p.new)
			}
		}
		if err := r.ReadTrees(ids); err != nil {
			return nil, err
		}
		var next []pair
		for _, p := range level {
			if p.old == p.new {
				continue
			}
			root := p.path == ""
			oldE, newE := r.Trees[p.old], r.Trees[p.new]
			oldPkg := HasKptfile(oldE) && !(root && opt.RootNotPackage)
			newPkg := HasKptfile(newE) && !(root && opt.RootNotPackage)
			if oldPkg || newPkg {
				c := Change{Path: p.path}
				if oldPkg {
					c.Old = p.old
				}
				if newPkg {
					c.New = p.new
				}
				add(c)
				// Packages below a directory that became (or stopped being)
				// a package appear or disappear with it.
				if !oldPkg && p.old != "" {
					below, err := r.packagesBelow(p.old, p.path)
					if err != nil {
						return nil, err
					}
					for _, b := range below {
						add(Change{Path: b.path, Old: b.tree})
					}
				}
				if !newPkg && p.new != "" {
					below, err := r.packagesBelow(p.new, p.path)
					if err != nil {
						return nil, err
					}
					for _, b := range below {
						add(Change{Path: b.path, New: b.tree})
					}
				}
				continue
			}
			skip := func(name string) bool { return root && opt.SkipDotDirs && strings.HasPrefix(name, ".") }
			o, n := subtrees(oldE, skip), subtrees(newE, skip)
			for name, id := range o {
				if id != n[name] {
					next = append(next, pair{id, n[name], path.Join(p.path, name)})
				}
			}
			for name, id := range n {
				if _, both := o[name]; !both {
					next = append(next, pair{"", id, path.Join(p.path, name)})
				}
			}
		}
		level = next
	}
	out := make([]Change, 0, len(changed))
	for _, c := range changed {
		out = append(out, *c)
	}
	// Depth-first in git's order: a directory sorts as its name and a slash.
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path+"/", b.Path+"/") })
	return out, nil
}

// subtrees returns the directories of a tree by name, but those skipped.
func subtrees(entries []gitrepo.TreeEntry, skip func(string) bool) map[string]string {
	m := map[string]string{}
	for _, e := range entries {
		if e.IsTree() && !skip(e.Name) {
			m[e.Name] = e.ID
		}
	}
	return m
}

// pathProblem says why a directory cannot be a package at its path.
func (r *Reader) pathProblem(p string) string {
	if p == "" {
		return fmt.Sprintf("a Kptfile at the repository directory %q: packages are directories below it", "/"+r.cfg.Directory)
	}
	if err := revision.ValidatePackagePath(p); err != nil {
		return err.Error()
	}
	return ""
}

// found is a package directory found below another.
type found struct{ path, tree string }

// packagesBelow returns the outermost directories holding a Kptfile below
// a tree that does not (its path is prefix), breadth first, each level read
// in one batch.
func (r *Reader) packagesBelow(tree, prefix string) ([]found, error) {
	var out []found
	level := []found{{prefix, tree}}
	for len(level) > 0 {
		ids := make([]string, len(level))
		for i, n := range level {
			ids[i] = n.tree
		}
		if err := r.ReadTrees(ids); err != nil {
			return nil, err
		}
		var next []found
		for _, n := range level {
			entries := r.Trees[n.tree]
			if HasKptfile(entries) && n.path != prefix {
				out = append(out, n)
				continue
			}
			for _, e := range entries {
				if e.IsTree() {
					next = append(next, found{path.Join(n.path, e.Name), e.ID})
				}
			}
		}
		level = next
	}
	return out, nil
}

// Packages returns the packages of a version of the repository directory
// (a tree; "" where it is absent): the outermost directories holding a
// Kptfile, by path, with their trees; and, as problems, those whose path
// cannot be a package's (a Kptfile at the repository directory itself
// included), with why.
func (r *Reader) Packages(tree string) (pkgs, problems map[string]string, err error) {
	pkgs, problems = map[string]string{}, map[string]string{}
	if tree == "" {
		return pkgs, problems, nil
	}
	if err := r.ReadTrees([]string{tree}); err != nil {
		return nil, nil, err
	}
	var below []found
	if HasKptfile(r.Trees[tree]) {
		below = []found{{"", tree}}
	} else if below, err = r.packagesBelow(tree, ""); err != nil {
		return nil, nil, err
	}
	for _, f := range below {
		if msg := r.pathProblem(f.path); msg != "" {
			problems[f.path] = msg
		} else {
			pkgs[f.path] = f.tree
		}
	}
	return pkgs, problems, nil
}
