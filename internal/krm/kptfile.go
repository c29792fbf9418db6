package krm

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The Kptfile's group, version and kind.
const (
	KptfileAPIVersion = "kpt.dev/v1"
	KptfileKind       = "Kptfile"
)

// Kptfile is the kpt.dev/v1 Kptfile, field for field as kpt defines it.
type Kptfile struct {
	APIVersion   string        `yaml:"apiVersion,omitempty"`
	Kind         string        `yaml:"kind,omitempty"`
	Metadata     ObjectMeta    `yaml:"metadata,omitempty"`
	Upstream     *Upstream     `yaml:"upstream,omitempty"`
	UpstreamLock *UpstreamLock `yaml:"upstreamLock,omitempty"`
	Info         *PackageInfo  `yaml:"info,omitempty"`
	Pipeline     *Pipeline     `yaml:"pipeline,omitempty"`
	Inventory    *Inventory    `yaml:"inventory,omitempty"`
	Status       *Status       `yaml:"status,omitempty"`
}

// ObjectMeta is the part of Kubernetes object metadata a Kptfile may carry.
type ObjectMeta struct {
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Upstream says where a package was fetched from.
type Upstream struct {
	Type           string `yaml:"type,omitempty"`
	Git            *Git   `yaml:"git,omitempty"`
	UpdateStrategy string `yaml:"updateStrategy,omitempty"`
}

// Git locates a package in a git repository.
type Git struct {
	Repo      string `yaml:"repo,omitempty"`
	Directory string `yaml:"directory,omitempty"`
	Ref       string `yaml:"ref,omitempty"`
}

// UpstreamLock records the exact upstream commit a package was fetched at.
type UpstreamLock struct {
	Type string   `yaml:"type,omitempty"`
	Git  *GitLock `yaml:"git,omitempty"`
}

// GitLock is Git plus the resolved commit.
type GitLock struct {
	Repo      string `yaml:"repo,omitempty"`
	Directory string `yaml:"directory,omitempty"`
	Ref       string `yaml:"ref,omitempty"`
	Commit    string `yaml:"commit,omitempty"`
}

// PackageInfo describes a package.
type PackageInfo struct {
	Site           string          `yaml:"site,omitempty"`
	Emails         []string        `yaml:"emails,omitempty"`
	License        string          `yaml:"license,omitempty"`
	LicenseFile    string          `yaml:"licenseFile,omitempty"`
	Description    string          `yaml:"description,omitempty"`
	Keywords       []string        `yaml:"keywords,omitempty"`
	Man            string          `yaml:"man,omitempty"`
	ReadinessGates []ReadinessGate `yaml:"readinessGates,omitempty"`
}

// ReadinessGate names a condition that must be True before approval.
type ReadinessGate struct {
	ConditionType string `yaml:"conditionType"`
}

// Pipeline lists the functions kpt runs on the package.
type Pipeline struct {
	Mutators   []Function `yaml:"mutators,omitempty"`
	Validators []Function `yaml:"validators,omitempty"`
}

// Function is one step of a pipeline.
type Function struct {
	Image      string            `yaml:"image,omitempty"`
	Exec       string            `yaml:"exec,omitempty"`
	ConfigPath string            `yaml:"configPath,omitempty"`
	ConfigMap  map[string]string `yaml:"configMap,omitempty"`
	Name       string            `yaml:"name,omitempty"`
	Selectors  []Selector        `yaml:"selectors,omitempty"`
	Exclusions []Selector        `yaml:"exclude,omitempty"`
}

// Selector picks the resources a function applies to.
type Selector struct {
	APIVersion  string            `yaml:"apiVersion,omitempty"`
	Kind        string            `yaml:"kind,omitempty"`
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Inventory is the package's inventory object for kpt live apply.
type Inventory struct {
	Namespace   string            `yaml:"namespace,omitempty"`
	Name        string            `yaml:"name,omitempty"`
	InventoryID string            `yaml:"inventoryID,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Status is the package's status as kpt writes it.
type Status struct {
	Conditions []Condition `yaml:"conditions,omitempty"`
}

// Condition is one status condition.
type Condition struct {
	Type    string `yaml:"type"`
	Status  string `yaml:"status"`
	Reason  string `yaml:"reason,omitempty"`
	Message string `yaml:"message,omitempty"`
}

// FieldError is one problem decoding a Kptfile, with its line when known.
type FieldError struct {
	Line    int
	Message string
}

var unmarshalLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// ParseKptfile decodes a Kptfile strictly: unknown fields and wrong types are
// errors, each with its line. The caller must have checked the file's limits
// with ParseDocuments first.
func ParseKptfile(data []byte) (*Kptfile, []FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var kf Kptfile
	err := dec.Decode(&kf)
	if err == nil {
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			line := extra.Line
			if len(extra.Content) > 0 {
				line = extra.Content[0].Line
			}
			return &kf, []FieldError{{Line: line, Message: "Kptfile must hold exactly one YAML document"}}
		}
		return &kf, nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		pe := syntaxError(err)
		return nil, []FieldError{{Line: pe.Line, Message: pe.Message}}
	}
	var errs []FieldError
	for _, e := range te.Errors {
		fe := FieldError{Message: e}
		if m := unmarshalLineRE.FindStringSubmatch(e); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			fe.Message = m[2]
		}
		fe.Message = strings.ReplaceAll(fe.Message, "krm.", "")
		errs = append(errs, fe)
	}
	return &kf, errs
}

// KptfileFunctions tells whether a Kptfile's pipeline lists a function to
// run (what makes rendering its package do anything); ok is false when the
// Kptfile does not parse. A Kptfile that does not mention a pipeline is
// not parsed at all.
func KptfileFunctions(data []byte) (has, ok bool) {
	if !bytes.Contains(data, []byte("pipeline")) {
		return false, true
	}
	kf, errs := ParseKptfile(data)
	if len(errs) > 0 || kf == nil {
		return false, false
	}
	return kf.Pipeline != nil && len(kf.Pipeline.Mutators)+len(kf.Pipeline.Validators) > 0, true
}
