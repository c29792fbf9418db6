package replicas

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/webhooks"
)

const hookSecret = "It's a secret"

// forgeRepo is a repository "on GitHub": its git served over smart HTTP,
// registered through a replica as default/gh with a webhook secret.
type forgeRepo struct {
	git    *gittest.Repo
	remote *remote
	url    string
}

func newForgeRepo(t *testing.T, c *cluster, through *replica, interval time.Duration) *forgeRepo {
	t.Helper()
	fr := serveForgeRepo(t)
	fr.register(t, c, through, interval, "--api-url", "http://127.0.0.1:1/")
	return fr
}

// serveForgeRepo makes the repository's git, with nginx v1 published and a
// draft, and serves it.
func serveForgeRepo(t *testing.T) *forgeRepo {
	t.Helper()
	g := gittest.New(t)
	g.Write(gittest.Package("nginx", "1"))
	g.Tag("nginx/v1", g.Commit("nginx"), "Release nginx v1")
	g.Git("branch", "drafts/nginx/first")
	rm := serveGit(t, filepath.Dir(g.Dir))
	return &forgeRepo{git: g, remote: rm, url: rm.url + "/" + filepath.Base(g.Dir)}
}

// register registers the repository through a replica, with its webhook
// secret and more arguments of repo add.
func (fr *forgeRepo) register(t *testing.T, c *cluster, through *replica, interval time.Duration, args ...string) {
	t.Helper()
	fr.registerAs(t, c, through, "gh", interval, args...)
}

// registerAs registers the repository under another name.
func (fr *forgeRepo) registerAs(t *testing.T, c *cluster, through *replica, name string, interval time.Duration, args ...string) {
	t.Helper()
	c.secret(t, through, "gh-hooks", hookSecret)
	out := c.cli(through, append([]string{"repo", "add", name, fr.url, "--github", "acme/blueprints", "--webhook-secret", "gh-hooks",
		"--interval", interval.String()}, args...)...)
	if !strings.Contains(out, "repository default/"+name+" added") {
		t.Fatalf("repo add: %s", out)
	}
}

// secret stores a token secret in the cluster's database.
func (c *cluster) secret(t *testing.T, through *replica, name, value string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cli(through, "secret", "set", name, "--token-file", file, "--data", through.data, "--database", c.db, "--keyring-file", c.keyFile)
}

// pushPayload is GitHub's example push payload (webhooks/testdata) about
// the draft branch's head.
func (fr *forgeRepo) pushPayload(t *testing.T) []byte {
	t.Helper()
	return pushPayload(t, "refs/heads/drafts/nginx/first", fr.git.Rev("drafts/nginx/first"))
}

// pushPayload is GitHub's example push payload (webhooks/testdata) about
// a push of commit to ref.
func pushPayload(t *testing.T, ref, commit string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../webhooks/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("REF"), []byte(ref)), []byte("AFTER"), []byte(commit))
}

// deliver posts a signed push delivery for default/gh to a replica and
// returns the status.
func deliver(r *replica, id string, body []byte) (int, error) { return deliverFor(r, "gh", id, body) }

