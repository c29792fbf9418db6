package krm

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	gitignore "github.com/monochromegane/go-gitignore"

	"github.com/pkgserver/pkgserver/internal/result"
)

// IgnoreFileName is kpt's ignore file: at the root of a package, its
// gitignore-style patterns name the files that are not read as resources.
const IgnoreFileName = ".krmignore"

// Bounds on an ignore file: every file of the package is matched against
// every pattern, and the matcher reads lines of at most 64 KiB.
const (
	maxIgnorePatterns    = 256
	maxIgnorePatternSize = 4096
)

// markIgnored marks the files of a package that its ignore files exclude
// from its resources, as kpt reads a package (with kyaml, whose matcher
// this is): the .krmignore at the root of a package, and at the root of
// each of its subpackages, applies to that package's own files, with paths
// relative to its root. A file in an ignored directory is ignored; a
// negated pattern (!) keeps what another would ignore, except in an ignored
// directory. A package's Kptfile is never ignored. Ignored files stay
// content of the package; what is said of them as resources (a symlink kept
// unvalidated) is dropped.
func markIgnored(pkg *Package) {
	roots := map[string]bool{}
	byPath := make(map[string]*File, len(pkg.Files))
	for _, f := range pkg.Files {
		byPath[f.Path] = f
		if IsKptfile(f) {
			roots[path.Dir(f.Path)] = true
		}
	}
	roots["."] = true
	matchers := map[string]gitignore.IgnoreMatcher{}
	for root := range roots {
		f := byPath[path.Join(root, IgnoreFileName)]
		if f == nil || f.Data == nil {
			continue
		}
		m, dropped := parseIgnore(f.Data)
		if dropped > 0 {
			pkg.Findings = append(pkg.Findings, result.Result{Severity: result.Error, Check: CheckLimits,
				Message: fmt.Sprintf("%d patterns over the limit of %d, or longer than %d bytes, are not applied",
					dropped, maxIgnorePatterns, maxIgnorePatternSize),
				File: &result.File{Path: f.Path}})
		}
		matchers[root] = m
	}
	if len(matchers) == 0 {
		return
	}
	im := ignoreMatch{roots: roots, matchers: matchers, dirs: map[string]bool{}}
	ignored := map[string]bool{}
	for _, f := range pkg.Files {
		if im.ignored(f.Path) {
			f.Ignored = true
			ignored[f.Path] = true
		}
	}
	kept := pkg.Findings[:0]
	for _, r := range pkg.Findings {
		if r.Severity == result.Info && r.File != nil && ignored[r.File.Path] {
			continue
		}
		kept = append(kept, r)
	}
	pkg.Findings = kept
}

// parseIgnore reads an ignore file's patterns. Lines the matcher would
// fail on (a lone "!" or "/") are left out, as are patterns past the
// bounds, which are counted.
func parseIgnore(data []byte) (gitignore.IgnoreMatcher, int) {
	var kept bytes.Buffer
	n, dropped := 0, 0
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.Trim(strings.TrimSuffix(line, "\r"), " ")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/") == "" {
			continue
		}
		if n >= maxIgnorePatterns || len(line) > maxIgnorePatternSize {
			dropped++
			continue
		}
		n++
		kept.WriteString(line)
		kept.WriteByte('\n')
	}
	return gitignore.NewGitIgnoreFromReader(".", &kept), dropped
}

// ignoreMatch tells which files of a package its ignore files exclude.
type ignoreMatch struct {
	// roots are the package's root (".") and its subpackages' directories.
	roots    map[string]bool
	matchers map[string]gitignore.IgnoreMatcher
	// dirs caches whether a directory is ignored, by path in the package.
	dirs map[string]bool
}

// ignored tells whether the file at p is excluded by the ignore file of
// the innermost package holding it.
func (im *ignoreMatch) ignored(p string) bool {
	root := path.Dir(p)
	for !im.roots[root] {
		root = path.Dir(root)
	}
	rel := p
	if root != "." {
		rel = strings.TrimPrefix(p, root+"/")
	}
	m := im.matchers[root]
	if m == nil || rel == KptfileName {
		return false
	}
	if im.dirIgnored(root, path.Dir(rel), m) {
		return true
	}
	return m.Match(rel, false)
}

// dirIgnored tells whether the directory rel (relative to the package
// root) or one above it is ignored.
func (im *ignoreMatch) dirIgnored(root, rel string, m gitignore.IgnoreMatcher) bool {
	if rel == "." {
		return false
	}
	key := path.Join(root, rel)
	if v, ok := im.dirs[key]; ok {
		return v
	}
	v := im.dirIgnored(root, path.Dir(rel), m) || m.Match(rel, true)
	im.dirs[key] = v
	return v
}
