package schema

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pkgserver/pkgserver/internal/krm"
)

// Set answers which schema validates a kind: the built-in kinds first, then
// custom resource schemas, the innermost layer first. A Set is immutable and
// safe for concurrent use.
type Set struct {
	builtin *Builtin
	custom  map[k8sschema.GroupVersionKind]*Schema
	parent  *Set
}

// NewSet returns a set of the built-in schemas and the given custom ones.
func NewSet(builtin *Builtin, custom []*Schema) *Set {
	return (&Set{builtin: builtin}).With(custom)
}

// With returns a set that also knows the given custom schemas; they take
// precedence over the custom schemas of s. s is not modified.
func (s *Set) With(custom []*Schema) *Set {
	if len(custom) == 0 {
		return s
	}
	m := make(map[k8sschema.GroupVersionKind]*Schema, len(custom))
	for _, c := range custom {
		m[c.Kind.GVK] = c
	}
	return &Set{builtin: s.builtin, custom: m, parent: s}
}

// Builtin returns the built-in schemas of the set.
func (s *Set) Builtin() *Builtin { return s.builtin }

// Lookup returns the schema of a kind, or nil when none is known.
func (s *Set) Lookup(gvk k8sschema.GroupVersionKind) (*Schema, error) {
	if b, ok, err := s.builtin.Lookup(gvk); ok || err != nil {
		return b, err
	}
	for l := s; l != nil; l = l.parent {
		if c, ok := l.custom[gvk]; ok {
			return c, nil
		}
	}
	return nil, nil
}

// Kind returns what is known of a kind without compiling a schema.
func (s *Set) Kind(gvk k8sschema.GroupVersionKind) (Kind, bool) {
	if k, ok := s.builtin.Kind(gvk); ok {
		return k, true
	}
	for l := s; l != nil; l = l.parent {
		if c, ok := l.custom[gvk]; ok {
			return c.Kind, true
		}
	}
	return Kind{}, false
}

// LoadCRDs reads every CustomResourceDefinition in the YAML files below dir
// of fsys. Other documents are ignored. Any problem, in the YAML or in a
// definition, is an error naming its file: schemas given to validate others
// must themselves be sound.
func LoadCRDs(ctx context.Context, fsys fs.FS, dir string, limits krm.Limits) ([]*Schema, error) {
	var out []*Schema
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		docs, problems := krm.ParseDocuments(data, limits)
		if len(problems) > 0 {
			return fmt.Errorf("%s: %v", p, problems[0])
		}
		for _, doc := range docs {
			obj, err := krm.ToObject(doc.Node)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			apiVersion, _ := obj["apiVersion"].(string)
			kind, _ := obj["kind"].(string)
			if !IsCRD(apiVersion, kind) {
				continue
			}
			schemas, errs := FromCRD(ctx, obj, p)
			if len(errs) > 0 {
				return fmt.Errorf("%s:%d: invalid CustomResourceDefinition: %s", p, krm.LineOf(doc.Node, errs[0].Field), errs[0])
			}
			out = append(out, schemas...)
		}
		return nil
	})
	return out, err
}
