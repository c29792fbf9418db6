package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
)

// WriteText writes one line per finding, `file:line: severity: message
// [check]`, then a summary line.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	for _, res := range r.Results {
		b.WriteString(Line(res))
		b.WriteByte('\n')
	}
	errs, warns, _ := r.Counts()
	fmt.Fprintf(&b, "%s, %s: %s, %s\n",
		result.Plural(r.Packages, "package"), result.Plural(r.Resources, "resource"), result.Plural(errs, "error"), result.Plural(warns, "warning"))
	_, err := io.WriteString(w, b.String())
	return err
}

// Line formats one finding as `file:line: severity: message [check]`.
func Line(res result.Result) string {
	loc := ""
	if res.File != nil {
		loc = res.File.Path
		if res.File.Line > 0 {
			loc += fmt.Sprintf(":%d", res.File.Line)
		}
		loc += ": "
	}
	return fmt.Sprintf("%s%s: %s [%s]", loc, res.Severity, res.Message, res.Check)
}

// jsonReport is the -o json document.
type jsonReport struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Results    []result.Result `json:"results"`
	Summary    jsonSummary     `json:"summary"`
}

type jsonSummary struct {
	Packages  int `json:"packages"`
	Resources int `json:"resources"`
	Errors    int `json:"errors"`
	Warnings  int `json:"warnings"`
}

// WriteJSON writes the report as a pkg.pkgserver.dev/v1alpha1
// ValidationReport.
func WriteJSON(w io.Writer, r *Report) error {
	errs, warns, _ := r.Counts()
	results := r.Results
	if results == nil {
		results = []result.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{
		APIVersion: "pkg.pkgserver.dev/v1alpha1",
		Kind:       "ValidationReport",
		Results:    results,
		Summary:    jsonSummary{Packages: r.Packages, Resources: r.Resources, Errors: errs, Warnings: warns},
	})
}

// SARIF 2.1.0, the subset code-scanning UIs read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

var checkDescriptions = map[string]string{
	krm.CheckYAML:           "Files must be well-formed YAML whose documents are mappings.",
	krm.CheckLimits:         "Files and packages must stay within the size, document, alias-expansion and nesting limits.",
	krm.CheckPath:           "Files must not escape the package.",
	CheckKptfile:            "The Kptfile must be a well-formed kpt.dev/v1 Kptfile.",
	CheckStructure:          "Every resource has apiVersion, kind and metadata.name.",
	CheckDuplicate:          "No two resources share group, kind, namespace and name.",
	CheckInternalAnnotation: "Annotations internal to KRM tooling must not be committed.",
	CheckSchema:             "Resources must match the schema of their kind.",
}

// WriteSARIF writes the report as a SARIF 2.1.0 log.
func WriteSARIF(w io.Writer, r *Report, toolVersion string) error {
	var ids []string
	for _, res := range r.Results {
		if !slices.Contains(ids, res.Check) {
			ids = append(ids, res.Check)
		}
	}
	slices.Sort(ids)
	rules := make([]sarifRule, len(ids))
	for i, id := range ids {
		desc := checkDescriptions[id]
		if desc == "" && strings.HasPrefix(id, checkPolicyPrefix) {
			desc = "ValidatingAdmissionPolicy " + strings.TrimPrefix(id, checkPolicyPrefix) + "."
		}
		rules[i] = sarifRule{ID: id, ShortDescription: sarifMessage{Text: desc}}
	}
	results := make([]sarifResult, 0, len(r.Results))
	for _, res := range r.Results {
		sr := sarifResult{
			RuleID:    res.Check,
			RuleIndex: slices.Index(ids, res.Check),
			Level:     sarifLevel(res.Severity),
			Message:   sarifMessage{Text: res.Message},
		}
		if res.File != nil {
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: res.File.Path}}}
			if res.File.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: res.File.Line}
			}
			sr.Locations = []sarifLocation{loc}
		}
		results = append(results, sr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name: "pkgserver", Version: toolVersion,
				InformationURI: "https://github.com/pkgserver/pkgserver", Rules: rules,
			}},
			Results: results,
		}},
	})
}

func sarifLevel(s result.Severity) string {
	switch s {
	case result.Error:
		return "error"
	case result.Warning:
		return "warning"
	default:
		return "note"
	}
}
