// Command gen writes the built-in Kubernetes schemas that pkgserver embeds:
// the OpenAPI v3 documents the Kubernetes project publishes for a release
// (api/openapi-spec/v3 of the k8s.io/kubernetes module), merged into one
// file, with descriptions dropped and a few published deficiencies mended
// (see docs/validation.md). Run it with `make generate`.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/schema"
)

// The definitions Kubernetes decodes with custom JSON marshalling that
// accepts null although the published schema does not say so.
var nullable = []string{
	"io.k8s.apimachinery.pkg.runtime.RawExtension",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Time",
	"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
	"io.k8s.apimachinery.pkg.apis.meta.v1.Duration",
	"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
	"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
	"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
	"io.k8s.apimachinery.pkg.api.resource.Quantity",
}

const intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

// dropped are schema keys that only document or describe patching; nothing
// validates with them.
var dropped = []string{
	"description", "default", "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy",
	"x-kubernetes-unions", "x-kubernetes-group-version-kind", "discriminator",
}

// Output is the generated file.
type Output struct {
	KubernetesVersion string                     `json:"kubernetesVersion"`
	Kinds             []schema.BuiltinKind       `json:"kinds"`
	Definitions       map[string]json.RawMessage `json:"definitions"`
}

func main() {
	version := flag.String("version", "v1.37.2", "k8s.io/kubernetes module version to read the OpenAPI documents from")
	out := flag.String("o", "internal/schema/builtin.json", "file to write")
	flag.Parse()
	dir, err := moduleDir(*version)
	if err != nil {
		log.Fatal(err)
	}
	o, err := generate(filepath.Join(dir, "api", "openapi-spec", "v3"))
	if err != nil {
		log.Fatal(err)
	}
	o.KubernetesVersion = strings.TrimPrefix(*version, "v")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(o); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s: %d kinds, %d definitions, %d bytes\n", *out, len(o.Kinds), len(o.Definitions), buf.Len())
}

// moduleDir downloads the module through the Go module proxy, as the go
// command does for any dependency, and returns its directory.
func moduleDir(version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download k8s.io/kubernetes@%s: %w", version, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	return m.Dir, nil
}

type document struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]any `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	Action string `json:"x-kubernetes-action"`
	GVK    *struct {
		Group, Version, Kind string
	} `json:"x-kubernetes-group-version-kind"`
}

func generate(dir string) (*Output, error) {
	files, err := filepath.Glob(filepath.Join(dir, "api*_openapi.json"))
	if err != nil {
		return nil, err
	}
	defs := map[string]any{}
	kinds := map[string]schema.BuiltinKind{}
	defOf := map[string]string{} // group/version/kind -> definition
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc document
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for name, s := range doc.Components.Schemas {
			defs[name] = s
			for _, gvk := range gvksOf(s) {
				defOf[gvk] = name
			}
		}
		for p, item := range doc.Paths {
			if strings.Contains(p, "{name}") || strings.Contains(p, "/watch/") {
				continue
			}
			for method, raw := range item {
				if method != "post" && method != "get" {
					continue
				}
				var op operation
				if json.Unmarshal(raw, &op) != nil || op.GVK == nil {
					continue
				}
				if op.Action != "post" && op.Action != "list" {
					continue
				}
				// A namespaced kind is also listed across namespaces, at a path
				// without {namespace}: any namespaced path makes it namespaced.
				key := op.GVK.Group + "/" + op.GVK.Version + "/" + op.GVK.Kind
				kinds[key] = schema.BuiltinKind{
					Group: op.GVK.Group, Version: op.GVK.Version, Kind: op.GVK.Kind,
					Resource:   p[strings.LastIndex(p, "/")+1:],
					Namespaced: kinds[key].Namespaced || strings.Contains(p, "/namespaces/{namespace}/"),
				}
			}
		}
	}
	o := &Output{Definitions: map[string]json.RawMessage{}}
	for key, k := range kinds {
		k.Definition = defOf[key]
		if k.Definition == "" || strings.HasSuffix(k.Kind, "List") {
			continue
		}
		o.Kinds = append(o.Kinds, k)
	}
	slices.SortFunc(o.Kinds, func(a, b schema.BuiltinKind) int {
		return strings.Compare(a.Group+"/"+a.Version+"/"+a.Kind, b.Group+"/"+b.Version+"/"+b.Kind)
	})
	for name, s := range defs {
		s = mend(name, clean(s))
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		o.Definitions[name] = b
	}
	return o, nil
}

func gvksOf(s any) []string {
	m, _ := s.(map[string]any)
	list, _ := m["x-kubernetes-group-version-kind"].([]any)
	var out []string
	for _, e := range list {
		g, _ := e.(map[string]any)
		out = append(out, fmt.Sprintf("%v/%v/%v", g["group"], g["version"], g["kind"]))
	}
	return out
}

// clean drops documentation and flattens the allOf-wrapped references the
// OpenAPI v3 documents use to attach a description to a $ref.
func clean(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range t {
			if slices.Contains(dropped, k) {
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for pn, pv := range val.(map[string]any) {
					props[pn] = clean(pv)
				}
				out[k] = props
				continue
			}
			out[k] = clean(val)
		}
		if all, ok := out["allOf"].([]any); ok && len(all) == 1 {
			if ref, ok := all[0].(map[string]any)["$ref"]; ok {
				delete(out, "allOf")
				out["$ref"] = ref
			}
		}
		if ref, ok := out["$ref"].(string); ok {
			out["$ref"] = ref[strings.LastIndex(ref, "/")+1:]
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = clean(e)
		}
		return out
	default:
		return v
	}
}

// mend applies the per-definition repairs.
func mend(name string, s any) any {
	m := s.(map[string]any)
	if name == intOrString {
		// The API server ignores the published oneOf and treats the type as
		// the int-or-string extension, as structural schemas spell it.
		return map[string]any{"x-kubernetes-int-or-string": true}
	}
	if slices.Contains(nullable, name) {
		m["nullable"] = true
	}
	return m
}
