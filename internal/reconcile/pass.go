package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// pass is the state of one reconcile of one repository.
type pass struct {
	r    *Reconciler
	ctx  context.Context
	repo *store.Repository
	git  *gitrepo.Repo
	cfg  revision.Config
	sc   *scanner
	mode mode
	res  *Result

	u *store.IndexUpdate
	// affected are the packages to derive again.
	affected map[string]bool
	// newObs are fresh observations of refs, by ref name; newBranch of the
	// branch, by package (nil: the package left the branch).
	newObs    map[string]revision.Observation
	newBranch map[string]*revision.Observation
	removed   map[string]bool
	// virtual are the sources of open pull requests from branches outside
	// the contract, by revision.PullRequestRef name.
	virtual map[string]revision.Source
	// branchProblems are directories of the branch holding a Kptfile that
	// cannot be packages.
	branchProblems map[string]string
	// trees are the package trees read from git in this pass, and
	// missingBlobs the blobs of those trees the index lacks.
	trees        map[string]*packageTree
	missingBlobs []string
	// large receives, when every ref is read, the blobs over the size
	// limit; blobs is the queue of blob contents read ahead.
	large chan largeBlobs
	blobs *blobQueue
	// readBlobs holds the contents read already, in an update of a few refs.
	readBlobs map[string][]byte
	// branchCommits are the newest commits changing the packages of an
	// incremental branch update; nil when they are still to be found.
	branchCommits map[string]string
}

// largeBlobs are the blobs over MaxBlobBytes in the repository, as git
// listed them.
type largeBlobs struct {
	ids map[string]bool
	err error
}

func (p *pass) branchRef() string { return revision.BranchesPrefix + p.cfg.Branch }

// plan reads git and works out the index update.
func (p *pass) plan(updates []revision.RefUpdate) (*store.IndexUpdate, error) {
	p.u = &store.IndexUpdate{Full: p.mode == modeFull, SyncedAt: time.Now(), Packages: map[string][]revision.Revision{},
		Problems: map[string][]revision.Problem{}}
	p.affected, p.newObs, p.newBranch, p.removed = map[string]bool{}, map[string]revision.Observation{}, map[string]*revision.Observation{}, map[string]bool{}
	p.branchProblems = map[string]string{}
	if p.mode != modeNamed {
		// Every blob may be read: learn the large ones in one pass over the
		// object store, while refs are listed.
		p.large = make(chan largeBlobs, 1)
		go func() {
			ids, err := p.git.LargeBlobs(p.ctx, MaxBlobBytes)
			p.large <- largeBlobs{ids, err}
		}()
	}

	current, stored, err := p.refs(updates)
	if err != nil {
		return nil, err
	}
	hash, err := p.refsHash(current, stored)
	if err != nil {
		return nil, err
	}
	p.u.RefsHash = hash.String()
	p.virtual = map[string]revision.Source{}
	if p.mode != modeNamed {
		// Not in git, so not in the digest: listed with every ref.
		if err := p.pullRequestRefs(current); err != nil {
			return nil, err
		}
	}

	items, branchMoved := p.compareRefs(current, stored)

	if branchMoved || p.mode == modeFull {
		var oldCommit string
		if old, ok := stored[p.branchRef()]; ok && p.mode != modeFull {
			oldCommit = old.Target
		}
		if err := p.branch(oldCommit, current[p.branchRef()].Commit); err != nil {
			return nil, fmt.Errorf("branch %s: %w", p.cfg.Branch, err)
		}
	}

	obs, err := p.sc.observeRefs(items)
	if err != nil {
		return nil, err
	}
	for i, o := range obs {
		p.newObs[o.Ref] = o
		p.u.Refs = append(p.u.Refs, store.RefRecord{Name: o.Ref, Target: items[i].ref.Target, Contract: true, Observation: o})
	}
	if err := p.checkTrees(); err != nil {
		return nil, err
	}
	if err := p.derive(); err != nil {
		return nil, err
	}
	return p.u, nil
}

// compareRefs records in the update the refs whose target git and the
// index disagree on, and the packages they affect. It returns the refs of
// the contract to observe, and whether the branch moved (or is gone).
func (p *pass) compareRefs(current map[string]gitrepo.Ref, stored map[string]store.RefRecord) ([]refSource, bool) {
	p.u.Refs = make([]store.RefRecord, 0, len(current))
	items := make([]refSource, 0, len(current))
	branchMoved := false
	for _, name := range slices.Sorted(maps.Keys(current)) {
		ref := current[name]
		old, had := stored[name]
		if had && old.Target == ref.Target && p.mode != modeFull {
			if p.mode == modeNamed && old.Contract && old.Observation.Package != "" {
				// Named but not moved: derived again, since what git does
				// not hold (an open pull request) may have changed.
				p.affected[old.Observation.Package] = true
			}
			continue
		}
		p.res.RefsChanged++
		src, ok, perr := p.cfg.ParseRef(name)
		if ok && perr == nil {
			perr = gitrepo.ValidateRefName(name)
		}
		if v, virtual := p.virtual[name]; virtual {
			src, ok, perr = v, true, nil
		}
		switch {
		case !ok:
			p.u.Refs = append(p.u.Refs, store.RefRecord{Name: name, Target: ref.Target})
		case perr != nil:
			p.u.Refs = append(p.u.Refs, store.RefRecord{Name: name, Target: ref.Target, Contract: true, Problem: perr.Error(),
				Observation: revision.Observation{Source: revision.Source{Ref: name}, Problem: perr.Error()}})
		case src.Kind == revision.KindBranch:
			branchMoved = true
			p.u.Refs = append(p.u.Refs, store.RefRecord{Name: name, Target: ref.Target, Contract: true,
				Observation: revision.Observation{Source: src, Commit: ref.Commit}})
		default:
			items = append(items, refSource{ref: ref, src: src})
			p.affected[src.Package] = true
		}
		if had && old.Contract && old.Observation.Package != "" {
			p.affected[old.Observation.Package] = true // the ref may have named another package before
		}
	}
	for name, old := range stored {
		if _, ok := current[name]; ok {
			continue
		}
		p.res.RefsChanged++
		p.u.DeletedRefs = append(p.u.DeletedRefs, name)
		p.removed[name] = true
		if old.Contract && old.Observation.Package != "" {
			p.affected[old.Observation.Package] = true
		}
		if name == p.branchRef() {
			branchMoved = true
		}
	}
	slices.Sort(p.u.DeletedRefs)
	return items, branchMoved
}

