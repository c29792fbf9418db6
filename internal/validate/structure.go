package validate

import (
	"fmt"
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

// checkStructure checks that every resource is a KRM resource, that no two
// share an identity, and that none carries reader annotations. It returns
// the resources sound enough for the schema and policy layers.
func (c *pkgCheck) checkStructure() []*krm.Resource {
	var sound []*krm.Resource
	seen := map[string]*krm.Resource{}
	for _, r := range c.pkg.Resources {
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
			continue
		}
		sound = append(sound, r)
		id := identity(r)
		if first, dup := seen[id]; dup {
			c.add(r, result.Error, CheckDuplicate, "",
				fmt.Sprintf("duplicate resource: %s %s is also defined at %s:%d", r.Kind, qualifiedName(r), c.display(first.File), first.Line()))
			continue
		}
		seen[id] = r
	}
	return sound
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
