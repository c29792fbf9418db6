package reconcile

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// countingObserver counts reconciles (fetch and index passes).
type countingObserver struct {
	mu         sync.Mutex
	reconciles int
	failures   int
}

func (o *countingObserver) ObserveReconcile(_ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reconciles++
	if err != nil {
		o.failures++
	}
}

func (o *countingObserver) QueueDepth(int) {}

func (o *countingObserver) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reconciles, o.failures
}

type schedHarness struct {
	t       *testing.T
	st      store.Store
	sched   *Scheduler
	obs     *countingObserver
	running bool
}

func newScheduler(t *testing.T, creds CredentialsFunc) *schedHarness {
	st := newStore(t)
	src := &GitSource{MirrorDir: filepath.Join(t.TempDir(), "mirrors"), Credentials: creds}
	obs := &countingObserver{}
	return &schedHarness{t: t, st: st, sched: NewScheduler(New(st, src, quiet()), st, src, quiet(), obs, 2), obs: obs}
}

// run starts the scheduler: it syncs the repositories registered so far.
func (h *schedHarness) run() {
	t, s := h.t, h.sched
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// Run has started once it has a context.
	for {
		s.mu.Lock()
		ok := s.ctx != nil
		s.mu.Unlock()
		if ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h.running = true
}

// register adds a repository syncing every interval: the scheduler reads
// it at start, or is told of it when running.
func (h *schedHarness) register(name, url string, interval time.Duration, creds string) {
	h.t.Helper()
	r := storetest.NewRepository("default", name)
	r.Object.Spec.Git.URL = url
	r.Object.Spec.Git.Credentials = creds
	r.Object.Spec.Sync = &configv1alpha1.Sync{Interval: metav1.Duration{Duration: interval}}
	if err := h.st.CreateRepository(context.Background(), r); err != nil {
		h.t.Fatal(err)
	}
	if h.running {
		h.sched.Add(r)
	}
}

// waitFor polls until cond holds.
func (h *schedHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

func (h *schedHarness) ready(name string) *metav1.Condition {
	r, err := h.st.GetRepository(context.Background(), "default", name)
	if err != nil {
		h.t.Fatal(err)
	}
	return meta.FindStatusCondition(r.Object.Status.Conditions, "Ready")
}

func (h *schedHarness) has(name string) bool {
	_, err := h.st.GetRevision(context.Background(), "default", name)
	return err == nil
}

// TestSchedulerPollsRemote serves a repository with git daemon: the first
// sync indexes it; later polls list the remote's refs and, while they are
// unchanged, neither fetch nor reindex; a push is picked up on the next
// interval without being asked.
func TestSchedulerPollsRemote(t *testing.T) {
	g := gittest.New(t)
	g.Write(gittest.Package("nginx", "1"))
	g.Tag("nginx/v1", g.Commit("nginx"), "Release nginx v1") // annotated: listed unpeeled
	base := gittest.ServeDaemon(t, filepath.Dir(g.Dir))
	h := newScheduler(t, nil)
	h.register("blueprints", base+"/"+filepath.Base(g.Dir), 100*time.Millisecond, "")
	h.run()
	h.waitFor("the first sync", func() bool { c := h.ready("blueprints"); return c != nil && c.Status == metav1.ConditionTrue })
	if !h.has("blueprints.nginx.v1") {
		t.Fatal("Ready before the revisions are indexed")
	}
	first, _ := h.obs.counts()
	r0, _ := h.st.GetRepository(context.Background(), "default", "blueprints")
	h.waitFor("polls of an unchanged remote", func() bool {
		r, _ := h.st.GetRepository(context.Background(), "default", "blueprints")
		return r.Object.Status.LastSyncTime != nil && r.Object.Status.LastSyncTime.After(r0.Object.Status.LastSyncTime.Add(time.Second))
	})
	if n, _ := h.obs.counts(); n != first {
		t.Errorf("%d reconciles while the remote did not change, want %d", n, first)
	}
	if c := h.ready("blueprints"); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}

	g.Write(gittest.Package("nginx", "2"))
	g.Tag("nginx/v2", g.Commit("nginx 2"), "")
	h.waitFor("the push to be polled", func() bool { return h.has("blueprints.nginx.v2") })
}

// TestSchedulerIsolatesFailures: a remote that refuses connections is
// marked not Ready and retried, while another repository keeps syncing.
func TestSchedulerIsolatesFailures(t *testing.T) {
	good := gittest.New(t)
	good.Write(gittest.Package("nginx", "1"))
	good.Tag("nginx/v1", good.Commit("nginx"), "")
	h := newScheduler(t, nil)
	h.run()
	h.register("down", "git://127.0.0.1:1/nothing.git", 100*time.Millisecond, "")
	h.register("good", good.Dir, 100*time.Millisecond, "")
	h.waitFor("the good repository", func() bool { return h.has("good.nginx.v1") })
	h.waitFor("the failure to be recorded", func() bool {
		c := h.ready("down")
		return c != nil && c.Status == metav1.ConditionFalse
	})
	if c := h.ready("down"); c.Reason != "SyncFailed" || !strings.Contains(c.Message, "127.0.0.1:1") {
		t.Errorf("Ready = %+v", c)
	}
	h.waitFor("retries", func() bool { _, f := h.obs.counts(); return f >= 3 })
	good.Write(gittest.Package("nginx", "2"))
	good.Tag("nginx/v2", good.Commit("nginx 2"), "")
	h.waitFor("the good repository to keep up", func() bool { return h.has("good.nginx.v2") })

	// Removing a repository stops its syncs.
	r, _ := h.st.GetRepository(context.Background(), "default", "down")
	h.sched.Remove(r)
	if err := h.st.DeleteRepository(context.Background(), "default", "down"); err != nil {
		t.Fatal(err)
	}
	_, before := h.obs.counts()
	time.Sleep(400 * time.Millisecond)
	if _, after := h.obs.counts(); after > before+1 { // one may have been under way
		t.Errorf("%d failed syncs after the repository was removed", after-before)
	}
}

// TestSchedulerCredentials fetches over smart HTTP (git http-backend)
// behind basic authentication with the credentials a repository names; a
// wrong password fails without showing up in the status.
func TestSchedulerCredentials(t *testing.T) {
	g := gittest.New(t)
	g.Write(gittest.Package("nginx", "1"))
	g.Tag("nginx/v1", g.Commit("nginx"), "")
	base := gittest.ServeHTTP(t, filepath.Dir(g.Dir), "deployer", "s3cret-pa55")
	secrets := map[string]*gitrepo.Credentials{
		"right": {Username: "deployer", Password: "s3cret-pa55"},
		"wrong": {Username: "deployer", Password: "guessed-pa55"},
	}
	h := newScheduler(t, func(_ context.Context, ns, name string) (*gitrepo.Credentials, error) {
		if c, ok := secrets[name]; ok && ns == "default" {
			return c, nil
		}
		return nil, errors.New("no such secret")
	})
	url := base + "/" + filepath.Base(g.Dir)
	h.register("open", url, time.Hour, "right")
	h.register("locked", url, time.Hour, "wrong")
	h.register("anonymous", url, time.Hour, "")
	h.run()
	h.waitFor("the authenticated sync", func() bool { return h.has("open.nginx.v1") })
	for _, name := range []string{"locked", "anonymous"} {
		h.waitFor(name+" to fail", func() bool {
			c := h.ready(name)
			return c != nil && c.Status == metav1.ConditionFalse
		})
		if c := h.ready(name); strings.Contains(c.Message, "pa55") {
			t.Errorf("%s: the status shows a password: %s", name, c.Message)
		}
	}
	// A sync on demand of a changed remote waits for the new revisions.
	g.Write(gittest.Package("nginx", "2"))
	g.Tag("nginx/v2", g.Commit("nginx 2"), "")
	if err := h.sched.SyncNow(context.Background(), "default", "open"); err != nil {
		t.Fatal(err)
	}
	if !h.has("open.nginx.v2") {
		t.Error("SyncNow returned before the push was indexed")
	}
}

// TestSchedulerRestart: a server restarted over an index that is up to date
// with its local repositories compares refs and reconciles nothing.
func TestSchedulerRestart(t *testing.T) {
	g := gittest.New(t)
	g.Write(gittest.Package("nginx", "1"))
	g.Tag("nginx/v1", g.Commit("nginx"), "Release nginx v1")
	g.Git("branch", "drafts/nginx/edit")
	st := newStore(t)
	run := func() (*countingObserver, func()) {
		src := &GitSource{MirrorDir: t.TempDir()}
		obs := &countingObserver{}
		s := NewScheduler(New(st, src, quiet()), st, src, quiet(), obs, 2)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return obs, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	r := storetest.NewRepository("default", "local")
	r.Object.Spec.Git.URL = g.Dir
	if err := st.CreateRepository(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h := &schedHarness{t: t, st: st}
	obs, stop := run()
	h.waitFor("the first sync", func() bool { c := h.ready("local"); return c != nil && c.Status == metav1.ConditionTrue })
	if n, _ := obs.counts(); n != 1 {
		t.Errorf("first start: %d reconciles", n)
	}
	stop()
	before, _ := st.GetRepository(context.Background(), "default", "local")
	time.Sleep(1100 * time.Millisecond) // lastSyncTime has a resolution of a second

	obs, stop = run()
	defer stop()
	h.waitFor("the check at restart", func() bool {
		r, _ := st.GetRepository(context.Background(), "default", "local")
		return r.Object.Status.LastSyncTime.After(before.Object.Status.LastSyncTime.Time)
	})
	if n, _ := obs.counts(); n != 0 {
		t.Errorf("restart over an up-to-date index: %d reconciles", n)
	}
}
