package krm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/result"
)

// KptfileName is the name of the file that makes a directory a package.
const KptfileName = "Kptfile"

// Checks reported by the loader.
const (
	CheckYAML    = "yaml"
	CheckLimits  = "limits"
	CheckPath    = "path"
	CheckKptfile = "kptfile"
)

// File is one file of a package.
type File struct {
	// Path is slash-separated and relative to the package root.
	Path string
	// Data is the file's content; nil for a symlink or a file not read
	// because it exceeded a limit.
	Data []byte
	// Symlink is set for a symbolic link; Target is where it points.
	Symlink bool
	Target  string
	// Ignored is set for a file the package's .krmignore excludes: content
	// of the package, not read as resources (see EachResource).
	Ignored bool
}

// Resource is one YAML document of a package that parsed into a mapping.
type Resource struct {
	// File is the path of the file holding the resource, relative to the
	// package root; Index is the document's position in that file.
	File  string
	Index int
	// Node is the document's mapping node, for line numbers.
	Node *yaml.Node
	// Object is the document as JSON-compatible values.
	Object map[string]any

	APIVersion, Kind, Name, Namespace string
}

// Line returns the line of the resource's first key.
func (r *Resource) Line() int { return r.Node.Line }

// LineOf returns the line of a field of the resource (see LineOf).
func (r *Resource) LineOf(fieldPath string) int { return LineOf(r.Node, fieldPath) }

// Ref identifies the resource in findings.
func (r *Resource) Ref() *result.ResourceRef {
	return &result.ResourceRef{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: r.Namespace}
}

// Package is a package read from a file system.
type Package struct {
	// Files are all files of the package, sorted by path, those of its
	// subpackages (directories below the root holding a Kptfile of their
	// own) included: kpt fetches a package with its subpackages.
	Files []*File
	// Resources are the YAML documents that parsed, in file and document
	// order. The root Kptfile is among them.
	Resources []*Resource
	// Kptfile is the root Kptfile's file, nil when the package has none.
	Kptfile *File
	// Findings are the problems met while reading.
	Findings []result.Result
}

// IsKptfile tells whether a file of a package is a Kptfile: the package's
// own at its root, or a subpackage's below it.
func IsKptfile(f *File) bool { return path.Base(f.Path) == KptfileName && !f.Symlink }

// Resource returns the first resource read from a file, or nil.
func (p *Package) Resource(file string) *Resource {
	for _, r := range p.Resources {
		if r.File == file {
			return r
		}
	}
	return nil
}

// IsYAMLFile tells whether a file of a package is read as KRM resources:
// *.yaml, *.yml and the Kptfile. Other files are content.
func IsYAMLFile(name string) bool {
	base := path.Base(name)
	return base == KptfileName || strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}

// Load reads the package rooted at the top of fsys and parses all of its
// YAML. It never fails: every problem is a finding in the returned package.
// It holds every resource's nodes and object at once; Read and EachResource
// read a package one document at a time.
func Load(fsys fs.FS, limits Limits) *Package {
	pkg := readFiles(fsys, limits)
	for _, f := range pkg.Files {
		if f.Data != nil && IsYAMLFile(f.Path) {
			pkg.Findings = append(pkg.Findings, EachResource(f, limits, func(r *Resource) {
				pkg.Resources = append(pkg.Resources, r)
			})...)
		}
	}
	checkKptfile(pkg)
	return pkg
}

type loader struct {
	fsys   fs.FS
	limits Limits
	pkg    *Package
	bytes  int64
	full   bool // a package limit was reached: stop reading
	// linkSteps is what is left of MaxPackageLinkSteps for the package's
	// links.
	linkSteps int
}

func (l *loader) finding(sev result.Severity, check, file string, line int, msg string) {
	r := result.Result{Severity: sev, Check: check, Message: msg}
	if file != "" {
		r.File = &result.File{Path: file, Line: line}
	}
	l.pkg.Findings = append(l.pkg.Findings, r)
}

// validName reports whether a directory entry's name is a single path
// element. fs.FS implementations backed by git trees hand names through as
// stored, and a crafted tree can hold "..", "a/b" or NUL.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsAny(name, "/\x00") && fs.ValidPath(name)
}

