package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/keymutex"
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

// Store is what the reconciler reads and writes of the index: the
// repositories, the index's record of git with the updates that keep it in
// step, and the open pull requests that say which packages proposals
// change.
type Store interface {
	store.Repositories
	store.IndexWriter
	store.PullRequests
}

// Reconciler keeps the index of repositories in step with git. Work for
// one repository is serialized; different repositories proceed in parallel.
type Reconciler struct {
	store  Store
	source Source
	log    *slog.Logger

	// locks serialize the passes of a repository, by id.
	locks keymutex.Map[int64]
	mu    sync.Mutex
	// proposals remembers the packages pull requests change.
	proposals map[proposalKey][]string
}

// New returns a reconciler.
func New(st Store, src Source, log *slog.Logger) *Reconciler {
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
