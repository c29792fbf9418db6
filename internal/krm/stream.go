package krm

import (
	"errors"
	"io/fs"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/result"
)

// Read reads the files of the package rooted at the top of fsys without
// parsing them: the returned package has Files, Kptfile and the findings of
// reading, but no Resources. EachResource parses its YAML files one document
// at a time, which is what keeps validating a package in memory proportional
// to its largest document rather than to the package.
func Read(fsys fs.FS, limits Limits) *Package {
	pkg := readFiles(fsys, limits)
	checkKptfile(pkg)
	return pkg
}

func readFiles(fsys fs.FS, limits Limits) *Package {
	l := &loader{fsys: fsys, limits: limits, pkg: &Package{}, linkSteps: MaxPackageLinkSteps}
	l.walk(".")
	markIgnored(l.pkg)
	for _, f := range l.pkg.Files {
		if f.Path == KptfileName && !f.Symlink {
			l.pkg.Kptfile = f
		}
	}
	return l.pkg
}

func checkKptfile(pkg *Package) {
	if pkg.Kptfile == nil {
		pkg.Findings = append(pkg.Findings, result.Result{Severity: result.Error, Check: CheckKptfile,
			Message: "not a package: the directory has no Kptfile", File: &result.File{Path: KptfileName}})
	}
}

// EachResource parses a YAML file of a package and calls yield with each of
// its documents that is a KRM resource, in order, and returns the problems
// met (with the file's path). A resource's node and object are built for the
// call only: once yield returns, nothing of them is kept unless yield keeps
// it. A file the package's .krmignore ignores holds no resources and no
// problems: it is content, not read as KRM.
func EachResource(f *File, limits Limits, yield func(*Resource)) []result.Result {
	if f.Ignored {
		return nil
	}
	var docFindings []result.Result
	finding := func(check string, line int, msg string) result.Result {
		return result.Result{Severity: result.Error, Check: check, Message: msg, File: &result.File{Path: f.Path, Line: line}}
	}
	problems := EachDocument(f.Data, limits, func(d Document) {
		if d.Node.Kind != yaml.MappingNode {
			docFindings = append(docFindings, finding(CheckYAML, d.Node.Line,
				"YAML document is not a mapping, so it cannot be a KRM resource"))
			return
		}
		obj, err := ToObject(d.Node)
		if err != nil {
			var ce *ConvertError
			line := d.Node.Line
			msg := err.Error()
			if errors.As(err, &ce) {
				line, msg = ce.Line, ce.Message
			}
			docFindings = append(docFindings, finding(CheckYAML, line, msg))
			return
		}
		r := &Resource{File: f.Path, Index: d.Index, Node: d.Node, Object: obj}
		r.APIVersion, _ = obj["apiVersion"].(string)
		r.Kind, _ = obj["kind"].(string)
		if md, ok := obj["metadata"].(map[string]any); ok {
			r.Name, _ = md["name"].(string)
			r.Namespace, _ = md["namespace"].(string)
		}
		yield(r)
	})
	// The problems of the file as a whole come first, as Load has always
	// reported them.
	findings := make([]result.Result, 0, len(problems)+len(docFindings))
	for _, p := range problems {
		check := CheckYAML
		if p.Limit {
			check = CheckLimits
		}
		findings = append(findings, finding(check, p.Line, p.Message))
	}
	return append(findings, docFindings...)
}