// refs returns the refs to consider as git has them now, and as the index
// has them.
func (p *pass) refs(updates []revision.RefUpdate) (map[string]gitrepo.Ref, map[string]store.RefRecord, error) {
	current := map[string]gitrepo.Ref{}
	stored := map[string]store.RefRecord{}
	var gitRefs []gitrepo.Ref
	var storedRefs []store.RefRecord
	var err error
	switch p.mode {
	case modeNamed:
		names := make([]string, len(updates))
		for i, u := range updates {
			names[i] = u.Ref
		}
		if gitRefs, err = p.sc.refsNamed(names); err != nil {
			return nil, nil, err
		}
		storedRefs, err = p.r.store.Refs(p.ctx, p.repo.ID, names...)
	case modeAll:
		if gitRefs, err = p.git.Refs(p.ctx); err != nil {
			return nil, nil, err
		}
		storedRefs, err = p.r.store.Refs(p.ctx, p.repo.ID)
	case modeFull:
		gitRefs, err = p.git.Refs(p.ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	for _, r := range gitRefs {
		current[r.Name] = r
	}
	for _, r := range storedRefs {
		stored[r.Name] = r
	}
	return current, stored, nil
}

// refsHash computes the digest of all refs after this pass: from scratch
// when every ref was listed, else from the stored digest and the changes.
func (p *pass) refsHash(current map[string]gitrepo.Ref, stored map[string]store.RefRecord) (RefsHash, error) {
	var h RefsHash
	if p.mode != modeNamed {
		for name, r := range current {
			h.Toggle(name, r.Target)
		}
		return h, nil
	}
	old, err := p.r.store.RefsHash(p.ctx, p.repo.ID)
	if err != nil {
		return h, err
	}
	h = ParseRefsHash(old)
	for name, r := range stored {
		h.Toggle(name, r.Target)
	}
	for name, r := range current {
		h.Toggle(name, r.Target)
	}
	return h, nil
}

// checkTrees reads the package trees the index does not hold yet, drops
// candidates that are not packages, and marks the ones that cannot be
// indexed.
func (p *pass) checkTrees() error {
	var candidates []string
	for _, o := range p.newObs {
		if o.Tree != "" {
			candidates = append(candidates, o.Tree)
		}
	}
	for _, o := range p.newBranch {
		if o != nil {
			candidates = append(candidates, o.Tree)
		}
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	missing, err := p.missingTrees(candidates)
	if err != nil {
		return err
	}
	read, err := p.sc.packageTrees(missing)
	if err != nil {
		return err
	}
	var newBlobs []string
	for _, pt := range read {
		for _, f := range pt.files {
			newBlobs = append(newBlobs, f.BlobID)
		}
	}
	slices.Sort(newBlobs)
	newBlobs = slices.Compact(newBlobs)
	missingBlobs, err := p.missingBlobsOf(newBlobs)
	if err != nil {
		return err
	}
	oversized := map[string]bool{}
	if p.large != nil {
		l := <-p.large
		if l.err != nil {
			return l.err
		}
		oversized = l.ids
	} else if len(missingBlobs) > 0 {
		// An update reads few blobs: read them now, which tells their
		// sizes, and write them from memory.
		p.readBlobs = map[string][]byte{}
		err := p.sc.readBlobs(missingBlobs, func(id string, data []byte) error {
			if len(data) > MaxBlobBytes {
				oversized[id] = true
			} else {
				p.readBlobs[id] = data
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, pt := range read {
		for _, f := range pt.files {
			if oversized[f.BlobID] {
				pt.SetProblem(fmt.Sprintf("%s is larger than the %d MiB the index stores per file", f.Path, MaxBlobBytes>>20))
			}
		}
	}
	if err := p.treeMeta(read, oversized); err != nil {
		return err
	}
	judge := func(o *revision.Observation) { judgeTree(o, read) }
	for ref, o := range p.newObs {
		judge(&o)
		p.newObs[ref] = o
	}
	for i := range p.u.Refs {
		if o, ok := p.newObs[p.u.Refs[i].Name]; ok {
			p.u.Refs[i].Observation = o
			p.u.Refs[i].Problem = o.Problem
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(p.newBranch)) {
		if o := p.newBranch[pkg]; o != nil {
			judge(o)
			p.u.Branch = append(p.u.Branch, *o)
		}
	}
	p.trees = read
	p.missingBlobs = missingBlobs
	// The raw trees read are not needed any more: free them before the
	// index is written.
	clear(p.sc.Trees)
	if p.r.store != nil && p.readBlobs == nil && len(missingBlobs) > 0 {
		// Read the contents while revisions are derived and the index
		// writes what comes before them.
		p.blobs = p.sc.readBlobsAhead(p.ctx, missingBlobs, blobReadAhead)
	}
	return nil
}