func (l *loader) walk(dir string) {
	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		l.finding(result.Error, CheckPath, dirFile(dir), 0, fmt.Sprintf("cannot read directory: %v", err))
		return
	}
	for _, e := range entries {
		if l.full {
			return
		}
		name := e.Name()
		if !validName(name) {
			l.finding(result.Error, CheckPath, dirFile(dir), 0,
				fmt.Sprintf("file name %q escapes the package or is not a valid path element", name))
			continue
		}
		p := path.Join(dir, name)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			l.symlink(p)
		case e.IsDir():
			if name == ".git" {
				continue
			}
			l.walk(p)
		case e.Type().IsRegular():
			l.file(p, e)
		default:
			l.finding(result.Error, CheckPath, p, 0, "not a regular file, directory or symlink")
		}
	}
}

func dirFile(dir string) string {
	if dir == "." {
		return ""
	}
	return dir
}

func (l *loader) addFile(f *File) bool {
	if len(l.pkg.Files) >= l.limits.PackageFiles {
		l.finding(result.Error, CheckLimits, f.Path, 0,
			fmt.Sprintf("package holds more than %d files; the rest were not read", l.limits.PackageFiles))
		l.full = true
		return false
	}
	l.pkg.Files = append(l.pkg.Files, f)
	return true
}

func (l *loader) symlink(p string) {
	rl, ok := l.fsys.(fs.ReadLinkFS)
	if !ok {
		l.finding(result.Error, CheckPath, p, 0, "symlink cannot be checked: the file system does not expose link targets")
		return
	}
	target, err := rl.ReadLink(p)
	if err != nil {
		l.finding(result.Error, CheckPath, p, 0, fmt.Sprintf("cannot read symlink: %v", err))
		return
	}
	if err := escapes(rl, p, &l.linkSteps); err != nil {
		l.finding(result.Error, CheckPath, p, 0, err.Error())
		return
	}
	if !l.addFile(&File{Path: p, Symlink: true, Target: target}) {
		return
	}
	if IsYAMLFile(p) {
		l.finding(result.Info, CheckPath, p, 0, fmt.Sprintf("symlink to %q is kept as a link and not validated", target))
	}
}

// escapes returns why the link at p leads outside the package once checked
// out, following the other links of the tree (resolveLink), or nil. budget
// is what is left of the package's MaxPackageLinkSteps.
func escapes(fsys fs.ReadLinkFS, p string, budget *int) error {
	_, err := resolveLink(fsys, p, budget)
	var esc *linkEscape
	var dd *dotDotMissing
	if err == nil || errors.As(err, &esc) || errors.As(err, &dd) || errors.Is(err, errLinksTooCostly) {
		return err
	}
	return fmt.Errorf("symlink cannot be resolved: %w", err)
}

func (l *loader) file(p string, e fs.DirEntry) {
	f := &File{Path: p}
	if !l.addFile(f) {
		return
	}
	if info, err := e.Info(); err == nil && info.Size() > l.limits.FileBytes {
		l.finding(result.Error, CheckLimits, p, 0,
			fmt.Sprintf("file is %d bytes, more than the limit of %d", info.Size(), l.limits.FileBytes))
		return
	}
	var size int64
	if info, err := e.Info(); err == nil {
		size = info.Size()
	}
	data, err := l.read(p, size)
	if err != nil {
		var le *limitError
		if errors.As(err, &le) {
			l.finding(result.Error, CheckLimits, p, 0, le.msg)
		} else {
			l.finding(result.Error, CheckPath, p, 0, fmt.Sprintf("cannot read file: %v", err))
		}
		return
	}
	f.Data = data
}

type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// read reads a file without trusting the size its directory entry claimed:
// the size only sizes the buffer.
func (l *loader) read(p string, size int64) ([]byte, error) {
	fh, err := l.fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	buf := bytes.NewBuffer(make([]byte, 0, min(size, l.limits.FileBytes)+1))
	_, err = buf.ReadFrom(io.LimitReader(fh, l.limits.FileBytes+1))
	if err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if int64(len(data)) > l.limits.FileBytes {
		return nil, &limitError{fmt.Sprintf("file is more than the limit of %d bytes", l.limits.FileBytes)}
	}
	l.bytes += int64(len(data))
	if l.bytes > l.limits.PackageBytes {
		l.full = true
		return nil, &limitError{fmt.Sprintf("package holds more than %d bytes; the rest was not read", l.limits.PackageBytes)}
	}
	return data, nil
}
