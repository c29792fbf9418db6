package replicas

import (
	"fmt"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/webhooks/forgetest"
)

// TestChecksOnceAcrossReplicas: pushes of drafts delivered to two
// replicas, each delivery twice (a redelivery, to the other replica): the
// check of every pushed commit is posted to GitHub once, as one check run.
func TestChecksOnceAcrossReplicas(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("a"), c.start("b")
	fr := serveForgeRepo(t)
	g := fr.git
	const k = 8
	var commits []string
	for i := range k {
		g.Checkout("-b", fmt.Sprintf("drafts/nginx/w%d", i), "main")
		g.Write(gittest.Package("nginx", fmt.Sprintf("draft %d", i)))
		commits = append(commits, g.Commit(fmt.Sprintf("nginx: draft %d", i)))
	}
	g.Checkout("main")
	gh := forgetest.NewGitHub(t, g.Dir, "acme", "blueprints", "forge-token")
	c.secret(t, a, "gh-token", "forge-token")
	fr.register(t, c, a, time.Hour, "--api-url", gh.URL, "--credentials", "gh-token")

	for i, commit := range commits {
		body := pushPayload(t, fmt.Sprintf("refs/heads/drafts/nginx/w%d", i), commit)
		id := fmt.Sprintf("check-%d", i)
		for j := range 2 {
			to := []*replica{a, b}[(i+j)%2]
			code, err := deliver(to, id, body)
			if err != nil || (j == 0 && code != 202) || (j == 1 && code != 200 && code != 202) {
				t.Fatalf("delivery %s to %s: %d, %v", id, to.name, code, err)
			}
		}
	}
	c.waitProcessed(t, "check", k, time.Minute)
	waitFor(t, time.Minute, "every check posted", func() bool {
		var waiting int
		if err := c.sql().QueryRow(`SELECT COUNT(*) FROM checks WHERE reported = 0`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting == 0
	})
	var checks int
	if err := c.sql().QueryRow(`SELECT COUNT(*) FROM checks WHERE error = ''`).Scan(&checks); err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, run := range gh.CheckRuns() {
		runs[run.HeadSHA]++
	}
	t.Logf("%d checks stored, %d check runs on GitHub for %d commits", checks, len(gh.CheckRuns()), k)
	if checks != k {
		t.Errorf("%d checks posted without an error, want %d", checks, k)
	}
	for _, commit := range commits {
		if runs[commit] != 1 {
			t.Errorf("commit %s has %d check runs, want 1", commit[:12], runs[commit])
		}
	}
}
