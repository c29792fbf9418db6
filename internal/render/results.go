package render

import (
	"encoding/json"
	"io"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The FunctionResultList's group, version and kind, as kpt writes them.
const (
	ResultListAPIVersion = "kpt.dev/v1"
	ResultListKind       = "FunctionResultList"
)

// ResultList is kpt's FunctionResultList: the results of every function a
// render ran, in order.
type ResultList struct {
	APIVersion string         `json:"apiVersion" yaml:"apiVersion"`
	Kind       string         `json:"kind" yaml:"kind"`
	Metadata   ResultListMeta `json:"metadata" yaml:"metadata"`
	// ExitCode is the render's: 0 on success, 1 when a function failed.
	ExitCode int              `json:"exitCode" yaml:"exitCode"`
	Items    []FunctionResult `json:"items,omitempty" yaml:"items,omitempty"`
}

// ResultListMeta is the FunctionResultList's metadata.
type ResultListMeta struct {
	Name string `json:"name" yaml:"name"`
}

// FunctionResult is what one function run produced.
type FunctionResult struct {
	// Image is the function's image as the Kptfile names it.
	Image string `json:"image,omitempty" yaml:"image,omitempty"`
	// Exec is an exec function's command as the Kptfile gives it.
	Exec string `json:"exec,omitempty" yaml:"exec,omitempty"`
	// Stderr is what the function wrote to its standard error.
	Stderr string `json:"stderr,omitempty" yaml:"stderr,omitempty"`
	// ExitCode is the function's: 0 when it succeeded, non-zero (an exec
	// function's exit status, otherwise 1) when it failed.
	ExitCode int `json:"exitCode" yaml:"exitCode"`
	// Results are the function's structured results.
	Results framework.Results `json:"results,omitempty" yaml:"results,omitempty"`
}

// NewResultList returns an empty FunctionResultList named as kpt names it.
func NewResultList() *ResultList {
	return &ResultList{
		APIVersion: ResultListAPIVersion,
		Kind:       ResultListKind,
		Metadata:   ResultListMeta{Name: "fnresults"},
	}
}

// WriteJSON writes the list as indented JSON.
func (l *ResultList) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

// WriteYAML writes the list as YAML, its fields in kpt's order.
func (l *ResultList) WriteYAML(w io.Writer) error {
	b, err := yaml.Marshal(l)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
