package replicas

import (
	"testing"
	"time"
)

// TestBusyReplicaLeavesOtherRepositories: while a replica processes a
// slow batch of one repository, a delivery of another repository posted to
// it is picked up by the other replica, promptly.
func TestBusyReplicaLeavesOtherRepositories(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("a"), c.start("b")
	slow, quick := serveForgeRepo(t), serveForgeRepo(t)
	slow.register(t, c, a, time.Hour, "--api-url", "http://127.0.0.1:1/")
	quick.registerAs(t, c, a, "quick", time.Hour, "--api-url", "http://127.0.0.1:1/")

	slow.remote.delay.Store(int64(4 * time.Second))
	if code, err := deliver(a, "slow-1", slow.pushPayload(t)); err != nil || code != 202 {
		t.Fatalf("delivery to a: %d, %v", code, err)
	}
	waitFor(t, 10*time.Second, "a to claim the slow delivery", func() bool {
		var owner string
		err := c.sql().QueryRow(`SELECT lease_owner FROM deliveries WHERE delivery_id = 'slow-1' AND done = 0 AND lease_until > $1`,
			time.Now().UnixMilli()).Scan(&owner)
		return err == nil && owner != ""
	})
	names := map[string]string{a.id: "a", b.id: "b"}
	start := time.Now()
	if code, err := deliverFor(a, "quick", "quick-1", quick.pushPayload(t)); err != nil || code != 202 {
		t.Fatalf("delivery to a: %d, %v", code, err)
	}
	by := c.waitProcessed(t, "quick", 1, 10*time.Second)
	took := time.Since(start)
	slowOwner := ""
	if err := c.sql().QueryRow(`SELECT lease_owner FROM deliveries WHERE delivery_id = 'slow-1'`).Scan(&slowOwner); err != nil {
		t.Fatal(err)
	}
	var quickOwner string
	for owner := range by {
		quickOwner = owner
	}
	t.Logf("the slow batch held by %s; the other repository's delivery processed by %s %v after it was posted", names[slowOwner], names[quickOwner], took.Round(time.Millisecond))
	if quickOwner == slowOwner {
		t.Errorf("the delivery waited for the busy replica's batch")
	}
	if took > 2*time.Second {
		t.Errorf("the delivery was processed %v after it was posted, want promptly", took)
	}
	c.waitProcessed(t, "slow", 1, 30*time.Second)
}
