package hooks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/revision"
)

// Accepted means visible: a push is refused when the index would not make a
// revision of a ref it creates or updates, or would stop making one of a
// ref it leaves alone. Both are worked out with the index's own rules —
// observe.ObserveRefs reads the refs as they would land, and
// revision.DerivePackage derives the revisions of each package the push
// names — before and after the push, so that what is decided here is what
// the index then does.

// observer reads as the index observes, through the decision's batch,
// with one cache of trees for the decision's questions.
func (k *check) observer() *observe.Reader {
	if k.obs == nil {
		k.obs = observe.WithBatch(k.ctx, k.batch, k.cfg)
	}
	return k.obs
}

// indexable refuses the packages queued for validation whose trees the
// index would not hold (a file name git should not have accepted, a
// submodule), as observe judges them: validating them would report the
// consequence, not the cause. A subpackage (a Kptfile below the package
// root) is content of the package, which the index holds with it.
func (k *check) indexable() error {
	if len(k.order) == 0 {
		return nil
	}
	trees := make([]string, len(k.order))
	for i, key := range k.order {
		trees[i] = k.pkgs[key].tree
	}
	problems, err := k.observer().TreeProblems(trees)
	if err != nil {
		return err
	}
	for i, key := range k.order {
		if problems[i] == "" {
			continue
		}
		p := k.pkgs[key]
		for _, ref := range p.refs {
			k.refuse(ref, "package %s: %s", p.full, problems[i])
		}
	}
	return nil
}

// visible refuses the refs of the contract the push creates or updates that
// would not become revisions, and the push when a ref it leaves alone was a
// revision before it and would not be one after.
func (k *check) visible(branchBefore string) error {
	pushed, touched, pkgs := k.pushedRefs()
	if len(pkgs) == 0 {
		return nil
	}
	existing, err := k.existingRefs(pkgs)
	if err != nil {
		return err
	}
	before, after, err := k.beforeAndAfter(branchBefore, pkgs, pushed, existing)
	if err != nil {
		return err
	}
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		k.hidden(pkg, before[pkg], after[pkg], touched)
	}
	return nil
}

// pushedRefs returns the refs of the contract the push updates (but the
// branch), every ref it updates, and the packages they name with those the
// branch adds or changes.
func (k *check) pushedRefs() (pushed, touched map[string]revision.RefUpdate, pkgs map[string]bool) {
	pushed, touched, pkgs = map[string]revision.RefUpdate{}, map[string]revision.RefUpdate{}, map[string]bool{}
	branchRef := revision.BranchesPrefix + k.cfg.Branch
	for _, u := range k.push.Updates {
		touched[u.Ref] = u
		src, ok, err := k.cfg.ParseRef(u.Ref)
		if !ok || err != nil || src.Kind == revision.KindBranch {
			continue
		}
		pushed[u.Ref] = u
		pkgs[src.Package] = true
	}
	// The packages the branch adds or changes: its revision of each
	// claims the branch's name as a workspace.
	for _, key := range k.order {
		p := k.pkgs[key]
		if !slices.Contains(p.refs, branchRef) {
			continue
		}
		pkg := p.full
		if k.cfg.Directory != "" {
			pkg = strings.TrimPrefix(pkg, k.cfg.Directory+"/")
		}
		pkgs[pkg] = true
	}
	return pushed, touched, pkgs
}

// existingRefs lists the refs of the contract below the packages' paths
// as they are before the push.
func (k *check) existingRefs(pkgs map[string]bool) ([]gitrepo.Ref, error) {
	kinds := []string{revision.TagsPrefix, revision.DraftsPrefix, revision.ProposedPrefix, revision.DeletionProposedPrefix}
	if len(pkgs) > pkgcheck.BulkTagLookups {
		tags, err := k.tagList.All()
		if err != nil {
			return nil, err
		}
		branches, err := k.push.Repo.RefsUnderAll(k.ctx, kinds[1:]...)
		if err != nil {
			return nil, err
		}
		return append(slices.Clone(tags), branches...), nil
	}
	// A few packages: their own refs only (git matches every ref against
	// every prefix, so many packages list all instead), and their tags as
	// the decision listed them already, if it did.
	var existing []gitrepo.Ref
	var prefixes []string
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		full := k.cfg.Full(pkg)
		for _, p := range kinds {
			if p == revision.TagsPrefix {
				if tags, ok := k.tagList.Listed(full); ok {
					existing = append(existing, tags...)
					continue
				}
			}
			prefixes = append(prefixes, p+full+"/")
		}
	}
	listed, err := k.push.Repo.RefsUnderAll(k.ctx, prefixes...)
	if err != nil {
		return nil, err
	}
	return append(existing, listed...), nil
}

