package replicas

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplicasApprovalKilled: two replicas sharing the hosted repositories;
// the one approving a proposal is killed with SIGKILL at some point of the
// approval (five rounds, killed later each time). Afterwards the other
// replica, once it has synced, tells what git holds — the proposal either
// published (its tag, no proposal branch) or still proposed (its branch,
// no tag), never half of it — and approving there again publishes it.
func TestReplicasApprovalKilled(t *testing.T) {
	c := newCluster(t)
	first := c.start("a0")
	// The shared file system exists before any replica creates a
	// repository on it, as a mounted volume does.
	if err := os.MkdirAll(filepath.Join(first.data, "repos"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.prepare = func(data string) {
		if err := os.Symlink(filepath.Join(first.data, "repos"), filepath.Join(data, "repos")); err != nil {
			t.Fatal(err)
		}
	}
	b := c.start("b")
	c.cli(b, "repo", "add", "blueprints", "--hosted")
	bare := filepath.Join(first.data, "repos", "default", "blueprints.git")
	work := filepath.Join(t.TempDir(), "work")
	mustGit(t, filepath.Dir(work), "clone", "-q", cloneURL(c, b), work)

	approver := first
	for round, delay := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond, 600 * time.Millisecond} {
		ws := fmt.Sprintf("big%d", round)
		name := "blueprints.nginx." + ws
		// A proposal large enough that its approval's validation takes a
		// while: 3,000 ConfigMaps.
		mustGit(t, work, "checkout", "-q", "-B", "proposed/nginx/"+ws, "origin/main")
		writeBigPackage(t, work, ws, 3000)
		mustGit(t, work, "add", "-A")
		mustGit(t, work, "commit", "-q", "-m", "nginx "+ws)
		mustGit(t, work, "push", "-q", "origin", "proposed/nginx/"+ws)
		waitFor(t, 30*time.Second, "the proposal in the index", func() bool {
			return strings.Contains(c.output(b, "rpkg", "get", name), "Proposed")
		})

		cmd := exec.Command(filepath.Join(binDir, "pkgserver"), "rpkg", "approve", name)
		cmd.Env = append(os.Environ(), "HOME="+approver.data, "PKGSERVER_SERVER=http://"+approver.addr, "PKGSERVER_TOKEN="+c.token)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		approver.kill(t)
		clientErr := cmd.Wait()

		c.cli(b, "repo", "sync", "blueprints")
		tag := fmt.Sprintf("refs/tags/nginx/v%d", round+1)
		_, tagErr := gitIn(t, bare, "rev-parse", "--verify", "-q", tag)
		_, branchErr := gitIn(t, bare, "rev-parse", "--verify", "-q", "refs/heads/proposed/nginx/"+ws)
		published, proposed := tagErr == nil, branchErr == nil
		t.Logf("round %d, killed after %v: published %v, proposed %v, client: %v", round, delay, published, proposed, clientErr)
		if published == proposed {
			t.Fatalf("round %d: tag %s %v and proposal branch %v: half an approval", round, tag, published, proposed)
		}
		got := c.output(b, "rpkg", "get", name)
		if published && !strings.Contains(got, "Published") || proposed && !strings.Contains(got, "Proposed") {
			t.Fatalf("round %d: the other replica tells:\n%s", round, got)
		}
		if proposed {
			c.cli(b, "rpkg", "approve", name)
			if _, err := gitIn(t, bare, "rev-parse", "--verify", "-q", tag); err != nil {
				t.Fatalf("round %d: approved again, %s is missing", round, tag)
			}
		}
		mustGit(t, work, "fetch", "-q", "origin")
		approver = c.start(fmt.Sprintf("a%d", round+1))
	}
}

// cloneURL is the smart HTTP URL of the hosted repository blueprints at a
// replica, with the cluster's token.
func cloneURL(c *cluster, r *replica) string {
	return "http://ci:" + c.token + "@" + r.addr + "/git/default/blueprints.git"
}

// writeBigPackage writes the package nginx with n ConfigMaps, 500 a file,
// their values marked, into a work tree.
func writeBigPackage(t *testing.T, work, mark string, n int) {
	t.Helper()
	files := map[string]string{"nginx/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: nginx\n"}
	for f := 0; f*500 < n; f++ {
		var b strings.Builder
		for i := f * 500; i < min(n, (f+1)*500); i++ {
			fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\ndata:\n  value: %s-%d\n---\n", i, mark, i)
		}
		files[fmt.Sprintf("nginx/cm-%d.yaml", f)] = b.String()
	}
	for name, data := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
