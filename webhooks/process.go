package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkgserver/pkgserver/hooks"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/keymutex"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Syncer brings a repository up to date with its remote: all of it, or
// the named refs (derived again even if they did not move).
type Syncer interface {
	SyncNow(ctx context.Context, namespace, name string) error
	Apply(ctx context.Context, namespace, name string, updates []revision.RefUpdate) error
}

// Processor works through stored deliveries in order, after a restart too.
type Processor struct {
	Store  ProcessorStore
	Syncer Syncer
	Log    *slog.Logger
	// Git opens a repository's copy of its remote; Checker validates what
	// pushes change; Forges gives the client of a repository's forge;
	// Reporter posts the reports. Without Git, deliveries only sync.
	Git      func(ctx context.Context, repo *store.Repository) (*gitrepo.Repo, error)
	Checker  *hooks.Checker
	Forges   ForgeFunc
	Reporter *Reporter
	// Publisher publishes what merged pull requests change; the one the
	// API's writer shares, so that publications of a package wait for
	// each other.
	Publisher *lifecycle.Publisher
	// PullRequestRefresh is how often the pull requests recorded as open
	// are read again from the forges, for the events that never came
	// (default 10 min).
	PullRequestRefresh time.Duration
	wake               chan struct{}
	// prLocks serialize the pull request work of a repository (deliveries
	// and the refresh), by repository id.
	prLocks keymutex.Map[int64]
	// next holds when failed deliveries may be tried again.
	next map[int64]time.Time
	// Owner is the id this processor holds the leases of deliveries under
	// (store.NewReplicaID); Lease how long a claim holds them unless
	// renewed (default DeliveryLease).
	Owner string
	Lease time.Duration
}

// maxAttempts is how often a delivery whose processing fails is tried;
// retryDelay the pause before the pending ones are tried again.
const (
	maxAttempts = 5
	retryDelay  = 5 * time.Second
)

// NewProcessor returns a processor; Run starts it.
func NewProcessor(st ProcessorStore, syncer Syncer, log *slog.Logger) *Processor {
	return &Processor{Store: st, Syncer: syncer, Log: log, wake: make(chan struct{}, 1), next: map[int64]time.Time{},
		Owner: store.NewReplicaID()}
}

// Notify wakes the processor: a delivery was stored.
func (p *Processor) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run processes deliveries until ctx ends: those left from before a
// restart first, then each as it is stored.
func (p *Processor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.refreshLoop(ctx)
	}()
	// Other replicas' deliveries, and those whose lease ended with the
	// replica that held them, wake no one here: looked for every
	// claimPoll.
	poll := time.NewTicker(claimPoll)
	defer poll.Stop()
	for {
		failed := p.drain(ctx)
		var retry <-chan time.Time
		if failed {
			retry = time.After(retryDelay)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-retry:
		case <-poll.C:
		}
	}
}

const batchSize = 100

// parallelRepos bounds the repositories whose deliveries are processed at
// once.
const parallelRepos = 8

// tried is the outcome of a delivery's attempt, with the delivery (as it
// was before the attempt) and the error that ended it, nil if none.
type tried struct {
	store.DeliveryOutcome
	d   *store.Delivery
	err error
}

// logOutcome logs what an attempt at a delivery came to, unless it was
// done without an error: a delivery not acted on, one failed for good and
// one that will be tried again each say so, with the reason.
func (p *Processor) logOutcome(t tried) {
	if t.err == nil {
		return
	}
	attrs := []any{"delivery", t.d.DeliveryID, "forge", t.d.Forge, "event", t.d.Event,
		"repo", t.d.Namespace + "/" + t.d.Repository, "attempts", t.d.Attempts + 1}
	switch {
	case errors.Is(t.err, errMalformed):
		// A payload that does not parse, or about another forge
		// repository (one renamed or moved on the forge and not here).
		p.Log.Warn("webhook delivery not acted on", append(attrs, "why", t.Reason)...)
	case permanent(t.err):
		p.Log.Error("webhook delivery failed, not tried again: the forge refused it", append(attrs, "err", t.Reason)...)
	case t.Done:
		p.Log.Error("webhook delivery failed, given up", append(attrs, "max_attempts", maxAttempts, "err", t.Reason)...)
	default:
		p.Log.Warn("webhook delivery failed, tried again later", append(attrs, "err", t.Reason)...)
	}
}

// permanent tells whether err is a forge's refusal that trying again does
// not change (401, 403, 404, 422: classify leaves Retry unset).
func permanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && !ae.Retry
}

