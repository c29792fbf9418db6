package render

import (
	"errors"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A function may change a resource's path, index or id annotation under
// its current name or its legacy one; around the starlark function the two
// are reconciled as kyaml's kio.PreprocessResourcesForInternalAnnotationMigration
// and kio.ReconcileInternalAnnotations do, on the nodes directly.

var errMismatchedAnnotations = map[string]error{
	kioutil.PathAnnotation:  errors.New("resource input to function has mismatched legacy and internal path annotations"),
	kioutil.IndexAnnotation: errors.New("resource input to function has mismatched legacy and internal index annotations"),
	kioutil.IdAnnotation:    errors.New("resource input to function has mismatched legacy and internal id annotations"),
}

// migrationSnapshot is what each input carried before the function, by the
// migration id it is given.
type migrationSnapshot map[string]map[string]string

// preprocessAnnotations gives each input a migration id and both names of
// its annotations, refusing an input whose two names disagree.
func preprocessAnnotations(inputs []*yaml.RNode) (migrationSnapshot, error) {
	snap := make(migrationSnapshot, len(inputs))
	for i, n := range inputs {
		id := strconv.Itoa(i)
		setAnnotation(n, kioutil.InternalAnnotationsMigrationResourceIDAnnotation, id)
		snap[id] = internalAnnotations(n)
		copyLegacyAnnotations(n)
		if err := checkMismatched(n); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// internalAnnotations are a resource's internal annotations and the legacy
// names of path, index and id.
func internalAnnotations(n *yaml.RNode) map[string]string {
	out := map[string]string{}
	a := annotationsNode(n)
	if a == nil {
		return out
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		k := a.Content[i].Value
		if strings.HasPrefix(k, "internal.config.kubernetes.io/") || k == legacyPathAnnotation ||
			k == legacyIndexAnnotation || k == legacyIDAnnotation {
			out[k] = a.Content[i+1].Value
		}
	}
	return out
}

func checkMismatched(n *yaml.RNode) error {
	for _, p := range legacyPairs {
		legacy, current := annotationValue(n, p[0]), annotationValue(n, p[1])
		if current != "" && legacy != "" && current != legacy {
			return errMismatchedAnnotations[p[1]]
		}
	}
	return nil
}

// reconcileAnnotations makes each output's two names of an annotation
// agree, the one the function changed winning, keeps only the names the
// inputs used, and drops the migration id.
func reconcileAnnotations(items []*yaml.RNode, snap migrationSnapshot) error {
	useInternal, useLegacy, err := annotationsFormat(snap)
	if err != nil {
		return err
	}
	for _, n := range items {
		for _, p := range legacyPairs {
			legacy, current := annotationValue(n, p[0]), annotationValue(n, p[1])
			switch {
			case current == "" && legacy != "":
				setAnnotation(n, p[1], legacy)
			case legacy == "" && current != "":
				setAnnotation(n, p[0], current)
			}
		}
		if err := reconcileAltered(n, snap); err != nil {
			return err
		}
		for _, p := range legacyPairs {
			if !useLegacy {
				clearAnnotation(n, p[0])
			}
			if !useInternal {
				clearAnnotation(n, p[1])
			}
		}
		if err := checkMismatched(n); err != nil {
			return err
		}
		clearAnnotation(n, kioutil.InternalAnnotationsMigrationResourceIDAnnotation)
	}
	return nil
}

// reconcileAltered carries a change the function made to a path or index
// under one name over to the other.
func reconcileAltered(n *yaml.RNode, snap migrationSnapshot) error {
	original, found := snap[annotationValue(n, kioutil.InternalAnnotationsMigrationResourceIDAnnotation)]
	if !found {
		return nil
	}
	for _, p := range legacyPairs[:2] {
		was, ok := original[p[1]]
		if !ok {
			was = original[p[0]]
		}
		legacy, current := annotationValue(n, p[0]), annotationValue(n, p[1])
		switch {
		case was == "":
		case was != current && was != legacy && current != legacy:
			return errMismatchedAnnotations[p[1]]
		case was != current:
			setAnnotation(n, p[0], current)
		case was != legacy:
			setAnnotation(n, p[1], legacy)
		}
	}
	return nil
}

// annotationsFormat tells whether the inputs used the current names, the
// legacy ones or both; all inputs that have any must agree.
func annotationsFormat(snap migrationSnapshot) (useInternal, useLegacy bool, err error) {
	if len(snap) == 0 {
		return true, true, nil
	}
	var internal, legacy *bool
	for _, annos := range snap {
		var foundCurrent, foundLegacy bool
		for _, p := range legacyPairs {
			_, l := annos[p[0]]
			_, c := annos[p[1]]
			foundLegacy, foundCurrent = foundLegacy || l, foundCurrent || c
		}
		if !foundCurrent && !foundLegacy {
			continue
		}
		if internal == nil {
			internal, legacy = &foundCurrent, &foundLegacy
		}
		if foundCurrent != *internal || foundLegacy != *legacy {
			return false, false, errors.New("the annotation formatting in the input resources is not consistent")
		}
	}
	if internal != nil {
		useInternal, useLegacy = *internal, *legacy
	}
	return useInternal, useLegacy, nil
}
