package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// DefaultSyncInterval is how often a repository is synced without being
// told of a change, when its registration does not say.
const DefaultSyncInterval = 60 * time.Second

// Observer is told of the scheduler's work, for metrics.
type Observer interface {
	ObserveReconcile(d time.Duration, err error)
	QueueDepth(n int)
}

// SchedulerStore is what the scheduler reads and writes of the index: the
// repositories with their status, and the digest of refs of their last
// sync that tells whether git changed since.
type SchedulerStore interface {
	store.Repositories
	store.SyncLeases
	RefsHash(ctx context.Context, repoID int64) (string, error)
}

// Scheduler keeps every registered repository synced: at start, on its
// interval (with 10 % jitter), and on demand. A failing repository is marked
// not Ready and retried on its interval; it never holds up the others.
//
// Replicas sharing one database each run a scheduler: a sync first takes
// the repository's lease in the database (SyncLease), so that one replica
// syncs it at a time, and the next poll is recorded there, so that the
// replicas together poll a repository as often as one would.
type Scheduler struct {
	// Owner is the id this scheduler holds leases under
	// (store.NewReplicaID); Lease how long a lease lasts unless renewed
	// (default SyncLease).
	Owner string
	Lease time.Duration

	rec     *Reconciler
	store   SchedulerStore
	source  *GitSource
	log     *slog.Logger
	obs     Observer
	workers int

	mu    sync.Mutex
	loops map[key]context.CancelFunc
	// polled holds the repositories whose poll loops run, as they were
	// when the loop started.
	polled  map[key]*store.Repository
	pending map[key]*job
	// running holds the repositories being synced; a job for one of them
	// waits (deferred) until that sync ends, so a repository is never
	// synced twice at once.
	running  map[key]bool
	deferred map[key]bool
	queue    chan key
	ctx      context.Context
	wg       sync.WaitGroup
}

type key struct{ namespace, name string }

// job is a queued sync; done is closed when it has run.
type job struct {
	force   bool // fetch even if the remote's refs look unchanged
	poll    bool // a poll: only if due, and no other replica syncs
	reindex bool // rebuild the index from nothing
	done    chan struct{}
	err     error
}

// NewScheduler returns a scheduler; Run starts it.
func NewScheduler(rec *Reconciler, st SchedulerStore, src *GitSource, log *slog.Logger, obs Observer, workers int) *Scheduler {
	return &Scheduler{rec: rec, store: st, source: src, log: log, obs: obs, workers: max(workers, 1), Owner: store.NewReplicaID(),
		loops: map[key]context.CancelFunc{}, polled: map[key]*store.Repository{}, pending: map[key]*job{},
		running: map[key]bool{}, deferred: map[key]bool{}, queue: make(chan key, 4096)}
}

// Run syncs the registered repositories until ctx ends, then waits for the
// work under way.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	repos, err := s.store.ListRepositories(ctx, "")
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	for range s.workers {
		s.wg.Add(1)
		go s.worker(ctx)
	}
	s.follow(repos)
	t := time.NewTicker(RescanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-t.C:
		}
		if repos, err := s.store.ListRepositories(ctx, ""); err == nil {
			s.follow(repos)
			s.forget(repos)
		}
	}
}

// follow starts syncing the repositories it has no poll loop for yet
// (registered through another replica, or while the list was read), and
// restarts those whose interval changed.
func (s *Scheduler) follow(repos []*store.Repository) {
	for _, r := range repos {
		s.mu.Lock()
		had, added := s.polled[key{r.Object.Namespace, r.Object.Name}]
		s.mu.Unlock()
		if !added || interval(had) != interval(r) {
			s.Add(r)
		}
	}
}

// forget stops syncing the repositories deleted through another replica.
func (s *Scheduler) forget(repos []*store.Repository) {
	there := map[key]bool{}
	for _, r := range repos {
		there[key{r.Object.Namespace, r.Object.Name}] = true
	}
	s.mu.Lock()
	var gone []*store.Repository
	for k, r := range s.polled {
		if !there[k] {
			gone = append(gone, r)
		}
	}
	s.mu.Unlock()
	for _, r := range gone {
		s.Remove(r)
	}
}

