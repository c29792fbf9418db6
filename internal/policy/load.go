package policy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	kjson "sigs.k8s.io/json"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// ActionsAnnotation sets the validation actions of a policy that has no
// binding among the loaded documents: a comma-separated list of Deny, Warn
// and Audit. Without it (and without a binding) a policy denies.
const ActionsAnnotation = "pkg.pkgserver.dev/validation-actions"

// document is a YAML document of a policy file with where it came from.
type document struct {
	source string // file:line
	obj    map[string]any
}

// Sources collects the documents of policy files: policies, their
// bindings, and the objects bindings take as parameters.
type Sources struct {
	docs   []document
	limits krm.Limits
}

// NewSources returns an empty collection that reads files with the given
// limits.
func NewSources(limits krm.Limits) *Sources { return &Sources{limits: limits} }

// AddFS reads the YAML files at name in fsys: a file, or a directory searched
// recursively. display is how the files are named in errors.
func (s *Sources) AddFS(fsys fs.FS, name, display string) error {
	return fs.WalkDir(fsys, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if p != name && !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		rel := display
		if p != name {
			rel = path.Join(display, strings.TrimPrefix(p, name+"/"))
			if name == "." {
				rel = path.Join(display, p)
			}
		}
		return s.AddFile(rel, data)
	})
}

// AddFile reads the documents of one YAML file.
func (s *Sources) AddFile(name string, data []byte) error {
	if int64(len(data)) > s.limits.FileBytes {
		return fmt.Errorf("%s: file is more than the limit of %d bytes", name, s.limits.FileBytes)
	}
	docs, problems := krm.ParseDocuments(data, s.limits)
	if len(problems) > 0 {
		return fmt.Errorf("%s:%d: %s", name, problems[0].Line, problems[0].Message)
	}
	for _, d := range docs {
		obj, err := krm.ToObject(d.Node)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, d.Node.Line, err)
		}
		s.docs = append(s.docs, document{source: fmt.Sprintf("%s:%d", name, d.Node.Line), obj: obj})
	}
	return nil
}

// decodeStrict decodes a document into a Kubernetes API type, refusing
// unknown fields as the API server does with strict field validation.
func decodeStrict(d document, into any) error {
	data, err := json.Marshal(d.obj)
	if err != nil {
		return fmt.Errorf("%s: %w", d.source, err)
	}
	strict, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		return fmt.Errorf("%s: %s", d.source, strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(strict) > 0 {
		return fmt.Errorf("%s: %v", d.source, strict[0])
	}
	return nil
}

const admissionAPIVersion = "admissionregistration.k8s.io/v1"

// parsed is the result of reading all documents.
type parsed struct {
	policies []sourced[admissionv1.ValidatingAdmissionPolicy]
	bindings []sourced[admissionv1.ValidatingAdmissionPolicyBinding]
	// params are all other objects, candidates for a binding's paramRef.
	params []document
}

type sourced[T any] struct {
	source string
	obj    T
}

func (s *Sources) parse() (*parsed, error) {
	p := &parsed{}
	seen := map[string]string{} // kind/name -> source
	var err error
	for _, d := range s.docs {
		apiVersion, _ := d.obj["apiVersion"].(string)
		kind, _ := d.obj["kind"].(string)
		switch {
		case apiVersion == admissionAPIVersion && kind == "ValidatingAdmissionPolicy":
			p.policies, err = appendUnique(p.policies, d, kind, seen, func(o *admissionv1.ValidatingAdmissionPolicy) string { return o.Name })
		case apiVersion == admissionAPIVersion && kind == "ValidatingAdmissionPolicyBinding":
			p.bindings, err = appendUnique(p.bindings, d, kind, seen, func(o *admissionv1.ValidatingAdmissionPolicyBinding) string { return o.Name })
		case strings.HasPrefix(apiVersion, "admissionregistration.k8s.io/") &&
			slices.Contains([]string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}, kind):
			err = fmt.Errorf("%s: %s %s is not supported; use %s", d.source, apiVersion, kind, admissionAPIVersion)
		default:
			p.params = append(p.params, d)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// appendUnique decodes a document strictly and appends it, refusing a
// second object of the same kind and name.
func appendUnique[T any](list []sourced[T], d document, kind string, seen map[string]string, name func(*T) string) ([]sourced[T], error) {
	var obj T
	if err := decodeStrict(d, &obj); err != nil {
		return nil, err
	}
	key := kind + "/" + name(&obj)
	if prev, dup := seen[key]; dup {
		return nil, fmt.Errorf("%s: %s %q is already defined at %s", d.source, kind, name(&obj), prev)
	}
	seen[key] = d.source
	return append(list, sourced[T]{d.source, obj}), nil
}
