package replicas

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplicasPostgresRestart: two replicas take writes (repositories
// registered through each in turn) while PostgreSQL is stopped for 3 s and
// started again. Meanwhile both answer /readyz 503; afterwards both answer
// 200 again by themselves, take writes again, and every write they
// answered with success is there, on both.
func TestReplicasPostgresRestart(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("a"), c.start("b")
	bare := filepath.Join(t.TempDir(), "remote.git")
	mustGit(t, filepath.Dir(bare), "init", "-q", "--bare", "--initial-branch=main", bare)

	var stop atomic.Bool
	var mu sync.Mutex
	var written []string
	var failed int
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			name := fmt.Sprintf("r%04d", i)
			r := []*replica{a, b}[i%2]
			_, err := c.run(r, "repo", "add", name, bare, "--no-wait")
			mu.Lock()
			if err == nil {
				written = append(written, name)
			} else {
				failed++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})
	readyz := func(r *replica) int {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Both ready, writes going; then PostgreSQL down for 3 s.
	time.Sleep(time.Second)
	var unready [2]atomic.Bool
	var watching atomic.Bool
	watching.Store(true)
	wg.Go(func() {
		for watching.Load() {
			for i, r := range []*replica{a, b} {
				if readyz(r) == http.StatusServiceUnavailable {
					unready[i].Store(true)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	pg.Restart(t, 3*time.Second)
	watching.Store(false)
	for i, r := range []*replica{a, b} {
		if !unready[i].Load() {
			t.Errorf("%s never answered /readyz 503 while PostgreSQL was down", r.name)
		}
		waitFor(t, 30*time.Second, r.name+" ready again", func() bool { return readyz(r) == http.StatusOK })
	}
	mu.Lock()
	before := len(written)
	mu.Unlock()
	waitFor(t, 30*time.Second, "writes taken again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(written) >= before+10
	})
	stop.Store(true)
	wg.Wait()
	t.Logf("%d writes answered with success, %d refused while PostgreSQL was down", len(written), failed)
	for _, r := range []*replica{a, b} {
		list := c.cli(r, "repo", "list")
		var missing []string
		for _, name := range written {
			if !strings.Contains(list, name) {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s lacks %d written repositories: %v", r.name, len(missing), missing[:min(len(missing), 10)])
		}
	}
}
