package schema

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	apiextensionscel "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// Kind describes a kind: its group, version and kind, the plural resource it
// is served as, and whether its objects live in a namespace.
type Kind struct {
	GVK        k8sschema.GroupVersionKind
	Resource   string
	Namespaced bool
}

// Schema validates the objects of one kind.
type Schema struct {
	Kind Kind
	// Source says where the schema came from: "kubernetes 1.37.2" or the
	// file of a CustomResourceDefinition.
	Source string

	structural      *structuralschema.Structural
	validator       validation.SchemaValidator
	cel             *apiextensionscel.Validator
	preserveUnknown bool
	nameFn          metavalidation.ValidateNameFunc
}

// FieldError is one way an object does not match its schema.
type FieldError struct {
	// Field is the path of the offending field (spec.replicas), empty for
	// the object as a whole.
	Field string
	// Message says what is wrong, without the field path.
	Message string
}

func (e FieldError) String() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// compile builds a Schema from an OpenAPI schema with every reference
// resolved, in the form CustomResourceDefinitions use. With formats nil,
// string formats are those the API server supports for custom resources;
// else formats is the registry to check them with.
func compile(kind Kind, source string, v1props *apiextensionsv1.JSONSchemaProps, formats strfmt.Registry) (*Schema, error) {
	var props apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1props, &props, nil); err != nil {
		return nil, fmt.Errorf("convert schema of %s: %w", kind.GVK, err)
	}
	ss, err := structuralschema.NewStructural(&props)
	if err != nil {
		return nil, fmt.Errorf("schema of %s is not structural: %w", kind.GVK, err)
	}
	var v validation.SchemaValidator
	if formats == nil {
		v, _, err = validation.NewSchemaValidator(&props)
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", kind.GVK, err)
		}
	} else {
		var openapi spec.Schema
		if err := validation.ConvertJSONSchemaPropsWithPostProcess(&props, &openapi, nil); err != nil {
			return nil, fmt.Errorf("schema of %s: %w", kind.GVK, err)
		}
		v = openapiValidator{validate.NewSchemaValidator(&openapi, nil, "", formats)}
	}
	s := &Schema{
		Kind:            kind,
		Source:          source,
		structural:      ss,
		validator:       v,
		preserveUnknown: ss.XPreserveUnknownFields,
		nameFn:          nameValidator(kind.GVK.GroupKind()),
	}
	if hasRules(ss) {
		s.cel = apiextensionscel.NewValidator(ss, true, celconfig.PerCallLimit)
	}
	return s, nil
}

// openapiValidator adapts the OpenAPI validator to the interface of the
// custom resource validation functions.
type openapiValidator struct{ *validate.SchemaValidator }

func (v openapiValidator) Validate(obj any, _ ...validation.ValidationOption) *validate.Result {
	return v.SchemaValidator.Validate(obj)
}

func (v openapiValidator) ValidateUpdate(obj, _ any, _ ...validation.ValidationOption) *validate.Result {
	return v.SchemaValidator.Validate(obj)
}

// builtinFormats returns the string formats of the built-in kinds: those of
// custom resources, except that a base64 ("byte") string may be empty, as
// Kubernetes decodes []byte fields (a Secret's data values).
func builtinFormats() strfmt.Registry {
	formats := strfmt.NewFormats()
	b64 := strfmt.Base64(nil)
	formats.Add("byte", &b64, func(s string) bool {
		_, err := base64.StdEncoding.DecodeString(s)
		return err == nil
	})
	return formats
}

// nameValidator returns the rule the API server applies to the names of a
// kind: most kinds take DNS subdomains, a few take stricter labels.
func nameValidator(gk k8sschema.GroupKind) metavalidation.ValidateNameFunc {
	if gk.Group == "" {
		switch gk.Kind {
		case "Namespace":
			return metavalidation.ValidateNamespaceName
		case "Service":
			return metavalidation.NameIsDNS1035Label
		}
	}
	return metavalidation.NameIsDNSSubdomain
}

func hasRules(s *structuralschema.Structural) bool {
	if s == nil {
		return false
	}
	if len(s.XValidations) > 0 {
		return true
	}
	if s.Items != nil && hasRules(s.Items) {
		return true
	}
	if s.AdditionalProperties != nil && hasRules(s.AdditionalProperties.Structural) {
		return true
	}
	for _, p := range s.Properties {
		if hasRules(&p) {
			return true
		}
	}
	return false
}

// Validate checks an object against the schema as the Kubernetes API server
// checks a custom resource on create with strict field validation: unknown
// fields, types, formats, required fields, list invariants, metadata, and
// CEL rules. obj is not modified.
func (s *Schema) Validate(ctx context.Context, obj map[string]any) []FieldError {
	u := runtime.DeepCopyJSON(obj)
	var errs []FieldError
	unknown := func(paths []string) {
		for _, p := range paths {
			errs = append(errs, FieldError{Field: p, Message: fmt.Sprintf("unknown field %q", p)})
		}
	}

	meta, found, metaUnknown, err := objectmeta.GetObjectMetaWithOptions(u, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return append(errs, FieldError{Field: "metadata", Message: metaMessage(err)})
	}
	unknown(metaUnknown)
	if !s.preserveUnknown {
		unknown(pruning.PruneWithOptions(u, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}))
	}
	ferr, embeddedUnknown := objectmeta.CoerceWithOptions(nil, u, s.structural, false, objectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		errs = append(errs, fromFieldError(ferr))
	}
	unknown(embeddedUnknown)

	var ferrs field.ErrorList
	if found {
		// A namespaced resource without a namespace is normal in a package:
		// it is set when the package is deployed.
		if s.Kind.Namespaced && meta.Namespace == "" {
			meta.Namespace = "default"
		}
		ferrs = append(ferrs, metavalidation.ValidateObjectMetaAccessor(meta, s.Kind.Namespaced, s.nameFn, field.NewPath("metadata"))...)
	}
	ferrs = append(ferrs, validation.ValidateCustomResource(nil, u, s.validator)...)
	ferrs = append(ferrs, objectmeta.Validate(ctx, nil, u, s.structural, false)...)
	ferrs = append(ferrs, listtype.ValidateListSetsAndMaps(nil, s.structural, u)...)
	if s.cel != nil && len(ferrs) == 0 && len(errs) == 0 {
		celErrs, _ := s.cel.Validate(ctx, nil, s.structural, u, nil, celconfig.RuntimeCELCostBudget)
		ferrs = append(ferrs, celErrs...)
	}
	for _, fe := range ferrs {
		errs = append(errs, fromFieldError(fe))
	}
	return errs
}

func fromFieldError(fe *field.Error) FieldError {
	return FieldError{Field: fe.Field, Message: fe.ErrorBody()}
}

func metaMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "json: "); i >= 0 {
		msg = msg[i+len("json: "):]
	}
	return "invalid metadata: " + msg
}
