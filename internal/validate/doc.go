// Package validate is the validation engine: it reads a package (see krm)
// and checks it layer by layer — safe parsing, KRM structure, the Kptfile,
// schemas (see schema) and ValidatingAdmissionPolicies (see policy) — and
// reports findings as text, JSON or SARIF. The same engine serves the
// `pkgserver validate` command, the pre-receive hook, webhooks and API writes.
package validate