// Add starts (or restarts, with a new interval) the periodic sync of a
// repository, beginning with one now.
func (s *Scheduler) Add(repo *store.Repository) { s.add(repo, false) }

// Reset drops what was read from a repository's old location and rebuilds
// its index from the new one.
func (s *Scheduler) Reset(old, updated *store.Repository) {
	if err := s.source.RemoveMirror(old); err != nil {
		s.log.Warn("remove mirror", "repo", old.Object.Namespace+"/"+old.Object.Name, "err", err)
	}
	s.add(updated, true)
}

func (s *Scheduler) add(repo *store.Repository, reindex bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return
	}
	k := key{repo.Object.Namespace, repo.Object.Name}
	if cancel, ok := s.loops[k]; ok {
		cancel()
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.loops[k] = cancel
	s.polled[k] = repo
	// Not forced: if the refs are those indexed (a restart), there is
	// nothing to do.
	j := s.enqueueLocked(k, false, false)
	j.reindex = j.reindex || reindex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.untilPoll(ctx, repo)):
			}
			s.mu.Lock()
			j := s.enqueueLocked(k, false, true)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-j.done:
			}
		}
	}()
}

// Remove stops syncing a repository and deletes its mirror.
func (s *Scheduler) Remove(repo *store.Repository) {
	s.mu.Lock()
	k := key{repo.Object.Namespace, repo.Object.Name}
	if cancel, ok := s.loops[k]; ok {
		cancel()
		delete(s.loops, k)
		delete(s.polled, k)
	}
	s.mu.Unlock()
	if err := s.source.RemoveMirror(repo); err != nil {
		s.log.Warn("remove mirror", "repo", k.namespace+"/"+k.name, "err", err)
	}
}

// ErrNotRunning is returned by SyncNow before Run starts or after it ends.
var ErrNotRunning = errors.New("the scheduler is not running")

// SyncNow syncs a repository, fetching whatever the remote has, and waits
// for the outcome.
func (s *Scheduler) SyncNow(ctx context.Context, namespace, name string) error {
	s.mu.Lock()
	if s.ctx == nil {
		s.mu.Unlock()
		return ErrNotRunning
	}
	j := s.enqueueLocked(key{namespace, name}, true, false)
	s.mu.Unlock()
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Apply indexes the ref updates a push reported, at once, and records the
// outcome as a sync would. The reconciler serializes it with any sync of
// the same repository.
func (s *Scheduler) Apply(ctx context.Context, namespace, name string, updates []revision.RefUpdate) error {
	start := time.Now()
	_, err := s.rec.Sync(ctx, namespace, name, updates...)
	s.obs.ObserveReconcile(time.Since(start), err)
	if err != nil {
		s.log.Warn("indexing a push failed", "repo", namespace+"/"+name, "err", err)
	}
	if serr := s.setReady(ctx, key{namespace, name}, err, time.Time{}); serr != nil && !errors.Is(serr, store.ErrNotFound) {
		s.log.Error("record sync status", "repo", namespace+"/"+name, "err", serr)
	}
	return err
}

// enqueueLocked queues a sync, or joins the one already queued: a poll
// joined by a sync of another kind is no longer a poll.
func (s *Scheduler) enqueueLocked(k key, force, poll bool) *job {
	if j, ok := s.pending[k]; ok {
		j.force = j.force || force
		j.poll = j.poll && poll
		return j
	}
	j := &job{force: force, poll: poll, done: make(chan struct{})}
	s.pending[k] = j
	s.obs.QueueDepth(len(s.pending))
	s.sendLocked(k)
	return j
}

// sendLocked puts a repository with a pending job on the queue.
func (s *Scheduler) sendLocked(k key) {
	select {
	case s.queue <- k:
	default:
		// The queue is full: the job stays pending and is queued as soon
		// as there is room.
		ctx := s.ctx
		go func() {
			select {
			case s.queue <- k:
			case <-ctx.Done():
			}
		}()
	}
}

func (s *Scheduler) worker(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-s.queue:
			s.mu.Lock()
			if s.running[k] {
				s.deferred[k] = true
				s.mu.Unlock()
				continue
			}
			j := s.pending[k]
			delete(s.pending, k)
			s.obs.QueueDepth(len(s.pending))
			if j != nil {
				s.running[k] = true
			}
			s.mu.Unlock()
			if j == nil {
				continue
			}
			j.err = s.sync(ctx, k, j)
			s.mu.Lock()
			delete(s.running, k)
			if s.deferred[k] {
				delete(s.deferred, k)
				if _, ok := s.pending[k]; ok {
					s.sendLocked(k)
				}
			}
			s.mu.Unlock()
			close(j.done)
		}
	}
}

