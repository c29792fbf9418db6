package replicas

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// git runs git in dir, with the environment a user's shell would give it
// (no askpass, no system or global configuration).
func gitIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitIn(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestReplicasHostedGit: two replicas on one database and one file system
// of hosted repositories. A repository created through one is pushed to
// through the other, whose hook validates the push, and both index it;
// two pushes from one base through the two replicas at once: one is
// accepted, the other refused as no longer applying, and git and the
// index hold the accepted one.
func TestReplicasHostedGit(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	c.prepare = func(data string) {
		if err := os.Symlink(filepath.Join(a.data, "repos"), filepath.Join(data, "repos")); err != nil {
			t.Fatal(err)
		}
	}
	b := c.start("b")
	c.cli(a, "repo", "add", "blueprints", "--hosted")
	cloneURL := func(r *replica) string {
		u := url.URL{Scheme: "http", User: url.UserPassword("ci", c.token), Host: r.addr, Path: "/git/default/blueprints.git"}
		return u.String()
	}

	// Pushed through b, indexed by both.
	work := filepath.Join(t.TempDir(), "work")
	mustGit(t, filepath.Dir(work), "clone", "-q", cloneURL(b), work)
	writePackage(t, work, "first")
	mustGit(t, work, "add", "-A")
	mustGit(t, work, "commit", "-q", "-m", "nginx")
	mustGit(t, work, "push", "-q", "origin", "main")
	for _, r := range []*replica{a, b} {
		waitFor(t, 20*time.Second, r.name+" to index the push", func() bool {
			return strings.Contains(c.output(r, "rpkg", "pull", "blueprints.nginx.main"), "value: first")
		})
	}
	// A push the hook refuses, through b: nothing changes.
	if err := os.WriteFile(filepath.Join(work, "nginx", "broken.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, "add", "-A")
	mustGit(t, work, "commit", "-q", "-m", "broken")
	if out, err := gitIn(t, work, "push", "origin", "main"); err == nil || !strings.Contains(out, "pkgserver") {
		t.Fatalf("a broken package was accepted: %v\n%s", err, out)
	}
	mustGit(t, work, "reset", "-q", "--hard", "HEAD~1")

	// Two pushes from one base, through a and b at once.
	clones := map[*replica]string{}
	for _, r := range []*replica{a, b} {
		dir := filepath.Join(t.TempDir(), r.name)
		mustGit(t, filepath.Dir(dir), "clone", "-q", cloneURL(r), dir)
		writePackage(t, dir, "from-"+r.name)
		mustGit(t, dir, "commit", "-q", "-am", "from "+r.name)
		clones[r] = dir
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]bool{}
	for r, dir := range clones {
		wg.Go(func() {
			_, err := gitIn(t, dir, "push", "-q", "origin", "main")
			mu.Lock()
			accepted[r.name] = err == nil
			mu.Unlock()
		})
	}
	wg.Wait()
	if accepted["a"] == accepted["b"] {
		t.Fatalf("two pushes from one base: accepted %v, want exactly one", accepted)
	}
	winner := "a"
	if accepted["b"] {
		winner = "b"
	}
	bare := filepath.Join(a.data, "repos", "default", "blueprints.git")
	if got := mustGit(t, bare, "show", "main:nginx/cm.yaml"); !strings.Contains(got, "value: from-"+winner) {
		t.Errorf("git holds:\n%s", got)
	}
	for _, r := range []*replica{a, b} {
		waitFor(t, 20*time.Second, r.name+" to index the accepted push", func() bool {
			return strings.Contains(c.output(r, "rpkg", "pull", "blueprints.nginx.main"), "value: from-"+winner)
		})
	}
}

// writePackage writes the package nginx into a work tree, its ConfigMap
// holding value.
func writePackage(t *testing.T, work, value string) {
	t.Helper()
	files := map[string]string{
		"nginx/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: nginx\n",
		"nginx/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\ndata:\n  value: " + value + "\n",
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

// output is the output of the pkgserver client run against a replica,
// whatever its exit status.
func (c *cluster) output(r *replica, args ...string) string {
	out, _ := c.run(r, args...)
	return out
}
