package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/keymutex"
	"github.com/pkgserver/pkgserver/internal/observe"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Result summarizes one reconcile.
type Result struct {
	// RefsChanged counts refs whose target changed, appeared or vanished.
	RefsChanged int
	// Packages counts the packages whose revisions were derived again.
	Packages int
	// Revisions is the number of revisions of those packages now.
	Revisions int
	// TreesAdded and BlobsAdded count what was read from git and stored.
	TreesAdded, BlobsAdded int
	Problems               []revision.Problem
	Duration               time.Duration
}

// Reconciler keeps the index of repositories in step with git. Work for
// one repository is serialized; different repositories proceed in parallel.
type Reconciler struct {
	store  store.Store
	source Source
	log    *slog.Logger

	// locks serialize the passes of a repository, by id.
	locks keymutex.Map[int64]
	mu    sync.Mutex
	// proposals remembers the packages pull requests change.
	proposals map[proposalKey][]string
}

// New returns a reconciler.
func New(st store.Store, src Source, log *slog.Logger) *Reconciler {
	return &Reconciler{store: st, source: src, log: log}
}

func (r *Reconciler) lock(id int64) func() { return r.locks.Lock(id) }

// Preview derives the revisions of a repository from git alone, without an
// index: what the index would hold. Revisions are sorted by package, then
// as revision.Derive sorts them.
func Preview(ctx context.Context, g *gitrepo.Repo, cfg revision.Config) ([]revision.Revision, []revision.Problem, error) {
	cfg = cfg.Normalize()
	sc := newScanner(ctx, g, cfg)
	defer sc.close()
	p := &pass{r: &Reconciler{}, ctx: ctx, repo: &store.Repository{}, git: g, cfg: cfg, sc: sc, mode: modeFull, res: &Result{}}
	u, err := p.plan(nil)
	if err != nil {
		return nil, nil, err
	}
	var revs []revision.Revision
	for _, pkg := range slices.Sorted(maps.Keys(u.Packages)) {
		revs = append(revs, u.Packages[pkg]...)
	}
	return revs, p.res.Problems, nil
}

type mode int

const (
	modeNamed mode = iota // only the refs of the updates
	modeAll               // every ref, compared with the index
	modeFull              // rebuild from nothing
)

// Sync brings a repository's index up to date with git: the refs of the
// updates, or every ref when there are none. Work is proportional to what
// changed: refs whose target did not move are not read again, and the
// branch is compared tree by tree.
func (r *Reconciler) Sync(ctx context.Context, namespace, name string, updates ...revision.RefUpdate) (*Result, error) {
	m := modeAll
	if len(updates) > 0 {
		m = modeNamed
	}
	return r.run(ctx, namespace, name, m, updates)
}

// Reindex rebuilds a repository's index from git alone, replacing what was
// there in one transaction.
func (r *Reconciler) Reindex(ctx context.Context, namespace, name string) (*Result, error) {
	return r.run(ctx, namespace, name, modeFull, nil)
}