// sync brings one repository up to date, under its lease, and records
// the outcome in its Ready condition. Unless forced, a remote repository
// whose refs did not change is not fetched; a poll that is not due, or
// that another replica is making, is not made.
func (s *Scheduler) sync(ctx context.Context, k key, j *job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("sync panicked", "repo", k.namespace+"/"+k.name, "panic", p)
			err = errors.New("internal error while syncing")
		}
	}()
	start := time.Now()
	repo, err := s.store.GetRepository(ctx, k.namespace, k.name)
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err == nil {
		var l *syncLease
		if l, err = s.claim(ctx, repo, j.poll); errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			return err // deleted, or stopping while another replica synced
		}
		if l == nil && err == nil {
			return nil // polled by another replica
		}
		if l != nil {
			var stop func()
			ctx, stop = l.keep(ctx)
			defer func() {
				polled := ctx.Err() == nil // not stopped, nor the lease lost
				stop()
				l.release(polled)
			}()
		}
	}
	force, reindex := j.force, j.reindex
	if err == nil && s.source.cold(repo) {
		// A replica new to the repository fetches its own mirror; the
		// sync compares what it fetched with the shared index, and
		// writes only what differs.
		force = true
	}
	if err == nil && !force && !reindex {
		var unchanged bool
		if unchanged, err = s.unchanged(ctx, repo); err == nil && unchanged {
			return s.setReady(ctx, k, nil, time.Now())
		}
	}
	switch {
	case err == nil && reindex:
		_, err = s.rec.Reindex(ctx, k.namespace, k.name)
	case err == nil:
		_, err = s.rec.Sync(ctx, k.namespace, k.name)
	}
	s.obs.ObserveReconcile(time.Since(start), err)
	if err != nil {
		s.log.Warn("sync failed", "repo", k.namespace+"/"+k.name, "err", err)
	}
	if serr := s.setReady(ctx, k, err, time.Time{}); serr != nil && !errors.Is(serr, store.ErrNotFound) {
		s.log.Error("record sync status", "repo", k.namespace+"/"+k.name, "err", serr)
	}
	return err
}

// unchanged tells whether a repository's refs are those indexed.
func (s *Scheduler) unchanged(ctx context.Context, repo *store.Repository) (bool, error) {
	h, err := s.source.RefsHash(ctx, repo)
	if err != nil {
		return false, err
	}
	stored, err := s.store.RefsHash(ctx, repo.ID)
	return err == nil && stored == h.String(), err
}

func (s *Scheduler) setReady(ctx context.Context, k key, syncErr error, syncedAt time.Time) error {
	return s.store.UpdateRepositoryStatus(ctx, k.namespace, k.name, func(st *configv1alpha1.RepositoryStatus) {
		c := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Synced", Message: "the index is up to date with git"}
		if syncErr != nil {
			c = metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "SyncFailed", Message: syncErr.Error()}
		}
		meta.SetStatusCondition(&st.Conditions, c)
		if !syncedAt.IsZero() {
			t := metav1.NewTime(syncedAt.UTC().Truncate(time.Second))
			st.LastSyncTime = &t
		}
	})
}
