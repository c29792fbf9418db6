// Package policy evaluates Kubernetes ValidatingAdmissionPolicies on the
// resources of a package, offline, with the API server's own CEL
// environment, libraries and cost limits: matchConstraints,
// matchConditions, variables, validations with message, messageExpression
// and reason, params, and the bindings' validationActions, which set a
// finding's severity (Deny: error, Warn: warning, Audit: info).
package policy
