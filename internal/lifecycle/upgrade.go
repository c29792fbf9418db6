package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/filters"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Upgrade names the revisions of an upgrade: the upstream revision the
// local package came from, the newer one to move to, and the local
// package's published revision.
type Upgrade struct {
	OldUpstream, NewUpstream, Local string
	// Strategy is how upstream changes meet local ones (strategies; ""
	// is resource-merge).
	Strategy string
}

// upgradeFiles works out the files of an upgraded package with the
// upgrade's strategy; by default a three-way merge of its resources
// (kyaml's merge3, as kpt's resource-merge strategy): upstream changes
// applied, local edits kept. A field both sides changed to different
// values, or a file both sides changed that is not YAML, is a conflict:
// nothing is created.
func (o *op) upgradeFiles(up Upgrade) (files map[string][]byte, local, upstream *store.Revision, message string, err error) {
	strategy, err := strategyOf(up.Strategy)
	if err != nil {
		return nil, nil, nil, "", err
	}
	ns := o.repo.Object.Namespace
	revs := make([]*store.Revision, 3)
	for i, name := range []string{up.OldUpstream, up.NewUpstream, up.Local} {
		r, err := o.w.Store.GetRevision(o.ctx, ns, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, "", invalid("the revision %s does not exist", name)
		} else if err != nil {
			return nil, nil, nil, "", err
		}
		if r.Lifecycle != revision.Published || r.Number == 0 {
			return nil, nil, nil, "", invalid("an upgrade is made of published v<N> revisions: %s is %s %s", name, r.Lifecycle, r.Revision.Revision)
		}
		revs[i] = r
	}
	oldUp, newUp, loc := revs[0], revs[1], revs[2]
	if oldUp.Repository != newUp.Repository || oldUp.Package != newUp.Package {
		return nil, nil, nil, "", invalid("the old and new upstream revisions are of different packages: %s/%s and %s/%s",
			oldUp.Repository, oldUp.Package, newUp.Repository, newUp.Package)
	}
	if newUp.Number <= oldUp.Number {
		return nil, nil, nil, "", invalid("the new upstream revision %s is not newer than %s", newUp.Revision.Revision, oldUp.Revision.Revision)
	}
	if loc.Repository != o.repo.Object.Name {
		return nil, nil, nil, "", invalid("the local revision %s is of repository %s, not %s", loc.Name, loc.Repository, o.repo.Object.Name)
	}
	contents := make([]map[string][]byte, 3)
	for i, r := range revs {
		if contents[i], err = o.w.Store.Resources(o.ctx, ns, r.Name); err != nil {
			return nil, nil, nil, "", err
		}
	}
	files, conflicts, err := mergeFiles(strategy, contents[0], contents[1], contents[2])
	if err != nil {
		return nil, nil, nil, "", err
	}
	if len(conflicts) > 0 {
		return nil, nil, nil, "", &Invalid{Message: fmt.Sprintf("the upgrade of %s from %s to %s conflicts with local changes in %d place(s)",
			loc.Name, oldUp.Revision.Revision, newUp.Revision.Revision, len(conflicts)), Results: conflicts}
	}
	// The Kptfile is the local one (the upstream one where the strategy
	// replaces the package), pointing at the new upstream.
	upRepo, err := o.w.Store.GetRepository(o.ctx, ns, newUp.Repository)
	if err != nil {
		return nil, nil, nil, "", err
	}
	upFull := upRepo.Config().Full(newUp.Package)
	url := o.w.upstreamURL(upRepo)
	ref := upFull + "/" + newUp.Revision.Revision
	kf := contents[2]["Kptfile"]
	if strategy == pkgv1alpha1.ForceDeleteReplace || strategy == pkgv1alpha1.FastForward {
		kf = contents[1]["Kptfile"]
	}
	if kf == nil {
		return nil, nil, nil, "", invalid("%s has no Kptfile", loc.Name)
	}
	if files["Kptfile"], err = setUpstream(kf, path.Base(loc.Package),
		krm.Upstream{Type: "git", Git: &krm.Git{Repo: url, Directory: upFull, Ref: ref}, UpdateStrategy: strategy},
		krm.UpstreamLock{Type: "git", Git: &krm.GitLock{Repo: url, Directory: upFull, Ref: ref, Commit: newUp.Commit}}); err != nil {
		return nil, nil, nil, "", invalid("the Kptfile of %s: %v", loc.Name, err)
	}
	return files, loc, newUp, fmt.Sprintf("Upgrade %s to %s %s\n", o.cfg.Full(loc.Package), upFull, newUp.Revision.Revision), nil
}

