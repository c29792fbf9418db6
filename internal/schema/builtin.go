package schema

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// builtinJSON holds the OpenAPI schemas of the built-in Kubernetes kinds,
// written by ./gen (make generate).
//
//go:embed builtin.json
var builtinJSON []byte

// BuiltinKind is an entry of the kind index of builtin.json: a kind, the
// resource it is served as, its scope, and its schema's definition name.
type BuiltinKind struct {
	Group      string `json:"group"`
	Version    string `json:"version"`
	Kind       string `json:"kind"`
	Resource   string `json:"resource"`
	Namespaced bool   `json:"namespaced"`
	Definition string `json:"definition"`
}

type builtinFile struct {
	KubernetesVersion string                                      `json:"kubernetesVersion"`
	Kinds             []BuiltinKind                               `json:"kinds"`
	Definitions       map[string]*apiextensionsv1.JSONSchemaProps `json:"definitions"`
}

// Builtin holds the schemas of the built-in Kubernetes kinds. It reads the
// embedded schemas on first use and compiles each kind's schema the first
// time an object of that kind is validated. It is safe for concurrent use.
type Builtin struct {
	loadOnce sync.Once
	loadErr  error
	version  string
	kinds    map[k8sschema.GroupVersionKind]*builtinKind
	groups   map[string]bool
	formats  strfmt.Registry

	mu       sync.Mutex // guards resolver
	resolver *resolver
}

type builtinKind struct {
	kind       Kind
	definition string
	once       sync.Once
	schema     *Schema
	err        error
}

// NewBuiltin returns the built-in schemas. Nothing is read until first use.
func NewBuiltin() *Builtin { return &Builtin{} }

func (b *Builtin) load() error {
	b.loadOnce.Do(func() {
		var f builtinFile
		if err := json.Unmarshal(builtinJSON, &f); err != nil {
			b.loadErr = fmt.Errorf("read built-in schemas: %w", err)
			return
		}
		b.version = f.KubernetesVersion
		b.kinds = make(map[k8sschema.GroupVersionKind]*builtinKind, len(f.Kinds))
		b.groups = map[string]bool{"extensions": true} // served until Kubernetes 1.22
		b.formats = builtinFormats()
		for _, k := range f.Kinds {
			b.groups[k.Group] = true
			gvk := k8sschema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
			b.kinds[gvk] = &builtinKind{
				kind:       Kind{GVK: gvk, Resource: k.Resource, Namespaced: k.Namespaced},
				definition: k.Definition,
			}
		}
		b.resolver = newResolver(f.Definitions)
	})
	return b.loadErr
}

// KubernetesVersion is the Kubernetes release the schemas come from.
func (b *Builtin) KubernetesVersion() string {
	if b.load() != nil {
		return ""
	}
	return b.version
}

// Kind returns what is known of a built-in kind without compiling its schema.
func (b *Builtin) Kind(gvk k8sschema.GroupVersionKind) (Kind, bool) {
	if b.load() != nil {
		return Kind{}, false
	}
	bk, ok := b.kinds[gvk]
	if !ok {
		return Kind{}, false
	}
	return bk.kind, true
}

// HasGroup tells whether an API group is one of Kubernetes itself, now or
// in the past.
func (b *Builtin) HasGroup(group string) bool {
	return b.load() == nil && b.groups[group]
}

// Lookup returns the schema of a built-in kind, compiling it on first use.
func (b *Builtin) Lookup(gvk k8sschema.GroupVersionKind) (*Schema, bool, error) {
	if err := b.load(); err != nil {
		return nil, false, err
	}
	bk, ok := b.kinds[gvk]
	if !ok {
		return nil, false, nil
	}
	bk.once.Do(func() {
		b.mu.Lock()
		props, err := b.resolver.definition(bk.definition)
		b.mu.Unlock()
		if err != nil {
			bk.err = err
			return
		}
		bk.schema, bk.err = compile(bk.kind, "kubernetes "+b.version, props, b.formats)
	})
	return bk.schema, true, bk.err
}

// resolver replaces the references between definitions by the definitions
// themselves, since structural schemas cannot refer. Each definition is
// resolved once; resolved definitions share their subtrees and are never
// modified afterwards.
type resolver struct {
	raw      map[string]*apiextensionsv1.JSONSchemaProps
	resolved map[string]*apiextensionsv1.JSONSchemaProps
	visiting map[string]bool
}

func newResolver(defs map[string]*apiextensionsv1.JSONSchemaProps) *resolver {
	return &resolver{raw: defs, resolved: map[string]*apiextensionsv1.JSONSchemaProps{}, visiting: map[string]bool{}}
}

func (r *resolver) definition(name string) (*apiextensionsv1.JSONSchemaProps, error) {
	if d, ok := r.resolved[name]; ok {
		return d, nil
	}
	raw, ok := r.raw[name]
	if !ok {
		return nil, fmt.Errorf("schema definition %q not found", name)
	}
	if r.visiting[name] {
		// A recursive type (the schema of a schema, in
		// CustomResourceDefinition): below the first level, keep any value.
		yes := true
		return &apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: &yes}, nil
	}
	r.visiting[name] = true
	out, err := r.resolve(*raw)
	delete(r.visiting, name)
	if err != nil {
		return nil, err
	}
	r.resolved[name] = &out
	return &out, nil
}

func (r *resolver) resolve(s apiextensionsv1.JSONSchemaProps) (apiextensionsv1.JSONSchemaProps, error) {
	if s.Ref != nil {
		target, err := r.definition(*s.Ref)
		if err != nil {
			return s, err
		}
		out := *target
		out.Nullable = out.Nullable || s.Nullable
		return out, nil
	}
	var err error
	if s.Properties != nil {
		props := make(map[string]apiextensionsv1.JSONSchemaProps, len(s.Properties))
		for k, p := range s.Properties {
			if props[k], err = r.resolve(p); err != nil {
				return s, err
			}
		}
		s.Properties = props
	}
	if s.Items != nil {
		items := *s.Items
		if items.Schema != nil {
			if items.Schema, err = r.resolvePtr(items.Schema); err != nil {
				return s, err
			}
		}
		if items.JSONSchemas != nil {
			if items.JSONSchemas, err = r.resolveAll(items.JSONSchemas); err != nil {
				return s, err
			}
		}
		s.Items = &items
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		ap := *s.AdditionalProperties
		if ap.Schema, err = r.resolvePtr(ap.Schema); err != nil {
			return s, err
		}
		s.AdditionalProperties = &ap
	}
	if s.AllOf, err = r.resolveAll(s.AllOf); err != nil {
		return s, err
	}
	if s.OneOf, err = r.resolveAll(s.OneOf); err != nil {
		return s, err
	}
	if s.AnyOf, err = r.resolveAll(s.AnyOf); err != nil {
		return s, err
	}
	if s.Not != nil {
		if s.Not, err = r.resolvePtr(s.Not); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (r *resolver) resolvePtr(s *apiextensionsv1.JSONSchemaProps) (*apiextensionsv1.JSONSchemaProps, error) {
	out, err := r.resolve(*s)
	return &out, err
}

func (r *resolver) resolveAll(list []apiextensionsv1.JSONSchemaProps) ([]apiextensionsv1.JSONSchemaProps, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]apiextensionsv1.JSONSchemaProps, len(list))
	for i, s := range list {
		var err error
		if out[i], err = r.resolve(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}