func (r *Reconciler) run(ctx context.Context, namespace, name string, m mode, updates []revision.RefUpdate) (*Result, error) {
	start := time.Now()
	repo, err := r.store.GetRepository(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	defer r.lock(repo.ID)()
	g, err := r.source.Open(ctx, repo)
	if err != nil {
		return nil, err
	}
	cfg := repo.Config()
	sc := newScanner(ctx, g, cfg)
	defer sc.close()
	p := &pass{r: r, ctx: ctx, repo: repo, git: g, cfg: cfg, sc: sc, mode: m, res: &Result{}}
	// The blobs read ahead come from the scanner's git processes: their
	// reader has returned before the scanner closes, whichever way the
	// pass ends (deferred calls run last first).
	defer func() {
		if p.blobs != nil {
			p.blobs.close()
		}
	}()
	u, err := p.plan(updates)
	if err != nil {
		return nil, fmt.Errorf("repository %s/%s: %w", namespace, name, err)
	}
	err = r.store.UpdateIndex(ctx, repo.ID, u)
	if p.blobs != nil {
		p.blobs.close()
	}
	if err != nil {
		return nil, fmt.Errorf("repository %s/%s: write index: %w", namespace, name, err)
	}
	p.res.Duration = time.Since(start)
	r.log.Info("reconciled", "repo", namespace+"/"+name, "refs_changed", p.res.RefsChanged, "packages", p.res.Packages,
		"trees_added", p.res.TreesAdded, "blobs_added", p.res.BlobsAdded, "problems", len(p.res.Problems), "duration", p.res.Duration)
	return p.res, nil
}

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

// branch works out the packages at the head of the branch that changed
// between two commits: all of them when there is no old commit or the new
// one does not descend from it, else by comparing trees.
func (p *pass) branch(oldCommit, newCommit string) error {
	p.u.BranchCommit = newCommit
	trees := map[string]string{} // package -> tree at the new head, "" if gone
	var commits map[string]string
	var err error
	switch {
	case newCommit == "":
		if err := p.storedBranchGone(trees); err != nil {
			return err
		}
	case oldCommit != "":
		done, err := p.branchSince(oldCommit, newCommit, trees)
		if err != nil {
			return err
		}
		if done {
			break
		}
		fallthrough
	default:
		if p.mode != modeFull {
			if err := p.storedBranchGone(trees); err != nil {
				return err
			}
		}
		pkgs, problems, err := p.sc.branchPackages(newCommit)
		if err != nil {
			return err
		}
		maps.Copy(trees, pkgs)
		for path, msg := range problems {
			trees[path] = ""
			p.branchProblems[path] = msg
		}
	}
	var present []string
	for pkg, tree := range trees {
		p.affected[pkg] = true
		if tree == "" {
			p.newBranch[pkg] = nil
			p.u.DeletedBranch = append(p.u.DeletedBranch, pkg)
		} else {
			present = append(present, pkg)
		}
	}
	slices.Sort(p.u.DeletedBranch)
	slices.Sort(present)
	if len(present) == 0 {
		return nil
	}
	commits = p.branchCommits
	if commits == nil {
		if commits, err = p.sc.lastChanges(newCommit, nil, present); err != nil {
			return err
		}
	}
	var ids []string
	for _, c := range commits {
		ids = append(ids, c)
	}
	if _, err := p.sc.ReadObjects(ids, nil); err != nil {
		return err
	}
	for _, pkg := range present {
		src, _, _ := p.cfg.ParseRef(p.branchRef())
		src.Package = pkg
		commit := cmp.Or(commits[pkg], newCommit)
		var committed revision.Made
		if c := p.sc.Commits[commit]; c != nil {
			committed = CommitMade(c)
		}
		o := revision.Observe(p.cfg, src, commit, trees[pkg], committed, nil)
		p.newBranch[pkg] = &o
	}
	return nil
}

// storedBranchGone marks every package the index has on the branch as
// possibly gone.
func (p *pass) storedBranchGone(trees map[string]string) error {
	_, obs, err := p.r.store.BranchPackages(p.ctx, p.repo.ID)
	if err != nil {
		return err
	}
	for _, o := range obs {
		trees[o.Package] = ""
	}
	return nil
}

// maxPushChain is the longest first-parent chain a push may add for the
// branch to be compared commit by commit; longer ones go through git log.
const maxPushChain = 200

// branchSince works out the packages a move of the branch from oldCommit to
// newCommit touched, and the newest commit touching each, when newCommit
// descends from oldCommit. It returns false when it does not, and the
// branch must be read whole.
func (p *pass) branchSince(oldCommit, newCommit string, trees map[string]string) (bool, error) {
	chain, ok, err := p.sc.firstParents(newCommit, oldCommit, maxPushChain)
	if err != nil {
		return false, err
	}
	touched := map[string]string{} // package path -> newest commit changing it
	if ok {
		// Each commit against its first parent, newest first, as
		// git log --first-parent sees them.
		for i, c := range chain {
			parent := oldCommit
			if i+1 < len(chain) {
				parent = chain[i+1]
			}
			changed, err := p.sc.diffBranch(parent, c)
			if err != nil {
				return false, err
			}
			for path := range changed {
				if _, seen := touched[path]; !seen {
					touched[path] = c
				}
			}
		}
	} else {
		ancestor, err := p.git.IsAncestor(p.ctx, oldCommit, newCommit)
		if err != nil || !ancestor {
			return false, err
		}
		changed, err := p.sc.diffBranch(oldCommit, newCommit)
		if err != nil {
			return false, err
		}
		if touched, err = p.sc.lastChanges(newCommit, []string{oldCommit}, slices.Collect(maps.Keys(changed))); err != nil {
			return false, err
		}
		for path := range changed {
			if _, ok := touched[path]; !ok {
				touched[path] = ""
			}
		}
	}
	pkgs, problems, err := p.packagesAt(newCommit, slices.Collect(maps.Keys(touched)))
	if err != nil {
		return false, err
	}
	for path := range touched {
		trees[path] = pkgs[path]
		if msg, bad := problems[path]; bad {
			p.branchProblems[path] = msg
		}
	}
	p.branchCommits = map[string]string{}
	var unknown []string
	for path, c := range touched {
		if pkgs[path] == "" {
			continue
		}
		if c == "" {
			unknown = append(unknown, path)
		} else {
			p.branchCommits[path] = c
		}
	}
	if len(unknown) > 0 {
		// Changed without a first-parent commit of the push changing it:
		// look further back.
		more, err := p.sc.lastChanges(newCommit, nil, unknown)
		if err != nil {
			return false, err
		}
		maps.Copy(p.branchCommits, more)
	}
	return true, nil
}

// packagesAt tells which of the given paths are packages at a commit, with
// their trees, and which hold a Kptfile but are not valid package paths.
func (p *pass) packagesAt(commit string, paths []string) (map[string]string, map[string]string, error) {
	slices.Sort(paths)
	commits := make([]string, len(paths))
	fulls := make([]string, len(paths))
	for i, path := range paths {
		commits[i] = commit
		if path == "" {
			fulls[i] = p.cfg.Directory
		} else {
			fulls[i] = p.cfg.Full(path)
		}
	}
	trees, err := p.sc.TreePaths(commits, fulls)
	if err != nil {
		return nil, nil, err
	}
	if err := p.sc.ReadTrees(trees); err != nil {
		return nil, nil, err
	}
	pkgs, problems := map[string]string{}, map[string]string{}
	for i, path := range paths {
		if trees[i] == "" || !observe.HasKptfile(p.sc.Trees[trees[i]]) {
			continue
		}
		if path == "" {
			problems[path] = fmt.Sprintf("a Kptfile at the repository directory %q: packages are directories below it", "/"+p.cfg.Directory)
			continue
		}
		if err := revision.ValidatePackagePath(path); err != nil {
			problems[path] = err.Error()
			continue
		}
		pkgs[path] = trees[i]
	}
	return pkgs, problems, nil
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

// ReindexAll rebuilds the index of every registered repository, a few at a
// time, and reports each one's outcome through report (called from one
// goroutine at a time). It returns the first error met, after finishing
// the others.
func (r *Reconciler) ReindexAll(ctx context.Context, parallel int, report func(repo *store.Repository, res *Result, err error)) error {
	repos, err := r.store.ListRepositories(ctx, "")
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, max(parallel, 1))
	for _, repo := range repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := r.Reindex(ctx, repo.Object.Namespace, repo.Object.Name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			report(repo, res, err)
		}()
	}
	wg.Wait()
	return first
}