// beforeAndAfter observes the refs of each package as they are before the
// push and as they would be after it, as the index would.
func (k *check) beforeAndAfter(branchBefore string, pkgs map[string]bool, pushed map[string]revision.RefUpdate, existing []gitrepo.Ref) (before, after map[string][]revision.Observation, err error) {
	var (
		refs       []gitrepo.Ref
		srcs       []revision.Source
		was, would = map[string][]int{}, map[string][]int{}
	)
	add := func(ref gitrepo.Ref, src revision.Source) int {
		refs, srcs = append(refs, ref), append(srcs, src)
		return len(refs) - 1
	}
	for _, ref := range existing {
		src, ok, err := k.cfg.ParseRef(ref.Name)
		if !ok || err != nil || !pkgs[src.Package] || gitrepo.ValidateRefName(ref.Name) != nil {
			continue // a ref below another package's path, or one the index reports by itself
		}
		i := add(ref, src)
		was[src.Package] = append(was[src.Package], i)
		if _, moved := pushed[ref.Name]; !moved {
			would[src.Package] = append(would[src.Package], i)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(pushed)) {
		u := pushed[name]
		if u.New == revision.ZeroID {
			continue
		}
		src, _, _ := k.cfg.ParseRef(name)
		commit, err := k.peel(u.New)
		if err != nil {
			k.refuse(name, "%v", err)
			continue
		}
		i := add(gitrepo.Ref{Name: name, Target: u.New, Commit: commit, Annotated: commit != u.New}, src)
		would[src.Package] = append(would[src.Package], i)
	}
	// The branch's revision of each package takes the branch's name as its
	// workspace.
	branchRef := revision.BranchesPrefix + k.cfg.Branch
	if branch, ok, err := k.cfg.ParseRef(branchRef); ok && err == nil {
		for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
			branch.Package = pkg
			if branchBefore != "" {
				was[pkg] = append(was[pkg], add(gitrepo.Ref{Name: branchRef, Target: branchBefore, Commit: branchBefore}, branch))
			}
			if k.branchTip != "" {
				would[pkg] = append(would[pkg], add(gitrepo.Ref{Name: branchRef, Target: k.branchTip, Commit: k.branchTip}, branch))
			}
		}
	}
	obs, err := k.observer().Observe(refs, srcs)
	if err != nil {
		return nil, nil, err
	}
	before, after = map[string][]revision.Observation{}, map[string][]revision.Observation{}
	for pkg := range pkgs {
		before[pkg], after[pkg] = revisionsOf(obs, was[pkg]), revisionsOf(obs, would[pkg])
	}
	return before, after, nil
}

// revisionsOf picks the observations that are revisions or meant as ones.
func revisionsOf(obs []revision.Observation, idx []int) []revision.Observation {
	var out []revision.Observation
	for _, i := range idx {
		o := obs[i]
		if o.Kind == revision.KindTag && o.Number == 0 && o.Tree == "" && o.Problem == "" {
			continue // a tag of another shape naming no package: not a revision, nor meant as one
		}
		if o.Kind == revision.KindBranch && o.Tree == "" {
			continue // the branch does not hold the package
		}
		out = append(out, o)
	}
	return out
}

// hidden derives a package's revisions before and after the push, and
// refuses the refs the push updates that would not be revisions, and the
// push if it would hide one it leaves alone.
func (k *check) hidden(pkg string, before, after []revision.Observation, touched map[string]revision.RefUpdate) {
	// Compared by ref, not by problem: a problem's message names what
	// blocks the ref, which a push may change without hiding anything.
	revsBefore, problemsBefore := revision.DerivePackage(k.cfg, pkg, before)
	wasRevision, hadProblem := map[string]bool{}, map[string]bool{}
	for _, r := range revsBefore {
		wasRevision[r.Ref] = true
	}
	for _, p := range problemsBefore {
		hadProblem[p.Ref] = true
	}
	_, will := revision.DerivePackage(k.cfg, pkg, after)
	for _, p := range will {
		u, isTouched := touched[p.Ref]
		switch {
		case isTouched && u.New != revision.ZeroID:
			k.refuse(p.Ref, "%s", p.Message)
		case isTouched:
			// Deleted by the push: nothing of it is left to hide.
		case wasRevision[p.Ref]:
			k.refused = append(k.refused, fmt.Sprintf("pkgserver: refused: the push would hide %s: %s", p.Ref, p.Message))
		case !hadProblem[p.Ref]:
			// Not a revision before either (a deletion proposal
			// left behind by its tag's deletion): told, not refused.
			k.notes = append(k.notes, fmt.Sprintf("pkgserver: warning: %s: %s", p.Ref, p.Message))
		}
	}
}
