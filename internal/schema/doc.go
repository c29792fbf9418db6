// Package schema checks Kubernetes objects against OpenAPI schemas offline:
// the built-in kinds against the schemas the Kubernetes project publishes
// (embedded, see ./gen), custom resources against the CustomResourceDefinitions
// found beside them. Validation is the API server's own code for custom
// resources (k8s.io/apiextensions-apiserver): structural pruning for unknown
// fields, the OpenAPI validator for types and formats, list invariants,
// metadata rules, and x-kubernetes-validations CEL rules.
package schema