// UpgradePrefix begins the names of the temporary directories a merge
// works in (gitrepo.MkdirTemp): one that a process killed during a merge
// leaves is known as such, and gitrepo.RemoveStaleTemp removes it.
const UpgradePrefix = "pkgserver-upgrade-"

// isYAML tells whether merge3 merges a file.
func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")
}

// merge3 merges the files of a package: YAML resources with kyaml's
// merge3, other files (but the Kptfile) as wholes.
func merge3(original, updated, local map[string][]byte) (map[string][]byte, []result.Result, error) {
	conflicts, err := fieldConflicts(original, updated, local)
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]byte{}
	paths := map[string]bool{}
	for _, m := range []map[string][]byte{original, updated, local} {
		for p := range m {
			paths[p] = true
		}
	}
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}) {
		if isYAML(p) || p == "Kptfile" {
			continue
		}
		o, inO := original[p]
		u, inU := updated[p]
		l, inL := local[p]
		same := func(a []byte, inA bool, b []byte, inB bool) bool { return inA == inB && bytes.Equal(a, b) }
		switch {
		case same(l, inL, o, inO): // unchanged here: upstream's
			if inU {
				out[p] = u
			}
		case same(u, inU, o, inO) || same(u, inU, l, inL): // unchanged upstream
			if inL {
				out[p] = l
			}
		default:
			conflicts = append(conflicts, result.Result{Severity: result.Error, File: &result.File{Path: p}, Check: "upgrade",
				Message: "changed here and upstream: merge by hand"})
		}
	}
	tmp, err := gitrepo.MkdirTemp(UpgradePrefix)
	if err != nil {
		return nil, nil, err
	}
	defer tmp.Remove()
	dir := tmp.Dir
	dirs := []string{filepath.Join(dir, "original"), filepath.Join(dir, "updated"), filepath.Join(dir, "local")}
	for i, m := range []map[string][]byte{original, updated, local} {
		if err := os.MkdirAll(dirs[i], 0o700); err != nil {
			return nil, nil, err
		}
		for p, data := range m {
			if !isYAML(p) {
				continue
			}
			f := filepath.Join(dirs[i], filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
				return nil, nil, err
			}
			if err := os.WriteFile(f, data, 0o600); err != nil {
				return nil, nil, err
			}
		}
	}
	m := filters.Merge3{OriginalPath: dirs[0], UpdatedPath: dirs[1], DestPath: dirs[2], MatchFilesGlob: []string{"*.yaml", "*.yml"}}
	if err := m.Merge(); err != nil {
		return nil, nil, fmt.Errorf("three-way merge: %w", err)
	}
	err = filepath.WalkDir(dirs[2], func(f string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dirs[2], f)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	lost, err := lostChanges(original, local, out, conflicts)
	if err != nil {
		return nil, nil, err
	}
	return out, append(conflicts, lost...), nil
}

// lostChanges finds the local changes the merge did not keep (kyaml
// replaces a list without merge keys whole, with upstream's when upstream
// changed it): each is a conflict to merge by hand. Fields reported as
// conflicts already are not reported again.
func lostChanges(original, local, merged map[string][]byte, known []result.Result) ([]result.Result, error) {
	o, _, err := resources(original)
	if err != nil {
		return nil, err
	}
	l, where, err := resources(local)
	if err != nil {
		return nil, err
	}
	m, _, err := resources(merged)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range known {
		if r.File != nil && r.Field != nil {
			seen[r.File.Path+"\x00"+r.Field.Path] = true
		}
	}
	var out []result.Result
	for _, k := range slices.Sorted(maps.Keys(l)) {
		of, lf, mf := o[k], l[k], m[k]
		if mf == nil {
			continue // removed by the merge: upstream deleted it
		}
		for _, f := range slices.Sorted(maps.Keys(lf)) {
			lv := lf[f]
			ov, inOriginal := of[f]
			if inOriginal && ov == lv {
				continue // not a local change
			}
			if mv, ok := mf[f]; ok && mv == lv {
				continue // kept
			}
			if seen[where[k]+"\x00"+f] {
				continue
			}
			out = append(out, result.Result{Severity: result.Error, File: &result.File{Path: where[k]}, Field: &result.Field{Path: f}, Check: "upgrade",
				Message: fmt.Sprintf("%s: the local change of %s to %q would be lost: upstream changed the list or object it is in; merge by hand", k, f, lv)})
		}
	}
	return out, nil
}

