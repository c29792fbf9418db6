// Package policies holds the ValidatingAdmissionPolicies pkgserver applies
// to every package unless told not to (--no-default-policies). Each file is
// a policy with its binding, in the format a cluster admin would apply; the
// binding's validationActions set the severity of its findings.
package policies

import "embed"

// FS holds the default policies, one YAML file each.
//
//go:embed *.yaml
var FS embed.FS
