package lifecycle

import (
	"bytes"
	"maps"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/result"
)

// strategies are the upgrade strategies, as Porch and kpt name them.
var strategies = []string{pkgv1alpha1.ResourceMerge, pkgv1alpha1.CopyMerge, pkgv1alpha1.ForceDeleteReplace, pkgv1alpha1.FastForward}

// strategyOf is the upgrade strategy asked for, resource-merge when none
// is; an unknown one is refused.
func strategyOf(s string) (string, error) {
	if s == "" {
		return pkgv1alpha1.ResourceMerge, nil
	}
	if !slices.Contains(strategies, s) {
		return "", invalid("the upgrade strategy %q is not one of %v", s, strategies)
	}
	return s, nil
}

// mergeFiles applies an upgrade strategy to the files of the old upstream
// revision, the new one and the local one. The Kptfile of the result is
// the one the strategy keeps; its upstream and lock are set afterwards.
// Conflicts (resource-merge) are findings, with no files.
func mergeFiles(strategy string, original, updated, local map[string][]byte) (map[string][]byte, []result.Result, error) {
	switch strategy {
	case pkgv1alpha1.CopyMerge:
		// Upstream files copied over local ones; files only local stay, and
		// the Kptfile is the local one.
		files := maps.Clone(local)
		for p, b := range updated {
			if p != "Kptfile" {
				files[p] = b
			}
		}
		return files, nil, nil
	case pkgv1alpha1.FastForward:
		changed, err := localChanges(original, local)
		if err != nil {
			return nil, nil, err
		}
		if len(changed) > 0 {
			return nil, nil, invalid("fast-forward: the local package changed since its upstream lock (%v); upgrade with another strategy", changed)
		}
		return maps.Clone(updated), nil, nil
	case pkgv1alpha1.ForceDeleteReplace:
		// The upstream package as it is; local changes are dropped.
		return maps.Clone(updated), nil, nil
	}
	return mergePackages(original, updated, local)
}

// localChanges lists the files of the local package that differ from the
// upstream revision it came from: added, removed or changed. The Kptfile
// counts without what a clone or upgrade writes into it (its name, its
// upstream and upstream lock).
func localChanges(original, local map[string][]byte) ([]string, error) {
	var changed []string
	for _, p := range slices.Sorted(maps.Keys(local)) {
		o, ok := original[p]
		if !ok {
			changed = append(changed, p)
			continue
		}
		same := bytes.Equal(o, local[p])
		if p == "Kptfile" && !same {
			a, err := kptfileWithoutUpstream(o)
			if err != nil {
				return nil, err
			}
			b, err := kptfileWithoutUpstream(local[p])
			if err != nil {
				return nil, err
			}
			same = a == b
		}
		if !same {
			changed = append(changed, p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(original)) {
		if _, ok := local[p]; !ok {
			changed = append(changed, p)
		}
	}
	return changed, nil
}

// kptfileWithoutUpstream is a Kptfile as YAML text without its name, its
// upstream and its upstream lock.
func kptfileWithoutUpstream(data []byte) (string, error) {
	rn, err := yaml.Parse(string(data))
	if err != nil {
		return "", invalid("the Kptfile: %v", err)
	}
	for _, f := range []string{"upstream", "upstreamLock"} {
		if err := rn.PipeE(yaml.Clear(f)); err != nil {
			return "", err
		}
	}
	if err := rn.PipeE(yaml.Lookup("metadata"), yaml.Clear("name")); err != nil {
		return "", err
	}
	return rn.MustString(), nil
}
