package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
)

// The OpenAPI documents follow Kubernetes: /openapi/v3 lists a document per
// group and version, each describing its paths and schemas; /openapi/v2 is
// one document of every group, in JSON or (as client-go asks for it)
// protobuf. The schemas are built from the API's Go types; those of
// kinds carry x-kubernetes-group-version-kind, and so do the operations,
// which is how kubectl finds a kind's schema (explain), its PATCH
// operation's fieldValidation parameter (server-side validation instead of
// client-side) and its patch types (no strategic merge patch: kubectl
// sends a JSON merge patch).

// The media types of the protobuf form of /openapi/v2: the one clients ask
// for, and the one answered (the first is no valid media type: its "@"
// fails client-go's parsing of Content-Type), as kube-apiserver does.
const (
	openAPIV2ProtobufAsked    = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	openAPIV2ProtobufAnswered = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
)

// kindTypes are the Go types of each kind and of its list.
var kindTypes = map[string][2]reflect.Type{
	"Repository":               {reflect.TypeFor[configv1alpha1.Repository](), reflect.TypeFor[configv1alpha1.RepositoryList]()},
	"PackageRevision":          {reflect.TypeFor[pkgv1alpha1.PackageRevision](), reflect.TypeFor[pkgv1alpha1.PackageRevisionList]()},
	"PackageRevisionResources": {reflect.TypeFor[pkgv1alpha1.PackageRevisionResources](), reflect.TypeFor[pkgv1alpha1.PackageRevisionResourcesList]()},
}

// openAPIDocs are the documents, built on first use.
type openAPIDocs struct {
	v3      map[string][]byte // by group/version
	v2      []byte
	v2Proto []byte
	schemas map[string]any // every schema, by name, with v3 references
}

var openAPIOnce = sync.OnceValues(buildOpenAPIDocs)

