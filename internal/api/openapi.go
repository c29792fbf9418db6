package api

import (
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// The OpenAPI v3 documents follow Kubernetes: /openapi/v3 lists a document
// per group and version, each describing its paths and schemas. The schemas
// are built from the API's Go types.

func (s *Server) openAPIIndex(c echo.Context) error {
	paths := map[string]any{}
	for _, g := range []string{configGroup, pkgGroup} {
		paths["apis/"+g+"/"+version] = map[string]string{"serverRelativeURL": "/openapi/v3/apis/" + g + "/" + version}
	}
	return writeJSON(c, http.StatusOK, map[string]any{"paths": paths})
}

// openAPI builds the documents on first use.
type openAPI struct {
	once sync.Once
	docs map[string]map[string]any
}

func (s *Server) openAPIDocument(c echo.Context) error {
	s.openapi.once.Do(func() { s.openapi.docs = buildOpenAPI() })
	doc, ok := s.openapi.docs[c.Param("group")+"/"+c.Param("version")]
	if !ok {
		return notFound("OpenAPI document", c.Param("group")+"/"+c.Param("version"))
	}
	return writeJSON(c, http.StatusOK, doc)
}

// apiObject describes one resource of a group for the documents.
type apiObject struct {
	resource string
	typ      reflect.Type
	list     reflect.Type
	verbs    []string
}

func buildOpenAPI() map[string]map[string]any {
	groups := map[string][]apiObject{
		configGroup: {{"repositories", reflect.TypeFor[configv1alpha1.Repository](), reflect.TypeFor[configv1alpha1.RepositoryList](), []string{"list", "create", "get", "update", "delete"}}},
		pkgGroup: {
			{"packagerevisions", reflect.TypeFor[pkgv1alpha1.PackageRevision](), reflect.TypeFor[pkgv1alpha1.PackageRevisionList](), []string{"list", "get"}},
			{"packagerevisionresources", reflect.TypeFor[pkgv1alpha1.PackageRevisionResources](), nil, []string{"get"}},
		},
	}
	out := map[string]map[string]any{}
	for g, objs := range groups {
		schemas := map[string]any{}
		paths := map[string]any{}
		base := "/apis/" + g + "/" + version + "/namespaces/{namespace}/"
		nsParam := map[string]any{"name": "namespace", "in": "path", "required": true, "schema": map[string]string{"type": "string"}}
		nameParam := map[string]any{"name": "name", "in": "path", "required": true, "schema": map[string]string{"type": "string"}}
		for _, o := range objs {
			ref := schemaRef(o.typ, schemas)
			collection, item := map[string]any{"parameters": []any{nsParam}}, map[string]any{"parameters": []any{nsParam, nameParam}}
			for _, v := range o.verbs {
				switch v {
				case "list":
					collection["get"] = operation("list "+o.resource, schemaRef(o.list, schemas))
				case "create":
					op := operation("create a "+o.typ.Name(), ref)
					op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref}}}
					collection["post"] = op
				case "get":
					item["get"] = operation("read a "+o.typ.Name(), ref)
				case "update":
					op := operation("replace a "+o.typ.Name(), ref)
					op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref}}}
					item["put"] = op
				case "delete":
					item["delete"] = operation("delete a "+o.typ.Name(), schemaRef(reflect.TypeFor[metav1.Status](), schemas))
				}
			}
			if len(collection) > 1 {
				paths[base+o.resource] = collection
			}
			paths[base+o.resource+"/{name}"] = item
		}
		out[g+"/"+version] = map[string]any{
			"openapi":    "3.0.0",
			"info":       map[string]string{"title": "pkgserver", "version": version},
			"paths":      paths,
			"components": map[string]any{"schemas": schemas},
		}
	}
	return out
}

func operation(summary string, response map[string]any) map[string]any {
	status := map[string]any{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
	return map[string]any{
		"summary": summary,
		"responses": map[string]any{
			"200":     map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": response}}},
			"default": map[string]any{"description": "an error", "content": map[string]any{"application/json": map[string]any{"schema": status}}},
		},
	}
}

// schemaName names a type's schema as Kubernetes does (reversed domain of
// its package, then the type).
func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	switch {
	case strings.HasPrefix(pkg, "k8s.io/apimachinery/"):
		return "io.k8s.apimachinery." + strings.ReplaceAll(strings.TrimPrefix(pkg, "k8s.io/apimachinery/"), "/", ".") + "." + t.Name()
	case strings.Contains(pkg, "/apis/config/"):
		return "dev.pkgserver.pkg.config.v1alpha1." + t.Name()
	case strings.Contains(pkg, "/apis/pkg/"):
		return "dev.pkgserver.pkg.v1alpha1." + t.Name()
	}
	return "dev.pkgserver." + t.Name()
}

// schemaRef returns a reference to the schema of a named struct, adding it
// (and the schemas it uses) to schemas; other types are described inline.
func schemaRef(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[metav1.Time](), reflect.TypeFor[metav1.MicroTime]():
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeFor[metav1.Duration]():
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": schemaRef(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaRef(t.Elem(), schemas)}
	case reflect.Struct:
	default:
		return map[string]any{}
	}
	name := schemaName(t)
	ref := map[string]any{"$ref": "#/components/schemas/" + name}
	if _, done := schemas[name]; done {
		return ref
	}
	props := map[string]any{}
	schema := map[string]any{"type": "object", "properties": props}
	schemas[name] = schema
	addFields(t, props, schemas)
	return ref
}

// addFields describes a struct's JSON fields, inlining embedded ones.
func addFields(t reflect.Type, props map[string]any, schemas map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addFields(ft, props, schemas)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaRef(f.Type, schemas)
	}
}
