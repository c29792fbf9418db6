package reconcile

import (
	"maps"
	"slices"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// blobReadAhead bounds the blob contents read from git and not yet written.
const blobReadAhead = 64 << 20

// missingTrees returns the trees the index lacks; without an index, all.
func (p *pass) missingTrees(ids []string) ([]string, error) {
	if p.r.store == nil {
		return ids, nil
	}
	return p.r.store.MissingTrees(p.ctx, ids)
}

func (p *pass) missingBlobsOf(ids []string) ([]string, error) {
	if p.r.store == nil {
		return ids, nil
	}
	return p.r.store.MissingBlobs(p.ctx, ids)
}

// derive derives the revisions of every affected package from its
// observations: those of this pass, and the index's for the refs that did
// not move.
func (p *pass) derive() error {
	pkgs := slices.Sorted(maps.Keys(p.affected))
	var stored []revision.Observation
	if p.mode != modeFull && len(pkgs) > 0 {
		var err error
		if stored, err = p.r.store.Observations(p.ctx, p.repo.ID, pkgs); err != nil {
			return err
		}
	}
	branchSrc, _, _ := p.cfg.ParseRef(p.branchRef())
	byPkg := map[string][]revision.Observation{}
	for _, o := range stored {
		if o.Kind == revision.KindBranch {
			if _, replaced := p.newBranch[o.Package]; replaced {
				continue
			}
			pkg := o.Package
			o.Source = branchSrc
			o.Package = pkg
		} else if _, replaced := p.newObs[o.Ref]; replaced || p.removed[o.Ref] {
			continue
		}
		byPkg[o.Package] = append(byPkg[o.Package], o)
	}
	for _, o := range p.newObs {
		byPkg[o.Package] = append(byPkg[o.Package], o)
	}
	for _, o := range p.newBranch {
		if o != nil {
			byPkg[o.Package] = append(byPkg[o.Package], *o)
		}
	}
	for _, r := range p.u.Refs {
		if r.Problem != "" && r.Observation.Package == "" {
			p.res.Problems = append(p.res.Problems, revision.Problem{Ref: r.Name, Message: r.Problem})
		}
	}

	if err := p.pullRequests(byPkg); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, pkg := range pkgs {
		revs, problems := revision.DerivePackage(p.cfg, pkg, byPkg[pkg])
		if msg, ok := p.branchProblems[pkg]; ok {
			problems = append(problems, revision.Problem{Ref: p.branchRef(), Package: pkg, Message: msg})
		}
		p.u.Packages[pkg] = revs
		p.u.Problems[pkg] = problems
		p.res.Revisions += len(revs)
		p.res.Problems = append(p.res.Problems, problems...)
		for _, r := range revs {
			used[r.Tree] = true
		}
	}
	p.res.Packages = len(pkgs)

	// Store the trees read from git that revisions use, and the blobs of
	// those trees the index lacks.
	wanted := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(p.trees)) {
		if !used[id] {
			continue
		}
		pt := p.trees[id]
		p.u.Trees = append(p.u.Trees, store.Tree{ID: id, Files: pt.files})
		for _, f := range pt.files {
			wanted[f.BlobID] = true
		}
	}
	blobs := 0
	for _, b := range p.missingBlobs {
		if wanted[b] {
			blobs++
		}
	}
	p.res.TreesAdded, p.res.BlobsAdded = len(p.u.Trees), blobs
	if p.readBlobs != nil {
		p.u.Blobs = func(put store.BlobPut) error {
			for _, id := range slices.Sorted(maps.Keys(p.readBlobs)) {
				if wanted[id] {
					if err := put(id, p.readBlobs[id]); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	if p.blobs != nil {
		p.u.Blobs = func(put store.BlobPut) error {
			return p.blobs.drain(func(id string, data []byte) error {
				if !wanted[id] {
					return nil // of a tree no revision uses
				}
				return put(id, data)
			})
		}
	}
	return nil
}

// pullRequests marks the drafts and proposals of a forge repository that
// an open pull or merge request proposes into the repository branch.
func (p *pass) pullRequests(byPkg map[string][]revision.Observation) error {
	if p.r.store == nil || len(byPkg) == 0 {
		return nil
	}
	switch p.repo.Object.Spec.Provider {
	case configv1alpha1.ProviderGitHub, configv1alpha1.ProviderGitLab:
	default:
		return nil
	}
	prs, err := p.r.store.OpenPullRequests(p.ctx, p.repo.ID)
	if err != nil {
		return err
	}
	open := map[string]int{}
	for _, pr := range prs {
		if pr.TargetBranch == p.cfg.Branch {
			open[revision.BranchesPrefix+pr.SourceBranch] = pr.Number
		}
	}
	for _, obs := range byPkg {
		for i := range obs {
			if k := obs[i].Kind; k == revision.KindDraft || k == revision.KindProposed {
				obs[i].PullRequest = open[obs[i].Ref]
			}
		}
	}
	return nil
}
