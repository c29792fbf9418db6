package reconcile

import (
	"fmt"
	"maps"
	"slices"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
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
	byPkg, err := p.observations(pkgs)
	if err != nil {
		return err
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
	p.storeTrees(used)
	return nil
}

// observations returns the observations of the packages, by package: the
// fresh ones of this pass, and the index's of the refs that did not move
// (when the index is not rebuilt).
func (p *pass) observations(pkgs []string) (map[string][]revision.Observation, error) {
	var stored []revision.Observation
	if p.mode != modeFull && len(pkgs) > 0 {
		var err error
		if stored, err = p.r.store.Observations(p.ctx, p.repo.ID, pkgs); err != nil {
			return nil, err
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
	return byPkg, nil
}

// storeTrees adds to the index update the trees read from git that
// revisions use (used, by id), and the blobs of those trees the index
// lacks.
func (p *pass) storeTrees(used map[string]bool) {
	wanted := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(p.trees)) {
		if !used[id] {
			continue
		}
		pt := p.trees[id]
		p.u.Trees = append(p.u.Trees, store.Tree{ID: id, Files: pt.files, Meta: pt.meta})
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
}

// proposalKey identifies what proposedPackages worked out.
type proposalKey struct {
	repo           int64
	dir, tip, head string
}

// forgeRepository tells whether pull requests matter to a repository.
func forgeRepository(repo *store.Repository) bool {
	switch repo.Object.Spec.Provider {
	case configv1alpha1.ProviderGitHub, configv1alpha1.ProviderGitLab:
		return true
	}
	return false
}

// pullRequests marks the drafts and proposals of a forge repository that
// an open pull or merge request proposes into the repository branch, and
// numbers the proposals of pull requests from other branches.
func (p *pass) pullRequests(byPkg map[string][]revision.Observation) error {
	if p.r.store == nil || len(byPkg) == 0 || !forgeRepository(p.repo) {
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
				if n, _, ok := revision.ParsePullRequestRef(obs[i].Ref); ok {
					obs[i].PullRequest = n
				}
			}
		}
	}
	return nil
}

// pullRequestRefs adds to the refs of a forge repository one Proposed
// source per package that an open pull request from a branch outside the
// git contract changes (compared with where it left the repository
// branch), with the branch's name as workspace.
func (p *pass) pullRequestRefs(current map[string]gitrepo.Ref) error {
	if p.r.store == nil || !forgeRepository(p.repo) {
		return nil
	}
	tip := current[p.branchRef()].Commit
	if tip == "" {
		return nil
	}
	prs, err := p.r.store.OpenPullRequests(p.ctx, p.repo.ID)
	if err != nil {
		return err
	}
	for _, pr := range prs {
		branch := revision.BranchesPrefix + pr.SourceBranch
		if pr.TargetBranch != p.cfg.Branch {
			continue
		}
		if _, contract, _ := p.cfg.ParseRef(branch); contract {
			continue // drafts and proposals are revisions of their own
		}
		ref, ok := current[branch]
		ws := revision.LabelFrom(pr.SourceBranch)
		if !ok || ws == "" {
			continue
		}
		pkgs, err := p.proposedPackages(tip, ref.Commit)
		if err != nil {
			return fmt.Errorf("pull request %d: %w", pr.Number, err)
		}
		for _, pkg := range pkgs {
			name := revision.PullRequestRef(pr.Number, pkg)
			current[name] = gitrepo.Ref{Name: name, Target: ref.Commit, Commit: ref.Commit}
			p.virtual[name] = revision.Source{Kind: revision.KindProposed, Ref: name, Package: pkg, Workspace: ws}
		}
	}
	return nil
}

// proposedPackages returns the packages a branch at head changes since it
// left the repository branch at tip, those head holds; remembered by the
// repository, its directory and the two commits.
func (p *pass) proposedPackages(tip, head string) ([]string, error) {
	key := proposalKey{p.repo.ID, p.cfg.Directory, tip, head}
	p.r.mu.Lock()
	pkgs, ok := p.r.proposals[key]
	p.r.mu.Unlock()
	if ok {
		return pkgs, nil
	}
	base, err := p.git.MergeBase(p.ctx, tip, head)
	if err != nil {
		return nil, err
	}
	changed, err := p.sc.diffBranch(base, head)
	if err != nil {
		return nil, err
	}
	paths := slices.Sorted(maps.Keys(changed))
	commits := make([]string, len(paths))
	full := make([]string, len(paths))
	for i, pkg := range paths {
		commits[i], full[i] = head, p.cfg.Full(pkg)
	}
	trees, err := p.sc.TreePaths(commits, full)
	if err != nil {
		return nil, err
	}
	pkgs = []string{}
	for i, pkg := range paths {
		if trees[i] != "" && pkg != "" {
			pkgs = append(pkgs, pkg)
		}
	}
	p.r.mu.Lock()
	if p.r.proposals == nil || len(p.r.proposals) >= 1024 {
		p.r.proposals = map[proposalKey][]string{}
	}
	p.r.proposals[key] = pkgs
	p.r.mu.Unlock()
	return pkgs, nil
}

// judgeTree applies to an observation what the reading of its package tree
// found, as the observe package does for a push decision.
func judgeTree(o *revision.Observation, read map[string]*packageTree) {
	if pt, ok := read[o.Tree]; ok {
		pt.Judge(o)
	}
}