func buildOpenAPIDocs() (*openAPIDocs, error) {
	d := &openAPIDocs{v3: map[string][]byte{}, schemas: map[string]any{}}
	v2Paths := map[string]any{}
	for _, g := range []string{configGroup, pkgGroup} {
		schemas := map[string]any{}
		paths := groupPaths(g, schemas)
		doc := map[string]any{
			"openapi":    "3.0.0",
			"info":       map[string]string{"title": "pkgserver", "version": version},
			"paths":      paths,
			"components": map[string]any{"schemas": schemas},
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		d.v3[g+"/"+version] = b
		for k, v := range schemas {
			d.schemas[k] = v
		}
		for p, item := range paths {
			v2Paths[p] = v2PathItem(item.(map[string]any))
		}
	}
	v2 := map[string]any{
		"swagger":     "2.0",
		"info":        map[string]string{"title": "pkgserver", "version": version},
		"paths":       v2Paths,
		"definitions": d.schemas,
	}
	b, err := json.Marshal(v2)
	if err != nil {
		return nil, err
	}
	// The schemas are the same in both versions but for where references
	// point.
	d.v2 = []byte(strings.ReplaceAll(string(b), `"#/components/schemas/`, `"#/definitions/`))
	parsed, err := openapi_v2.ParseDocument(d.v2)
	if err != nil {
		return nil, err
	}
	if d.v2Proto, err = proto.Marshal(parsed); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) openAPIIndex(c echo.Context) error {
	paths := map[string]any{}
	for _, g := range []string{configGroup, pkgGroup} {
		paths["apis/"+g+"/"+version] = map[string]string{"serverRelativeURL": "/openapi/v3/apis/" + g + "/" + version}
	}
	return writeJSON(c, http.StatusOK, map[string]any{"paths": paths})
}

// openAPIRoutes serves the v3 document of each group on a path of its own
// (see discoveryRoutes) and the v2 document.
func (s *Server) openAPIRoutes(a authenticated) {
	a.GET("/openapi/v2", s.openAPIV2)
	a.GET("/openapi/v3", s.openAPIIndex)
	for _, g := range []string{configGroup, pkgGroup} {
		gv := g + "/" + version
		a.GET("/openapi/v3/apis/"+gv, func(c echo.Context) error {
			docs, err := openAPIOnce()
			if err != nil {
				return err
			}
			return writeBody(c, http.StatusOK, docs.v3[gv])
		})
	}
}

// openAPIV2 answers the v2 document in protobuf when the client prefers it
// (client-go's discovery does), else in JSON.
func (s *Server) openAPIV2(c echo.Context) error {
	docs, err := openAPIOnce()
	if err != nil {
		return err
	}
	for _, part := range strings.Split(c.Request().Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch mt {
		case openAPIV2ProtobufAsked, openAPIV2ProtobufAnswered:
			return c.Blob(http.StatusOK, openAPIV2ProtobufAnswered, docs.v2Proto)
		case "application/json", "*/*", "application/*":
			return writeBody(c, http.StatusOK, docs.v2)
		}
	}
	return writeBody(c, http.StatusOK, docs.v2)
}

// openAPISchemas returns the schemas of the API's kinds and of the types
// they use, as managedfields.NewTypeConverter reads them (the kinds found
// by their x-kubernetes-group-version-kind).
func openAPISchemas() map[string]*spec.Schema {
	docs, err := openAPIOnce()
	if err != nil {
		panic(err) // the documents are built from the Go types: a test catches it
	}
	out := make(map[string]*spec.Schema, len(docs.schemas))
	for name, raw := range docs.schemas {
		b, err := json.Marshal(raw)
		if err != nil {
			panic(err)
		}
		var sc spec.Schema
		if err := json.Unmarshal(b, &sc); err != nil {
			panic(err)
		}
		out[name] = &sc
	}
	return out
}

func gvk(group, kind string) map[string]string {
	return map[string]string{"group": group, "version": version, "kind": kind}
}

// groupPaths describes a group's paths, from the verbs discovery shows,
// adding the schemas they use.
func groupPaths(group string, schemas map[string]any) map[string]any {
	paths := map[string]any{}
	all := "/apis/" + group + "/" + version + "/"
	base := all + "namespaces/{namespace}/"
	for _, r := range resources[group] {
		resource, sub, _ := strings.Cut(r.Name, "/")
		types := kindTypes[r.Kind]
		ref := schemaRef(types[0], schemas)
		kindGVK := gvk(group, r.Kind)
		item := map[string]any{"parameters": []any{nameParam, namespaceParam}}
		if sub != "" {
			for _, v := range slices.Sorted(mapsKeys(r.roles)) {
				switch v {
				case "get":
					item["get"] = operation("get", kindGVK, "read the "+sub+" of a "+r.Kind, ref, nil)
				case "update":
					item["put"] = operation("put", kindGVK, "replace the "+sub+" of a "+r.Kind, ref, writeQueryParams, withBody(ref))
				case "patch":
					item["patch"] = operation("patch", kindGVK, "partially update the "+sub+" of a "+r.Kind, ref, patchQueryParams, patchBody(schemas))
				case "create":
					item["post"] = operation("post", kindGVK, sub+" a "+r.Kind, ref, []any{dryRunParam}, nil)
				}
			}
			paths[base+resource+"/{name}/"+sub] = item
			continue
		}
		schemas[schemaName(types[0])].(map[string]any)["x-kubernetes-group-version-kind"] = []any{kindGVK}
		listRef := schemaRef(types[1], schemas)
		schemas[schemaName(types[1])].(map[string]any)["x-kubernetes-group-version-kind"] = []any{gvk(group, r.Kind+"List")}
		collection := map[string]any{"parameters": []any{namespaceParam}}
		for _, v := range slices.Sorted(mapsKeys(r.roles)) {
			switch v {
			case "list":
				collection["get"] = operation("list", kindGVK, "list or watch objects of kind "+r.Kind, listRef, listQueryParams)
				paths[all+resource] = map[string]any{
					"get": operation("list", kindGVK, "list or watch objects of kind "+r.Kind+" in every namespace", listRef, listQueryParams),
				}
			case "create":
				collection["post"] = operation("post", kindGVK, "create a "+r.Kind, ref, writeQueryParams, withBody(ref))
			case "get":
				item["get"] = operation("get", kindGVK, "read a "+r.Kind, ref, nil)
			case "update":
				item["put"] = operation("put", kindGVK, "replace a "+r.Kind, ref, writeQueryParams, withBody(ref))
			case "patch":
				item["patch"] = operation("patch", kindGVK, "partially update a "+r.Kind, ref, patchQueryParams, patchBody(schemas))
			case "delete":
				item["delete"] = operation("delete", kindGVK, "delete a "+r.Kind, schemaRef(reflect.TypeFor[metav1.Status](), schemas), []any{dryRunParam})
			}
		}
		if len(collection) > 1 {
			paths[base+resource] = collection
		}
		paths[base+resource+"/{name}"] = item
	}
	schemaRef(reflect.TypeFor[metav1.Status](), schemas)
	schemas[schemaName(reflect.TypeFor[metav1.Status]())].(map[string]any)["x-kubernetes-group-version-kind"] = []any{
		map[string]string{"group": "", "version": "v1", "kind": "Status"}}
	return paths
}

func mapsKeys[V any](m map[string]V) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func queryParam(name, typ, description string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": description, "schema": map[string]string{"type": typ}, "uniqueItems": true}
}

var (
	namespaceParam = map[string]any{"name": "namespace", "in": "path", "required": true,
		"description": "object name and auth scope, such as for teams and projects", "schema": map[string]string{"type": "string"}, "uniqueItems": true}
	nameParam = map[string]any{"name": "name", "in": "path", "required": true,
		"description": "name of the object", "schema": map[string]string{"type": "string"}, "uniqueItems": true}
	dryRunParam = queryParam("dryRun", "string",
		"When present, indicates that modifications should not be persisted. The only valid value is All.")
	fieldManagerParam = queryParam("fieldManager", "string",
		"The name of the actor or entity making the changes.")
	fieldValidationParam = queryParam("fieldValidation", "string",
		"How to handle unknown or duplicate fields in the request body: Ignore, Warn or Strict (the default).")
	writeQueryParams = []any{dryRunParam, fieldManagerParam, fieldValidationParam}
	patchQueryParams = []any{dryRunParam, fieldManagerParam, fieldValidationParam,
		queryParam("force", "boolean", "Force an apply patch to take the fields other managers own.")}
	listQueryParams = []any{
		queryParam("allowWatchBookmarks", "boolean", "Ask a watch for BOOKMARK events."),
		queryParam("continue", "string", "The continue token of the previous page."),
		queryParam("fieldSelector", "string", "Restrict the list to objects whose fields match."),
		queryParam("labelSelector", "string", "Restrict the list to objects whose labels match."),
		queryParam("limit", "integer", "The most objects in one page."),
		queryParam("resourceVersion", "string", "The resource version to list or watch from."),
		queryParam("resourceVersionMatch", "string", "How resourceVersion applies to a list."),
		queryParam("sendInitialEvents", "boolean", "Begin a watch with the objects that exist, then a bookmark."),
		queryParam("timeoutSeconds", "integer", "How long a watch lasts."),
		queryParam("watch", "boolean", "Watch for changes instead of listing."),
	}
)

func withBody(ref map[string]any) map[string]any {
	return map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref}}}
}

