package replicas

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/reconcile"
)

// revisionsState is the number of revisions and the newest resource
// version among them: a sync that rewrote revisions changes it.
func (c *cluster) revisionsState(t *testing.T) [2]int64 {
	t.Helper()
	var s [2]int64
	if err := c.sql().QueryRow(`SELECT COUNT(*), COALESCE(MAX(resource_version), 0) FROM revisions`).Scan(&s[0], &s[1]); err != nil {
		t.Fatal(err)
	}
	return s
}

// syncLease is the owner of default/gh's sync lease while it runs, and
// the polls recorded.
func (c *cluster) syncLease(t *testing.T) (owner string, polls int64) {
	t.Helper()
	var until int64
	if err := c.sql().QueryRow(`SELECT s.lease_owner, s.lease_until, s.polls FROM repository_syncs s JOIN repositories r ON r.id = s.repository_id
		WHERE r.namespace = 'default' AND r.name = 'gh'`).Scan(&owner, &until, &polls); err != nil {
		t.Fatal(err)
	}
	if until <= time.Now().UnixMilli() {
		owner = ""
	}
	return owner, polls
}

// TestSyncOnceAcrossReplicas: two replicas poll a repository as often as
// one does (the forge's git is asked for its refs as often); a replica
// started cold fetches its own mirror without rewriting the revisions
// the shared index holds; and when the replica syncing the repository is
// killed, the other takes the sync over once the lease ends, and the
// index follows git.
func TestSyncOnceAcrossReplicas(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	const every = 5 * time.Second // the shortest interval a repository takes
	fr := newForgeRepo(t, c, a, every)
	asked := func(window time.Duration) int64 {
		before := fr.remote.asked.Load()
		time.Sleep(window)
		return fr.remote.asked.Load() - before
	}
	time.Sleep(2 * time.Second)
	const window = 25 * time.Second
	one := asked(window)

	before := c.revisionsState(t)
	b := c.start("b")
	waitFor(t, 30*time.Second, "b's first sync", func() bool {
		log, _ := os.ReadFile(b.logPath)
		return strings.Contains(string(log), "msg=reconciled repo=default/gh")
	})
	if after := c.revisionsState(t); after != before {
		t.Errorf("a replica started cold rewrote revisions: (count, newest resource version) %v, before %v", after, before)
	}
	log, _ := os.ReadFile(b.logPath)
	if !strings.Contains(string(log), "msg=reconciled repo=default/gh refs_changed=0 packages=0 trees_added=0 blobs_added=0") {
		t.Errorf("b's first sync read more than its mirror:\n%s", log)
	}
	two := asked(window)
	_, polls := c.syncLease(t)
	t.Logf("refs asked for in %v, polled every %v: %d with one replica, %d with two (%d polls recorded)", window, every, one, two, polls)
	if one < 4 || two > one+one/4+1 {
		t.Errorf("two replicas asked for the refs %d times, one %d times; want as often", two, one)
	}

	// A slow forge: a sync takes seconds, and the replica making it dies.
	fr.remote.delay.Store(int64(3 * time.Second))
	var victim, survivor *replica
	waitFor(t, 30*time.Second, "a replica to hold the sync lease", func() bool {
		switch owner, _ := c.syncLease(t); owner {
		case a.id:
			victim, survivor = a, b
		case b.id:
			victim, survivor = b, a
		}
		return victim != nil
	})
	_, polls = c.syncLease(t)
	victim.kill(t)
	killed := time.Now()
	fr.remote.delay.Store(0)
	g := fr.git
	g.Write(gittest.Package("nginx", "2"))
	g.Tag("nginx/v2", g.Commit("nginx 2"), "Release nginx v2")
	waitFor(t, time.Minute, "the survivor to poll", func() bool {
		owner, n := c.syncLease(t)
		return n > polls && owner != victim.id
	})
	took := time.Since(killed)
	t.Logf("replica %s killed while it synced; %s polled %v later (lease %v)", victim.name, survivor.name, took.Round(time.Millisecond), reconcile.SyncLease)
	if took < reconcile.SyncLease-reconcile.SyncLease/3-time.Second {
		t.Errorf("the survivor polled %v after the kill, before the victim's lease could end", took)
	}
	waitFor(t, 30*time.Second, "nginx v2 indexed", func() bool {
		_, err := c.store.GetRevision(context.Background(), "default", "gh.nginx.v2")
		return err == nil
	})
	c.indexEqualsGit(t, fr)
}
