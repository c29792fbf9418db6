package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// MetaEdit is what a write asks of a revision's own metadata, kept in its
// Kptfile: labels and annotations (metadata), readiness gates
// (info.readinessGates). A nil field leaves that part as it is; a non-nil
// one, even empty, replaces it.
type MetaEdit struct {
	Labels         map[string]string
	Annotations    map[string]string
	ReadinessGates []string
}

// MaxAnnotationBytes bounds the annotations of a revision, keys and values
// together, as Kubernetes bounds an object's.
const MaxAnnotationBytes = 256 << 10

// check refuses labels and annotations Kubernetes would refuse, and the
// ones pkgserver or KRM tooling own.
func (e *MetaEdit) check() error {
	if e == nil {
		return nil
	}
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(e.Labels)) {
		v := e.Labels[k]
		switch {
		case revision.IsSystemLabel(k):
			problems = append(problems, fmt.Sprintf("label %s: labels of %s are set by pkgserver", k, revision.SystemPrefix))
		case len(validation.IsQualifiedName(k)) > 0:
			problems = append(problems, fmt.Sprintf("label %q: %s", k, strings.Join(validation.IsQualifiedName(k), "; ")))
		case len(validation.IsValidLabelValue(v)) > 0:
			problems = append(problems, fmt.Sprintf("label %s=%q: %s", k, v, strings.Join(validation.IsValidLabelValue(v), "; ")))
		}
	}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(e.Annotations)) {
		size += len(k) + len(e.Annotations[k])
		switch {
		case revision.IsConfigAnnotation(k):
			problems = append(problems, fmt.Sprintf("annotation %s: it speaks of the Kptfile as a resource; edit the Kptfile to change it", k))
		case len(validation.IsQualifiedName(strings.ToLower(k))) > 0:
			problems = append(problems, fmt.Sprintf("annotation %q: %s", k, strings.Join(validation.IsQualifiedName(strings.ToLower(k)), "; ")))
		}
	}
	if size > MaxAnnotationBytes {
		problems = append(problems, fmt.Sprintf("annotations: %d bytes, at most %d", size, MaxAnnotationBytes))
	}
	for _, g := range e.ReadinessGates {
		if g == "" {
			problems = append(problems, "readiness gate: a conditionType is required")
		} else if errs := validation.IsQualifiedName(g); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("readiness gate %q: %s", g, strings.Join(errs, "; ")))
		}
	}
	if len(problems) > 0 {
		return invalid("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Changes tells whether the edit changes what m says.
func (e *MetaEdit) Changes(m revision.Meta) bool {
	if e == nil {
		return false
	}
	return (e.Labels != nil && !maps.Equal(e.Labels, nonNil(m.Labels))) ||
		(e.Annotations != nil && !maps.Equal(e.Annotations, nonNil(m.Annotations))) ||
		(e.ReadinessGates != nil && !slices.Equal(e.ReadinessGates, m.ReadinessGates))
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// apply writes the edit into a Kptfile, keeping everything else it says:
// the labels pkgserver ignores and the annotations of KRM tooling
// (config.kubernetes.io/local-config) stay.
func (e *MetaEdit) apply(kptfile []byte) ([]byte, error) {
	if _, problems := krm.ParseKptfile(kptfile); len(problems) > 0 {
		return nil, fmt.Errorf("line %d: %s; change it through the resources", problems[0].Line, problems[0].Message)
	}
	rn, err := yaml.Parse(string(kptfile))
	if err != nil {
		return nil, err
	}
	if e.Labels != nil {
		labels := maps.Clone(e.Labels)
		for k, v := range rn.GetLabels() {
			if revision.IsSystemLabel(k) {
				labels[k] = v
			}
		}
		if err := rn.SetLabels(labels); err != nil {
			return nil, err
		}
	}
	if e.Annotations != nil {
		annotations := maps.Clone(e.Annotations)
		for k, v := range rn.GetAnnotations() {
			if revision.IsConfigAnnotation(k) {
				annotations[k] = v
			}
		}
		if err := rn.SetAnnotations(annotations); err != nil {
			return nil, err
		}
	}
	if e.ReadinessGates != nil {
		if len(e.ReadinessGates) == 0 {
			info, err := rn.Pipe(yaml.Lookup("info"))
			if err != nil {
				return nil, err
			}
			if info != nil {
				if err := info.PipeE(yaml.Clear("readinessGates")); err != nil {
					return nil, err
				}
			}
		} else {
			gates := yaml.NewListRNode()
			for _, g := range e.ReadinessGates {
				item := yaml.NewMapRNode(&map[string]string{"conditionType": g})
				if err := gates.PipeE(yaml.Append(item.YNode())); err != nil {
					return nil, err
				}
			}
			if err := rn.PipeE(yaml.LookupCreate(yaml.MappingNode, "info"), yaml.SetField("readinessGates", gates)); err != nil {
				return nil, err
			}
		}
	}
	out, err := rn.String()
	return []byte(out), err
}

// editKptfile returns a package tree with its Kptfile edited.
func (o *op) editKptfile(tree string, edit func([]byte) ([]byte, error)) (string, error) {
	entries, err := o.b.ReadTree(tree)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(entries, func(e gitrepo.TreeEntry) bool { return e.Name == "Kptfile" })
	if i < 0 || (entries[i].Mode != gitrepo.ModeFile && entries[i].Mode != gitrepo.ModeExec) {
		return "", invalid("the package has no Kptfile to hold its labels, annotations and readiness gates")
	}
	kf, err := o.b.Read(entries[i].ID)
	if err != nil {
		return "", err
	}
	data, err := edit(kf.Data)
	var inv *Invalid
	switch {
	case errors.Is(err, ErrConflict), errors.As(err, &inv):
		return "", err
	case err != nil:
		return "", invalid("the Kptfile: %v", err)
	}
	if entries[i].ID, err = o.ow.Blob(data); err != nil {
		return "", err
	}
	return o.ow.Tree(entries)
}