// resourceKey identifies a resource across the three versions.
func resourceKey(rn *yaml.RNode) string {
	return rn.GetApiVersion() + "/" + rn.GetKind() + "/" + rn.GetNamespace() + "/" + rn.GetName()
}

// resources reads the YAML resources of a package's files by identity,
// each flattened to field path → value, with the file it is in.
func resources(files map[string][]byte) (map[string]map[string]string, map[string]string, error) {
	flat, where := map[string]map[string]string{}, map[string]string{}
	for p, data := range files {
		if !isYAML(p) {
			continue
		}
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(data), OmitReaderAnnotations: true}).Read()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, rn := range nodes {
			m, err := rn.Map()
			if err != nil {
				continue
			}
			fields := map[string]string{}
			flatten("", m, fields)
			k := resourceKey(rn)
			flat[k], where[k] = fields, p
		}
	}
	return flat, where, nil
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			flatten(joinField(prefix, k), e, out)
		}
	case []any:
		// Lists of objects with names (containers, ports, env) are keyed by
		// name, as kyaml merges them; others by position.
		named := len(t) > 0
		for _, e := range t {
			m, ok := e.(map[string]any)
			if !ok {
				named = false
				break
			}
			if _, ok := m["name"].(string); !ok {
				named = false
				break
			}
		}
		for i, e := range t {
			if named {
				flatten(fmt.Sprintf("%s[name=%s]", prefix, e.(map[string]any)["name"]), e, out)
			} else {
				flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
			}
		}
	default:
		out[prefix] = fmt.Sprint(t)
	}
}

func joinField(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// fieldConflicts finds the fields of resources that both the local package
// and the new upstream changed from the original, to different values.
func fieldConflicts(original, updated, local map[string][]byte) ([]result.Result, error) {
	o, _, err := resources(original)
	if err != nil {
		return nil, err
	}
	u, _, err := resources(updated)
	if err != nil {
		return nil, err
	}
	l, where, err := resources(local)
	if err != nil {
		return nil, err
	}
	var out []result.Result
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		of, uf, lf := o[k], u[k], l[k]
		if of == nil || uf == nil {
			continue // added here, or removed upstream: no field to disagree on
		}
		fields := map[string]bool{}
		for _, m := range []map[string]string{of, uf, lf} {
			for f := range m {
				fields[f] = true
			}
		}
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			ov, oOK := of[f]
			uv, uOK := uf[f]
			lv, lOK := lf[f]
			changedUp := uOK != oOK || uv != ov
			changedHere := lOK != oOK || lv != ov
			if changedUp && changedHere && (uOK != lOK || uv != lv) {
				out = append(out, result.Result{Severity: result.Error, File: &result.File{Path: where[k]}, Field: &result.Field{Path: f},
					Check: "upgrade", Message: fmt.Sprintf("%s: %s is %q here and %q upstream (was %q)", k, f, lv, uv, ov)})
			}
		}
	}
	return out, nil
}

// upgradeTree writes the files of an upgrade, with the modes the local
// package (else the new upstream) gives them.
func (o *op) upgradeTree(files map[string][]byte, local, upstream string) (string, error) {
	modes := map[string]uint32{}
	for _, tree := range []string{upstream, local} { // local's win
		m, err := o.w.modes(o.ctx, tree)
		if err != nil {
			return "", err
		}
		for p, mode := range m {
			modes[p] = mode
		}
	}
	return o.ow.BuildTree(fileList(files, modes))
}
