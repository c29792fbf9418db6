package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
)

// CRDGroupKind is the group and kind of CustomResourceDefinitions.
var CRDGroupKind = k8sschema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// IsCRD tells whether apiVersion and kind name a CustomResourceDefinition
// this package reads (apiextensions.k8s.io/v1).
func IsCRD(apiVersion, kind string) bool {
	return apiVersion == "apiextensions.k8s.io/v1" && kind == CRDGroupKind.Kind
}

var unknownFieldRE = regexp.MustCompile(`^unknown field "(.*)"$`)

// FromCRD reads a CustomResourceDefinition and returns a schema for each
// version it serves. The definition itself is validated as the API server
// validates one on create; its problems are returned as field errors, and a
// definition with problems yields no schemas.
func FromCRD(ctx context.Context, obj map[string]any, source string) ([]*Schema, []FieldError) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, []FieldError{{Message: err.Error()}}
	}
	var crd apiextensionsv1.CustomResourceDefinition
	strict, err := kjson.UnmarshalStrict(data, &crd)
	if err != nil {
		return nil, []FieldError{{Message: strings.TrimPrefix(err.Error(), "json: ")}}
	}
	var errs []FieldError
	for _, e := range strict {
		msg := e.Error()
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			errs = append(errs, FieldError{Field: m[1], Message: msg})
			continue
		}
		errs = append(errs, FieldError{Message: msg})
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&crd)
	var internal apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&crd, &internal, nil); err != nil {
		return nil, append(errs, FieldError{Message: err.Error()})
	}
	// As on create: the API server records the storage version itself.
	internal.Status = apiextensions.CustomResourceDefinitionStatus{}
	internal.Generation = 1
	for _, v := range internal.Spec.Versions {
		if v.Storage {
			internal.Status.StoredVersions = []string{v.Name}
			break
		}
	}
	for _, fe := range crdvalidation.ValidateCustomResourceDefinition(ctx, &internal) {
		errs = append(errs, fromFieldError(fe))
	}
	if len(errs) > 0 {
		return nil, errs
	}

	var schemas []*Schema
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		kind := Kind{
			GVK:        k8sschema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
			Resource:   crd.Spec.Names.Plural,
			Namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		}
		props := &apiextensionsv1.JSONSchemaProps{Type: "object"}
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			props = v.Schema.OpenAPIV3Schema
		}
		s, err := compile(kind, source, props, nil)
		if err != nil {
			return nil, []FieldError{{Field: fmt.Sprintf("spec.versions[%s].schema", v.Name), Message: err.Error()}}
		}
		schemas = append(schemas, s)
	}
	return schemas, nil
}
