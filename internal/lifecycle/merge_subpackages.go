package lifecycle

import (
	"bytes"
	"maps"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
	kymerge3 "sigs.k8s.io/kustomize/kyaml/yaml/merge3"

	"github.com/pkgserver/pkgserver/internal/result"
)

// mergePackages is the resource-merge of a package holding subpackages,
// as kpt's resource-merge updates one: the package and each subpackage
// (a directory holding a Kptfile in any of the three versions) are merged
// on their own, parents first, each with its own files only — a resource
// of a subpackage never meets a parent's resource of the same name. Per
// subpackage, as kpt decides:
//   - added upstream only: taken from upstream;
//   - added here only, or removed here: left as it is here;
//   - added both upstream and here: a conflict;
//   - removed upstream: removed here too when unchanged here, kept whole
//     when changed;
//   - whose Kptfile's upstream was changed here (a subpackage updated from
//     its own upstream): left as it is here;
//   - in all three: its resources merged three ways, its Kptfile merged
//     as a resource, its other files taken from upstream unless changed
//     here.
//
// The root package's Kptfile is left out of the result, as merge3 leaves
// it: the upgrade writes it.
func mergePackages(original, updated, local map[string][]byte) (map[string][]byte, []result.Result, error) {
	subs := subpackageDirs(original, updated, local)
	if len(subs) == 0 {
		return merge3(original, updated, local)
	}
	out := map[string][]byte{}
	var conflicts []result.Result
	kept := []string{} // subpackages whose whole tree the decision above covers
	for _, dir := range append([]string{""}, subs...) {
		if underAny(dir, kept) {
			continue
		}
		o, u, l := ownFiles(original, dir, subs), ownFiles(updated, dir, subs), ownFiles(local, dir, subs)
		if dir != "" {
			decided, found := decideSubpackage(dir, original, updated, local, out)
			conflicts = append(conflicts, found...)
			if decided {
				kept = append(kept, dir)
				continue
			}
		}
		merged, found, err := merge3(o, u, l)
		if err != nil {
			return nil, nil, err
		}
		if dir != "" {
			kf, err := mergeKptfile(o["Kptfile"], u["Kptfile"], l["Kptfile"])
			if err != nil {
				found = append(found, result.Result{Severity: result.Error, File: &result.File{Path: "Kptfile"}, Check: "upgrade",
					Message: "the subpackage's Kptfile cannot be merged: " + err.Error()})
			} else {
				merged["Kptfile"] = kf
			}
		}
		for p, b := range merged {
			out[path.Join(dir, p)] = b
		}
		for _, c := range found {
			if c.File != nil {
				c.File.Path = path.Join(dir, c.File.Path)
			}
			conflicts = append(conflicts, c)
		}
	}
	return out, conflicts, nil
}

// decideSubpackage settles a subpackage that is not in all three versions,
// or was updated here from its own upstream, copying what stays into out.
// It says whether it did (nothing left to merge).
func decideSubpackage(dir string, original, updated, local, out map[string][]byte) (bool, []result.Result) {
	o, u, l := subtree(original, dir), subtree(updated, dir), subtree(local, dir)
	take := func(files map[string][]byte) {
		for p, b := range files {
			out[path.Join(dir, p)] = b
		}
	}
	switch inO, inU, inL := len(o) > 0, len(u) > 0, len(l) > 0; {
	case !inO && inU && inL:
		take(l)
		return true, []result.Result{{Severity: result.Error, File: &result.File{Path: path.Join(dir, "Kptfile")}, Check: "upgrade",
			Message: "subpackage " + dir + " added both upstream and here: merge by hand"}}
	case !inO && inU:
		take(u)
		return true, nil
	case !inO || !inL: // added here, or removed here
		take(l)
		return true, nil
	case !inU:
		if !maps.EqualFunc(o, l, bytes.Equal) {
			take(l) // changed here: kept
		}
		return true, nil
	}
	if upstreamChanged(o["Kptfile"], l["Kptfile"]) {
		take(l)
		return true, nil
	}
	return false, nil
}

// upstreamChanged tells whether a subpackage's Kptfile names another
// upstream here than in the original: it was updated on its own.
func upstreamChanged(original, local []byte) bool {
	return upstreamOf(original) != upstreamOf(local)
}

// upstreamOf is a Kptfile's upstream and upstream lock as YAML, the
// Kptfile's bytes when it does not parse.
func upstreamOf(kptfile []byte) string {
	n, err := yaml.Parse(string(kptfile))
	if err != nil {
		return string(kptfile)
	}
	var s strings.Builder
	for _, f := range []string{"upstream", "upstreamLock"} {
		if v := n.Field(f); v != nil {
			t, _ := v.Value.String()
			s.WriteString(f + ":\n" + t)
		}
	}
	return s.String()
}

// mergeKptfile merges a subpackage's Kptfile three ways as a resource:
// upstream's changes applied, local ones kept.
func mergeKptfile(original, updated, local []byte) ([]byte, error) {
	switch {
	case local == nil:
		return updated, nil
	case updated == nil || original == nil || bytes.Equal(original, updated):
		return local, nil
	case bytes.Equal(original, local):
		return updated, nil
	}
	s, err := kymerge3.MergeStrings(string(local), string(original), string(updated), true)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// subpackageDirs lists the directories holding a Kptfile below the root in
// any of the versions, parents before their subpackages.
func subpackageDirs(versions ...map[string][]byte) []string {
	set := map[string]bool{}
	for _, files := range versions {
		for p := range files {
			if dir, ok := strings.CutSuffix(p, "/Kptfile"); ok {
				set[dir] = true
			}
		}
	}
	dirs := slices.Collect(maps.Keys(set))
	slices.SortFunc(dirs, func(a, b string) int {
		if c := strings.Count(a, "/") - strings.Count(b, "/"); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return dirs
}

// ownFiles returns the files of the package at dir ("" the root) without
// those of its subpackages, by paths relative to it.
func ownFiles(files map[string][]byte, dir string, subs []string) map[string][]byte {
	out := map[string][]byte{}
	for p, b := range files {
		rel, ok := relTo(p, dir)
		if !ok || owner(p, subs) != dir {
			continue
		}
		out[rel] = b
	}
	return out
}

// subtree returns the files below dir, subpackages included, by paths
// relative to it.
func subtree(files map[string][]byte, dir string) map[string][]byte {
	out := map[string][]byte{}
	for p, b := range files {
		if rel, ok := relTo(p, dir); ok {
			out[rel] = b
		}
	}
	return out
}

// owner is the innermost package directory among subs holding the file at
// p, "" for the root.
func owner(p string, subs []string) string {
	best := ""
	for _, d := range subs {
		if strings.HasPrefix(p, d+"/") && len(d) > len(best) {
			best = d
		}
	}
	return best
}

func relTo(p, dir string) (string, bool) {
	if dir == "" {
		return p, true
	}
	return strings.CutPrefix(p, dir+"/")
}

func underAny(dir string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(dir, d+"/") {
			return true
		}
	}
	return false
}
