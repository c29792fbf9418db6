// Package result defines validation findings in the shape of KRM function
// results (the kpt functions specification), shared by every validation layer
// and every report format.
package result

import (
	"cmp"
	"slices"
	"strconv"
)

// Severity is how much a finding matters. Errors block a push or an update;
// warnings and infos are shown and let it through.
type Severity string

// The severities of the KRM functions specification.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// rank orders severities from the most to the least severe.
func (s Severity) rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

// ResourceRef identifies the resource a finding is about.
type ResourceRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
}

// Field is the field of a resource a finding is about, as a dotted path with
// list indexes (spec.template.spec.containers[0].image).
type Field struct {
	Path string `json:"path"`
}

// File is where a finding is: the file's path and, when known, the 1-based
// line.
type File struct {
	Path string `json:"path"`
	Line int    `json:"line,omitempty"`
}

// Result is one finding.
type Result struct {
	Severity    Severity     `json:"severity"`
	Message     string       `json:"message"`
	File        *File        `json:"file,omitempty"`
	ResourceRef *ResourceRef `json:"resourceRef,omitempty"`
	Field       *Field       `json:"field,omitempty"`
	// Check names the check or policy that produced the finding.
	Check string `json:"check"`
}

// Sort orders results by file, line, severity, check and message, so that
// reports are deterministic whatever order the checks ran in.
func Sort(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		return cmp.Or(
			cmp.Compare(a.path(), b.path()),
			cmp.Compare(a.line(), b.line()),
			cmp.Compare(a.Severity.rank(), b.Severity.rank()),
			cmp.Compare(a.Check, b.Check),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

func (r Result) path() string {
	if r.File == nil {
		return ""
	}
	return r.File.Path
}

func (r Result) line() int {
	if r.File == nil {
		return 0
	}
	return r.File.Line
}

// Count returns how many results have each severity.
func Count(rs []Result) (errors, warnings, infos int) {
	for _, r := range rs {
		switch r.Severity {
		case Error:
			errors++
		case Warning:
			warnings++
		default:
			infos++
		}
	}
	return errors, warnings, infos
}

// Plural counts: "1 error", "2 errors".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// MostSevere returns the more severe of two severities.
func MostSevere(a, b Severity) Severity {
	if b.rank() < a.rank() {
		return b
	}
	return a
}