// patchBody is the body of a PATCH: the patch types pkgserver takes (no
// strategic merge patch, as for custom resources).
func patchBody(schemas map[string]any) map[string]any {
	name := "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	schemas[name] = map[string]any{"type": "object",
		"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}
	ref := map[string]any{"$ref": "#/components/schemas/" + name}
	content := map[string]any{}
	for _, t := range []string{"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"} {
		content[t] = map[string]any{"schema": ref}
	}
	return map[string]any{"required": true, "content": content}
}

// operation describes an operation on a kind; body is the request body of
// writes.
func operation(action string, kind map[string]string, summary string, response map[string]any, params []any, body ...map[string]any) map[string]any {
	status := map[string]any{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
	op := map[string]any{
		"description":                     summary,
		"x-kubernetes-action":             action,
		"x-kubernetes-group-version-kind": kind,
		"responses": map[string]any{
			"200":     map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": response}}},
			"default": map[string]any{"description": "an error", "content": map[string]any{"application/json": map[string]any{"schema": status}}},
		},
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if len(body) > 0 && body[0] != nil {
		op["requestBody"] = body[0]
	}
	return op
}

// v2PathItem rewrites a v3 path item in v2's shape: parameters with their
// type inline, the body a parameter, media types in consumes and produces.
func v2PathItem(item map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range item {
		if k == "parameters" {
			out[k] = v2Params(v.([]any))
			continue
		}
		op := v.(map[string]any)
		o := map[string]any{}
		var params []any
		if p, ok := op["parameters"]; ok {
			params = v2Params(p.([]any))
		}
		if body, ok := op["requestBody"]; ok {
			content := body.(map[string]any)["content"].(map[string]any)
			consumes := slices.Sorted(mapsKeys(content))
			o["consumes"] = consumes
			params = append(params, map[string]any{"name": "body", "in": "body", "required": true,
				"schema": content[consumes[0]].(map[string]any)["schema"]})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		for ok, ov := range op {
			switch ok {
			case "parameters", "requestBody":
			case "responses":
				rs := map[string]any{}
				for code, r := range ov.(map[string]any) {
					rm := r.(map[string]any)
					rs[code] = map[string]any{"description": rm["description"],
						"schema": rm["content"].(map[string]any)["application/json"].(map[string]any)["schema"]}
				}
				o["responses"] = rs
			default:
				o[ok] = ov
			}
		}
		o["produces"] = []string{"application/json"}
		out[k] = o
	}
	return out
}

func v2Params(params []any) []any {
	out := make([]any, len(params))
	for i, p := range params {
		pm := p.(map[string]any)
		q := map[string]any{}
		for k, v := range pm {
			if k == "schema" {
				q["type"] = v.(map[string]string)["type"]
				continue
			}
			q[k] = v
		}
		out[i] = q
	}
	return out
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

// listTypes are the list semantics of fields (by schema and field name)
// that are not atomic: how server-side apply merges them.
var listTypes = map[string]map[string]any{
	"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.finalizers": {"x-kubernetes-list-type": "set"},
	"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.ownerReferences": {"x-kubernetes-list-type": "map",
		"x-kubernetes-list-map-keys": []string{"uid"}},
	"dev.pkgserver.pkg.config.v1alpha1.RepositoryStatus.conditions": {"x-kubernetes-list-type": "map",
		"x-kubernetes-list-map-keys": []string{"type"}},
	"dev.pkgserver.pkg.v1alpha1.PackageRevisionStatus.conditions": {"x-kubernetes-list-type": "map",
		"x-kubernetes-list-map-keys": []string{"type"}},
	"dev.pkgserver.pkg.v1alpha1.PackageRevisionSpec.readinessGates": {"x-kubernetes-list-type": "map",
		"x-kubernetes-list-map-keys": []string{"conditionType"}},
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
	case reflect.TypeFor[metav1.FieldsV1]():
		// Its JSON is the fields' own object, not the struct's.
		return map[string]any{"type": "object", "description": metav1.FieldsV1{}.SwaggerDoc()[""]}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": map[bool]string{true: "int32", false: "int64"}[t.Bits() == 32]}
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
	docs := swaggerDoc(t)
	if d := docs[""]; d != "" {
		schema["description"] = d
	}
	schemas[name] = schema
	addFields(t, name, props, docs, schemas)
	return ref
}

// swaggerDoc returns the descriptions of a type's fields (by JSON name,
// the type's own under "") when it has them, as Kubernetes' types do.
func swaggerDoc(t reflect.Type) map[string]string {
	if d, ok := reflect.Zero(t).Interface().(interface{ SwaggerDoc() map[string]string }); ok {
		return d.SwaggerDoc()
	}
	return nil
}

// addFields describes a struct's JSON fields, inlining embedded ones.
func addFields(t reflect.Type, schemaName string, props map[string]any, docs map[string]string, schemas map[string]any) {
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
			embedded := swaggerDoc(ft)
			addFields(ft, schemaName, props, embedded, schemas)
			continue
		}
		if name == "" {
			name = f.Name
		}
		p := schemaRef(f.Type, schemas)
		if d := docs[name]; d != "" {
			if _, isRef := p["$ref"]; isRef {
				// A reference takes no siblings in OpenAPI 3.0: described
				// through allOf, as Kubernetes does.
				p = map[string]any{"allOf": []any{p}, "description": d}
			} else {
				p["description"] = d
			}
		}
		for k, v := range listTypes[schemaName+"."+name] {
			p[k] = v
		}
		props[name] = p
	}
}