// processBatch acts on the deliveries that are due: each repository that
// some of them say changed is synced once, in the order they arrived. It
// returns the outcomes of those it tried.
func (p *Processor) processBatch(ctx context.Context, ds []store.Delivery) []tried {
	type repoKey struct{ ns, name string }
	errs := make([]error, len(ds))
	hints := make([]*Hint, len(ds))
	var order []repoKey
	wants := map[repoKey][]int{}
	now := time.Now()
	skip := make([]bool, len(ds))
	for i := range ds {
		d := &ds[i]
		if t, ok := p.next[d.ID]; ok && now.Before(t) {
			skip[i] = true // not due yet
			continue
		}
		hint, err := Parse(d.Forge, d.Event, d.Payload)
		hints[i] = hint
		switch {
		case err != nil:
			errs[i] = errors.Join(errMalformed, err)
		case hint.Sync:
			if reason := p.otherRepository(ctx, d, hint); reason != "" {
				// Signed with this repository's secret but about another
				// forge repository (a secret shared, or a body replayed):
				// recorded, not acted on.
				errs[i] = errors.Join(errMalformed, errors.New(reason))
				continue
			}
			k := repoKey{d.Namespace, d.Repository}
			if _, ok := wants[k]; !ok {
				order = append(order, k)
			}
			wants[k] = append(wants[k], i)
		}
	}
	// Repositories in parallel, each one's deliveries in order: a slow
	// remote or forge API holds up only its own repository.
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallelRepos)
	for _, k := range order {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			err := p.Syncer.SyncNow(ctx, k.ns, k.name)
			if errors.Is(err, store.ErrNotFound) {
				err = nil // the repository was deleted since
			}
			if errors.Is(err, reconcile.ErrNotRunning) {
				// Not an attempt: the server is starting or stopping.
				mu.Lock()
				for _, i := range wants[k] {
					skip[i] = true
					p.next[ds[i].ID] = time.Now().Add(time.Second)
				}
				mu.Unlock()
				return
			}
			p.Log.Info("webhook sync", "repo", k.ns+"/"+k.name, "deliveries", len(wants[k]), "duration", time.Since(start), "err", err)
			for _, i := range wants[k] {
				errs[i] = err
				if err == nil {
					errs[i] = p.act(ctx, &ds[i], hints[i])
				}
			}
		}()
	}
	wg.Wait()
	var outcomes []tried
	for i, err := range errs {
		if skip[i] {
			continue
		}
		o := tried{DeliveryOutcome: store.DeliveryOutcome{ID: ds[i].ID, Done: true}, d: &ds[i], err: err}
		if err != nil {
			o.Reason = err.Error()
			// A forge's refusal is final: tried again, the sync and the
			// same call are repeated for the same answer.
			o.Done = ds[i].Attempts+1 >= maxAttempts || errors.Is(err, errMalformed) || permanent(err)
		}
		outcomes = append(outcomes, o)
	}
	return outcomes
}

var errMalformed = errors.New(store.DeliveryNotActedOn)

// otherRepository says why a delivery names another forge repository than
// the registered one, or "".
func (p *Processor) otherRepository(ctx context.Context, d *store.Delivery, h *Hint) string {
	if h.Repository == "" && h.Project == 0 {
		return ""
	}
	repo, err := p.Store.GetRepository(ctx, d.Namespace, d.Repository)
	if err != nil {
		return "" // deleted since, or unreadable: the sync decides
	}
	spec := repo.Object.Spec
	switch {
	case d.Forge == GitHub && spec.GitHub != nil:
		if want := spec.GitHub.Owner + "/" + spec.GitHub.Repo; h.Repository != "" && !strings.EqualFold(h.Repository, want) {
			return fmt.Sprintf("the payload is about %s, not %s", h.Repository, want)
		}
	case d.Forge == GitLab && spec.GitLab != nil:
		want := strings.Trim(spec.GitLab.Project, "/")
		if id, err := strconv.Atoi(want); err == nil {
			if h.Project != 0 && h.Project != id {
				return fmt.Sprintf("the payload is about project %d, not %d", h.Project, id)
			}
		} else if h.Repository != "" && !strings.EqualFold(h.Repository, want) {
			return fmt.Sprintf("the payload is about %s, not %s", h.Repository, want)
		}
	}
	return ""
}

// refreshLoop reads the open pull requests of every forge repository again
// from time to time: a request closed or merged while its event was lost
// still ends Proposed, or gets published.
func (p *Processor) refreshLoop(ctx context.Context) {
	t := time.NewTicker(p.refreshEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.refreshPullRequests(ctx)
		}
	}
}

// refreshEvery is how often the open pull requests are read again.
func (p *Processor) refreshEvery() time.Duration {
	if p.PullRequestRefresh > 0 {
		return p.PullRequestRefresh
	}
	return 10 * time.Minute
}

func (p *Processor) refreshPullRequests(ctx context.Context) {
	if p.Git == nil || p.Forges == nil {
		return
	}
	repos, err := p.Store.ListRepositories(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			p.Log.Error("webhooks: list repositories", "err", err)
		}
		return
	}
	for _, repo := range repos {
		switch repo.Object.Spec.Provider {
		case GitHub, GitLab:
		default:
			continue
		}
		prs, err := p.Store.OpenPullRequests(ctx, repo.ID)
		if err != nil || len(prs) == 0 {
			continue
		}
		// Of the replicas, the first to ask refreshes the repository.
		now := time.Now()
		if mine, err := p.Store.ClaimPullRequestRefresh(ctx, repo.ID, now, now.Add(p.refreshEvery()-p.refreshEvery()/10)); err != nil || !mine {
			continue
		}
		g, err := p.Git(ctx, repo)
		if err != nil {
			continue
		}
		for _, pr := range prs {
			if ctx.Err() != nil {
				return
			}
			if err := p.pullRequest(ctx, repo, g, pr.Number, &pr); err != nil && ctx.Err() == nil {
				p.Log.Warn("webhooks: refresh a pull request", "repo", repo.Object.Namespace+"/"+repo.Object.Name, "pull_request", pr.Number, "err", err)
			}
		}
	}
}

// lockPullRequests serializes the pull request work of a repository.
func (p *Processor) lockPullRequests(repoID int64) func() { return p.prLocks.Lock(repoID) }
