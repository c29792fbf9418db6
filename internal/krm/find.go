package krm

import (
	"io/fs"
	"path"
)

// FindPackages returns the roots of the outermost packages at or below dir in
// fsys, sorted. A package's own subdirectories are not searched: a Kptfile
// below a package root is a subpackage's, content of that package.
func FindPackages(fsys fs.FS, dir string) ([]string, error) {
	var roots []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == ".git" && p != dir {
			return fs.SkipDir
		}
		if info, err := fs.Stat(fsys, path.Join(p, KptfileName)); err == nil && !info.IsDir() {
			roots = append(roots, p)
			return fs.SkipDir
		}
		return nil
	})
	return roots, err
}
