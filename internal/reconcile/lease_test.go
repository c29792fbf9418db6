package reconcile

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// countedRemote serves the repositories under root over smart HTTP and
// counts the times a client asked for the refs: every ls-remote and every
// fetch asks once.
func countedRemote(t *testing.T, root string) (string, *atomic.Int64) {
	t.Helper()
	exe, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(exe)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + root}}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/info/refs") {
			n.Add(1)
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// startReplica runs a scheduler of its own, with a mirror directory of its
// own, on st; it stops at the end of the test or when stop is called.
func startReplica(t *testing.T, st store.Store, owner string, lease time.Duration) (stop func()) {
	src := &GitSource{MirrorDir: t.TempDir()}
	s := NewScheduler(New(st, src, quiet()), st, src, quiet(), &countingObserver{}, 2)
	s.Owner, s.Lease = owner, lease
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.CompareAndSwap(false, true) {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestReplicasPollOnce: two schedulers on one index poll a repository as
// often as one does (the refs of the remote asked for as often), and a
// repository whose sync lease is held by a replica that died is synced by
// another once the lease ends.
func TestReplicasPollOnce(t *testing.T) {
	g := gittest.New(t)
	g.Write(gittest.Package("nginx", "1"))
	g.Tag("nginx/v1", g.Commit("nginx"), "")
	base, asked := countedRemote(t, filepath.Dir(g.Dir))
	const every = 300 * time.Millisecond
	polls := func(replicas int) int64 {
		st := newStore(t)
		r := storetest.NewRepository("default", "blueprints")
		r.Object.Spec.Git.URL = base + "/" + filepath.Base(g.Dir)
		r.Object.Spec.Sync = &configv1alpha1.Sync{Interval: metav1.Duration{Duration: every}}
		if err := st.CreateRepository(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		var stops []func()
		for i := range replicas {
			stops = append(stops, startReplica(t, st, string(rune('a'+i)), 0))
		}
		// Past the first syncs (each replica fetches its mirror once).
		time.Sleep(time.Second)
		before := asked.Load()
		time.Sleep(3 * time.Second)
		n := asked.Load() - before
		for _, stop := range stops {
			stop()
		}
		return n
	}
	one, two := polls(1), polls(2)
	t.Logf("refs asked for in 3 s polled every %v: %d by one replica, %d by two", every, one, two)
	if one < 5 || two > one+one/4+1 {
		t.Errorf("two replicas asked for the refs %d times, one %d times; want as often", two, one)
	}
}

// TestSyncLeaseTakenOver: a repository whose sync lease a dead replica
// holds is synced by another once the lease ends, not before.
func TestSyncLeaseTakenOver(t *testing.T) {
	g := gittest.New(t)
	g.Write(gittest.Package("nginx", "1"))
	g.Tag("nginx/v1", g.Commit("nginx"), "")
	st := newStore(t)
	r := storetest.NewRepository("default", "local")
	r.Object.Spec.Git.URL = g.Dir
	if err := st.CreateRepository(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	const lease = time.Second
	start := time.Now()
	if ok, _, err := st.ClaimSync(context.Background(), r.ID, "dead", start, start.Add(lease), false); err != nil || !ok {
		t.Fatalf("claim for the dead replica: %v, %v", ok, err)
	}
	startReplica(t, st, "alive", lease)
	h := &schedHarness{t: t, st: st}
	h.waitFor("the sync after the lease ended", func() bool { return h.has("local.nginx.v1") })
	if took := time.Since(start); took < lease {
		t.Errorf("synced after %v, while the dead replica's lease of %v ran", took, lease)
	}
}
