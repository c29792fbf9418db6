package validate

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
)

// Checks of the KRM structure layer.
const (
	CheckStructure          = "krm-structure"
	CheckDuplicate          = "duplicate-resource"
	CheckInternalAnnotation = "internal-annotation"
)

// Annotations that kyaml sets while it reads resources and removes before it
// writes them. Committed, they are at best noise and at worst tell kpt to
// write a resource into another file.
const internalAnnotationPrefix = "internal.config.kubernetes.io/"

var legacyReaderAnnotations = []string{
	"config.kubernetes.io/path",
	"config.kubernetes.io/index",
	"config.k8s.io/id",
}

// location is where a resource is defined.
type location struct {
	file string
	line int
}

// checkStructure checks that a resource is a KRM resource, that none before
// it (recorded in seen) shares its identity, and that it carries no reader
// annotations. It tells whether the resource is sound enough for the schema
// and policy layers.
func (c *pkgCheck) checkStructure(r *krm.Resource, seen map[string]location) bool {
	ok := true
	for _, f := range []string{"apiVersion", "kind"} {
		if !c.requireString(r, r.Object[f], f) {
			ok = false
		}
	}
	md, isMap := r.Object["metadata"].(map[string]any)
	switch {
	case r.Object["metadata"] == nil:
		c.add(r, result.Error, CheckStructure, "", "resource has no metadata.name")
		ok = false
	case !isMap:
		c.add(r, result.Error, CheckStructure, "metadata", "metadata must be a mapping")
		ok = false
	case !c.requireString(r, md["name"], "metadata.name"):
		ok = false
	}
	if isMap {
		c.checkAnnotations(r, md)
	}
	if !ok {
		return false
	}
	id := identity(r)
	if dir := path.Dir(r.File); path.Base(r.File) == krm.KptfileName && dir != "." {
		// A subpackage's Kptfile belongs to its directory, as kpt reads it:
		// it may share its name with the package's.
		id = dir + "|" + id
	}
	if first, dup := seen[id]; dup {
		c.add(r, result.Error, CheckDuplicate, "",
			fmt.Sprintf("duplicate resource: %s %s is also defined at %s:%d", r.Kind, qualifiedName(r), c.display(first.file), first.line))
		return true
	}
	seen[id] = location{file: r.File, line: r.Line()}
	return true
}

func (c *pkgCheck) requireString(r *krm.Resource, v any, field string) bool {
	s, isString := v.(string)
	switch {
	case v == nil:
		c.add(r, result.Error, CheckStructure, parentField(field), fmt.Sprintf("resource has no %s", field))
	case !isString:
		c.add(r, result.Error, CheckStructure, field, fmt.Sprintf("%s must be a string", field))
	case strings.TrimSpace(s) == "":
		c.add(r, result.Error, CheckStructure, field, fmt.Sprintf("%s must not be empty", field))
	default:
		return true
	}
	return false
}

func parentField(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[:i]
	}
	return ""
}

func (c *pkgCheck) checkAnnotations(r *krm.Resource, md map[string]any) {
	ann, _ := md["annotations"].(map[string]any)
	for key := range ann {
		field := "metadata.annotations." + key
		switch {
		case strings.HasPrefix(key, internalAnnotationPrefix):
			c.add(r, result.Error, CheckInternalAnnotation, field,
				fmt.Sprintf("annotation %s is internal to KRM tooling and must not be committed", key))
		case slices.Contains(legacyReaderAnnotations, key):
			c.add(r, result.Warning, CheckInternalAnnotation, field,
				fmt.Sprintf("annotation %s is set by KRM tooling while reading and should not be committed", key))
		}
	}
}

// identity is what makes two resources the same object in a cluster.
func identity(r *krm.Resource) string {
	return group(r.APIVersion) + "|" + r.Kind + "|" + r.Namespace + "|" + r.Name
}

func group(apiVersion string) string {
	if i := strings.IndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

func qualifiedName(r *krm.Resource) string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}
