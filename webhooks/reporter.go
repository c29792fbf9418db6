package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pkgserver/pkgserver/internal/result"
	"github.com/pkgserver/pkgserver/internal/store"
)

// Reporter posts stored checks to the forges: each as soon as it is stored,
// after a restart too. A post that fails with a server error, a rate limit
// or no answer is tried again with growing pauses (the forge's Retry-After
// or rate limit reset when it gives one); other refusals are recorded and
// not tried again. Posts run in parallel, at most two per repository, so a
// slow or failing forge holds up no other repository.
type Reporter struct {
	Store  ReporterStore
	Forges ForgeFunc
	// DetailsURL is where the full report of a commit's checks is read.
	DetailsURL func(namespace, repository, commit string) string
	Log        *slog.Logger
	// RetryBase is the first pause after a failure (default 2 s); it
	// doubles with each attempt up to RetryMax (default 10 min).
	RetryBase, RetryMax time.Duration
	// Owner is the id this reporter claims checks under
	// (store.NewReplicaID): of several replicas, one posts each attempt.
	Owner string

	wake chan struct{}
	mu   sync.Mutex
	// inFlight holds the checks being posted, perRepo how many of each
	// repository's.
	inFlight map[int64]bool
	perRepo  map[string]int
}

// Bounds of the posting.
const (
	maxReportAttempts = 10
	maxPosts          = 8
	maxPostsPerRepo   = 2
)

// NewReporter returns a reporter; Run starts it.
func NewReporter(st ReporterStore, forges ForgeFunc, detailsURL func(ns, repo, commit string) string, log *slog.Logger) *Reporter {
	return &Reporter{Store: st, Forges: forges, DetailsURL: detailsURL, Log: log, wake: make(chan struct{}, 1),
		inFlight: map[int64]bool{}, perRepo: map[string]int{}, Owner: store.NewReplicaID()}
}

// Notify wakes the reporter: a check was stored.
func (r *Reporter) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run posts checks until ctx ends, and waits for the posts under way.
func (r *Reporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		wait := r.round(ctx, &wg)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-r.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// round starts posts of the due checks, and returns how long to wait before
// looking again when nothing wakes the reporter.
func (r *Reporter) round(ctx context.Context, wg *sync.WaitGroup) time.Duration {
	// Read under the lock: a post that ends meanwhile has recorded its
	// outcome before it leaves inFlight, so no check is started twice.
	r.mu.Lock()
	defer r.mu.Unlock()
	due, err := r.Store.DueChecks(ctx, time.Now(), maxPostsPerRepo, 4*maxPosts)
	if err != nil {
		if ctx.Err() == nil {
			r.Log.Error("webhooks: read checks to post", "err", err)
		}
		return 5 * time.Second
	}
	for _, c := range due {
		key := c.Namespace + "/" + c.Repository
		if r.inFlight[c.ID] || len(r.inFlight) >= maxPosts || r.perRepo[key] >= maxPostsPerRepo {
			continue
		}
		r.inFlight[c.ID] = true
		r.perRepo[key]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.post(ctx, c)
			r.mu.Lock()
			delete(r.inFlight, c.ID)
			if r.perRepo[key]--; r.perRepo[key] == 0 {
				delete(r.perRepo, key)
			}
			r.mu.Unlock()
			r.Notify()
		}()
	}
	// Retries come due with time, not with a wake-up: look again when the
	// earliest is due (posts under way wake the reporter when they end).
	next, err := r.Store.NextCheckAttempt(ctx, time.Now())
	if err != nil || next.IsZero() {
		return time.Minute
	}
	return max(time.Until(next), 10*time.Millisecond)
}

// CheckLease is how long an attempt holds a check: a replica that stops in
// the middle of one leaves it to be tried again, by any replica, after
// this. An attempt's calls to the forge end within 10 s, well inside it.
const CheckLease = 2 * time.Minute

// post makes one attempt at posting a check and records how far it got:
// the attempt is claimed (with a lease) before the forge is called, and
// the progress recorded after each call, so that an attempt cut short is
// continued, never repeated. Of replicas that read the check due at once,
// the first to claim it posts it.
func (r *Reporter) post(ctx context.Context, c store.Check) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	record := func(p store.CheckPosting) error {
		err := r.Store.UpdateCheckPosting(wctx, c.ID, p)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			r.Log.Error("webhooks: record a check's posting", "err", err)
		}
		return err
	}
	claimed := c.CheckPosting
	now := time.Now()
	claimed.Attempts, claimed.NextAttempt = c.Attempts+1, now.Add(CheckLease)
	ok, err := r.Store.ClaimCheck(wctx, c.ID, r.Owner, now, claimed)
	if err != nil {
		r.Log.Error("webhooks: claim a check to post", "err", err)
	}
	if !ok {
		return // another replica posts it
	}
	p, err := r.attempt(ctx, &c, func(p store.CheckPosting) error {
		p.Attempts, p.NextAttempt = claimed.Attempts, claimed.NextAttempt
		return record(p)
	})
	p.Attempts = claimed.Attempts
	switch {
	case ctx.Err() != nil:
		// Stopping: what was posted is recorded; the rest is tried at the
		// next start, this attempt not counted.
		p.Attempts, p.NextAttempt = c.Attempts, time.Time{}
	case err != nil:
		p.Error = err.Error()
		retry, after := Retryable(err)
		if !retry || p.Attempts >= maxReportAttempts {
			p.Reported, p.NextAttempt = true, time.Time{} // given up: the error stays on record
			r.Log.Error("check not posted", "repo", c.Namespace+"/"+c.Repository, "commit", c.Commit, "attempts", p.Attempts, "err", err)
		} else {
			p.NextAttempt = time.Now().Add(max(after, r.backoff(p.Attempts)))
			r.Log.Warn("posting a check failed; trying again", "repo", c.Namespace+"/"+c.Repository, "commit", c.Commit,
				"attempt", p.Attempts, "next", p.NextAttempt, "err", err)
		}
	default:
		p.NextAttempt = time.Time{}
	}
	_ = record(p)
}

func (r *Reporter) attempt(ctx context.Context, c *store.Check, save func(store.CheckPosting) error) (store.CheckPosting, error) {
	repo, err := r.Store.GetRepository(ctx, c.Namespace, c.Repository)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.CheckPosting{Reported: true, Error: "the repository was deleted"}, nil
		}
		return c.CheckPosting, err
	}
	f, err := r.Forges(ctx, repo)
	if err != nil {
		return c.CheckPosting, err // a secret unreadable now, perhaps not later
	}
	var results []result.Result
	if err := json.Unmarshal(c.Results, &results); err != nil {
		return c.CheckPosting, &APIError{Op: "read the check", Err: err}
	}
	url := ""
	if r.DetailsURL != nil {
		url = r.DetailsURL(c.Namespace, c.Repository, c.Commit)
	}
	return f.PostCheck(ctx, c, results, url, save)
}

func (r *Reporter) backoff(attempts int) time.Duration {
	base, limit := r.RetryBase, r.RetryMax
	if base <= 0 {
		base = 2 * time.Second
	}
	if limit <= 0 {
		limit = 10 * time.Minute
	}
	d := base << min(attempts-1, 20)
	return min(d, limit)
}