// deliverFor posts a signed push delivery for default/repo.
func deliverFor(r *replica, repo, id string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks/github/default/"+repo, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	m := hmac.New(sha256.New, []byte(hookSecret))
	m.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// deliverAll posts deliveries prefix-0 ... prefix-(n-1), eight at a time,
// to the replicas in turn; every one must be accepted (202).
func deliverAll(t *testing.T, to []*replica, prefix string, n int, body []byte) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			id := fmt.Sprintf("%s-%d", prefix, i)
			code, err := deliver(to[i%len(to)], id, body)
			if err == nil && code != http.StatusAccepted {
				err = fmt.Errorf("delivery %s: %d", id, code)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// outcome is what the database records of a delivery.
type outcome struct {
	done, attempts int
	owner, err     string
}

func (c *cluster) outcomes(t *testing.T, prefix string) map[string]outcome {
	t.Helper()
	rows, err := c.sql().Query(`SELECT delivery_id, done, attempts, lease_owner, error FROM deliveries WHERE delivery_id LIKE $1`, prefix+"-%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]outcome{}
	for rows.Next() {
		var id string
		var o outcome
		if err := rows.Scan(&id, &o.done, &o.attempts, &o.owner, &o.err); err != nil {
			t.Fatal(err)
		}
		out[id] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitProcessed waits until the n deliveries of prefix are done, and
// checks each was recorded once (one attempt, no error); it returns how
// many each replica id processed.
func (c *cluster) waitProcessed(t *testing.T, prefix string, n int, limit time.Duration) map[string]int {
	t.Helper()
	waitFor(t, limit, fmt.Sprintf("%d deliveries %s-* processed", n, prefix), func() bool {
		done := 0
		for _, o := range c.outcomes(t, prefix) {
			done += o.done
		}
		return done == n
	})
	by := map[string]int{}
	got := c.outcomes(t, prefix)
	if len(got) != n {
		t.Errorf("%d deliveries %s-* stored, want %d", len(got), prefix, n)
	}
	for id, o := range got {
		if o.attempts != 1 || o.err != "" {
			t.Errorf("delivery %s: %+v; want processed once without an error", id, o)
		}
		by[o.owner]++
	}
	return by
}

// latency is the median and the longest time between storing a delivery
// of prefix and recording it processed.
func (c *cluster) latency(t *testing.T, prefix string) (time.Duration, time.Duration) {
	t.Helper()
	rows, err := c.sql().Query(`SELECT processed_at - received_at FROM deliveries WHERE delivery_id LIKE $1 ORDER BY 1`, prefix+"-%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ms []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, d)
	}
	if len(ms) == 0 {
		t.Fatalf("no deliveries %s-*", prefix)
	}
	return time.Duration(ms[len(ms)/2]) * time.Millisecond, time.Duration(ms[len(ms)-1]) * time.Millisecond
}

// indexEqualsGit checks that the database's revisions of default/gh are
// what a reindex of its git from nothing derives.
func (c *cluster) indexEqualsGit(t *testing.T, fr *forgeRepo) {
	t.Helper()
	ctx := context.Background()
	repo, err := c.store.GetRepository(ctx, "default", "gh")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	again := &store.Repository{Object: repo.Object}
	again.Object.ResourceVersion = ""
	if err := fresh.CreateRepository(ctx, again); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := reconcile.New(fresh, &reconcile.GitSource{MirrorDir: t.TempDir()}, quiet).Reindex(ctx, "default", "gh"); err != nil {
		t.Fatal(err)
	}
	revisions := func(st store.Index) map[string]revision.Revision {
		list, err := st.ListRevisions(ctx, store.ListOptions{Namespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]revision.Revision{}
		for _, r := range list.Items {
			out[r.Name] = r.Revision
		}
		return out
	}
	got, want := revisions(c.store), revisions(fresh)
	if len(want) == 0 {
		t.Fatal("git has no revisions")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("the index differs from git (-git +index):\n%s", d)
	}
}

// TestDeliveriesOnceAcrossReplicas: deliveries posted to two replicas
// alternately are each processed once, by one or the other; then one
// replica is killed (SIGKILL) while it processes a batch, and the other
// takes the batch over once its lease ends: every delivery processed
// once, none lost, and the index equals git.
func TestDeliveriesOnceAcrossReplicas(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("a"), c.start("b")
	fr := newForgeRepo(t, c, a, time.Hour)
	body := fr.pushPayload(t)

	const n = 300
	start := time.Now()
	deliverAll(t, []*replica{a, b}, "alt", n, body)
	by := c.waitProcessed(t, "alt", n, 2*time.Minute)
	t.Logf("%d deliveries posted to two replicas alternately, processed in %v: %d by a, %d by b",
		n, time.Since(start).Round(time.Millisecond), by[a.id], by[b.id])
	p50, max := c.latency(t, "alt")
	t.Logf("from stored to processed: median %v, at most %v", p50, max)
	if p50 > time.Second {
		t.Errorf("deliveries waited %v (median) to be processed", p50)
	}
	if by[a.id]+by[b.id] != n {
		t.Errorf("processed by %v; want by a (%s) and b (%s) only", by, a.id, b.id)
	}
	if got := a.logged(t, "webhook deliveries processed", "deliveries") + b.logged(t, "webhook deliveries processed", "deliveries"); got != n {
		t.Errorf("the replicas logged %d deliveries processed, want %d", got, n)
	}

	// A slow forge: a batch's sync takes seconds, and a replica is killed
	// in the middle of one.
	fr.remote.delay.Store(int64(3 * time.Second))
	const m = 150
	deliverAll(t, []*replica{a, b}, "kill", m, body)
	var victim, survivor *replica
	// The first claim takes the few deliveries stored by then; the next,
	// once that batch is done, a full one.
	waitFor(t, 30*time.Second, "a replica to hold a batch of at least 50 deliveries", func() bool {
		var owner string
		err := c.sql().QueryRow(`SELECT lease_owner FROM deliveries WHERE delivery_id LIKE 'kill-%' AND done = 0 AND lease_until > $1
			GROUP BY lease_owner HAVING COUNT(*) >= 50`, time.Now().UnixMilli()).Scan(&owner)
		switch {
		case err != nil:
			return false
		case owner == a.id:
			victim, survivor = a, b
		case owner == b.id:
			victim, survivor = b, a
		}
		return victim != nil
	})
	var held int
	if err := c.sql().QueryRow(`SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'kill-%' AND done = 0 AND lease_owner = $1`, victim.id).Scan(&held); err != nil {
		t.Fatal(err)
	}
	victim.kill(t)
	killed := time.Now()
	fr.remote.delay.Store(int64(200 * time.Millisecond))
	by = c.waitProcessed(t, "kill", m, 2*time.Minute)
	t.Logf("replica %s killed holding %d of %d deliveries; all processed %v later: %d by the survivor, %d by the victim before it died",
		victim.name, held, m, time.Since(killed).Round(time.Millisecond), by[survivor.id], by[victim.id])
	if by[survivor.id]+by[victim.id] != m || by[survivor.id] < held {
		t.Errorf("processed by %v; the survivor (%s) took over %d held by the victim (%s)", by, survivor.id, by[survivor.id], victim.id)
	}
	var last int64
	if err := c.sql().QueryRow(`SELECT MAX(processed_at) FROM deliveries WHERE delivery_id LIKE 'kill-%'`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if took := time.UnixMilli(last).Sub(killed); took < webhooks.DeliveryLease-webhooks.DeliveryLease/3-time.Second {
		t.Errorf("the victim's batch was finished %v after the kill, before its lease (%v) could end", took, webhooks.DeliveryLease)
	}
	c.indexEqualsGit(t, fr)
}
