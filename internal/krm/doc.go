// Package krm reads a KRM package — a directory holding a Kptfile — from an
// fs.FS, so that a checkout and a git tree are read the same way. Reading is
// defensive: every limit (bytes, files, documents, alias expansion, nesting)
// is explicit, files that escape the package are reported, and malformed YAML
// becomes a finding rather than an error or a crash.
package krm
