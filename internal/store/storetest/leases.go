package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// TestLeases tests the leases that let replicas of one database share the
// work: deliveries (store.DeliveryLeases), checks (store.CheckLeases),
// syncs (store.SyncLeases) and refreshes of pull requests
// (store.PullRequestRefreshes).
func TestLeases(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []test[store.Store]{
		{"Deliveries", testDeliveryLeases},
		{"ManyDeliveries", testManyDeliveries},
		{"Checks", testCheckLeases},
		{"Syncs", testSyncLeases},
		{"PullRequestRefreshes", testRefreshClaims},
	})
}

func deliveryIDs(ds []store.Delivery) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.DeliveryID)
	}
	return fmt.Sprint(s)
}

// testDeliveryLeases: a claim takes the oldest pending deliveries that no
// other replica holds, a repository's deliveries go to one replica at a
// time, an expired lease is claimed again, and outcomes are recorded only
// under the lease.
func testDeliveryLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	lease := now.Add(30 * time.Second)
	for i, repo := range []string{"cat", "cat", "dog", "cat", "emu"} {
		d := &store.Delivery{Forge: "github", DeliveryID: fmt.Sprintf("%s-%d", repo, i), Namespace: "default", Repository: repo,
			Event: "push", Payload: []byte(`{}`), ReceivedAt: now}
		if _, err := s.AddDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.ClaimDeliveries(ctx, "a", now, lease, 0, 2)
	if err != nil || deliveryIDs(a) != "[cat-0 cat-1]" {
		t.Fatalf("a's claim: %s, %v; want [cat-0 cat-1]", deliveryIDs(a), err)
	}
	// b passes over cat, whose deliveries a holds, cat-3 too.
	b, err := s.ClaimDeliveries(ctx, "b", now, lease, 0, 10)
	if err != nil || deliveryIDs(b) != "[dog-2 emu-4]" {
		t.Fatalf("b's claim: %s, %v; want [dog-2 emu-4]", deliveryIDs(b), err)
	}
	// a claims again what it holds, and the rest of cat.
	again, err := s.ClaimDeliveries(ctx, "a", now, lease, 0, 10)
	if err != nil || deliveryIDs(again) != "[cat-0 cat-1 cat-3]" {
		t.Fatalf("a's second claim: %s, %v; want [cat-0 cat-1 cat-3]", deliveryIDs(again), err)
	}
	// b cannot record outcomes of a's deliveries.
	lost, err := s.FinishClaimedDeliveries(ctx, "b", []store.DeliveryOutcome{{ID: a[0].ID, Done: true}, {ID: b[0].ID, Done: true}})
	if err != nil || fmt.Sprint(lost) != fmt.Sprint([]int64{a[0].ID}) {
		t.Fatalf("b finishing a's delivery and its own: lost %v, %v", lost, err)
	}
	if d, _ := s.GetDelivery(ctx, "github", "dog-2"); !d.Done || d.Attempts != 1 {
		t.Errorf("dog-2 after b finished it: %+v", d)
	}
	if d, _ := s.GetDelivery(ctx, "github", "cat-0"); d.Done {
		t.Errorf("cat-0 finished by a replica that did not hold it: %+v", d)
	}
	// a fails cat-0 for now: it keeps it until its retry, b does not get it.
	retry := now.Add(time.Minute)
	if lost, err := s.FinishClaimedDeliveries(ctx, "a", []store.DeliveryOutcome{{ID: a[0].ID, Reason: "500", RetryAt: retry},
		{ID: a[1].ID, Done: true}}); err != nil || len(lost) != 0 {
		t.Fatalf("a finishing: lost %v, %v", lost, err)
	}
	if lost, err := s.HoldDeliveries(ctx, "a", lease, []int64{again[2].ID, b[1].ID}); err != nil || fmt.Sprint(lost) != fmt.Sprint([]int64{b[1].ID}) {
		t.Fatalf("a renewing cat-3 and b's emu-4: lost %v, %v", lost, err)
	}
	if got, err := s.ClaimDeliveries(ctx, "b", now.Add(40*time.Second), now.Add(70*time.Second), 0, 10); err != nil || deliveryIDs(got) != "[emu-4]" {
		t.Fatalf("b's claim while a holds cat-0 for its retry: %s, %v; want [emu-4]", deliveryIDs(got), err)
	}
	// a dies: once its leases end, b takes cat over.
	later := now.Add(2 * time.Minute)
	got, err := s.ClaimDeliveries(ctx, "b", later, later.Add(30*time.Second), 0, 10)
	if err != nil || deliveryIDs(got) != "[cat-0 cat-3 emu-4]" {
		t.Fatalf("b's claim after a's leases ended: %s, %v; want [cat-0 cat-3 emu-4]", deliveryIDs(got), err)
	}
	if got[0].Attempts != 1 {
		t.Errorf("cat-0 claimed with %d attempts, want 1", got[0].Attempts)
	}
	if lost, err := s.FinishClaimedDeliveries(ctx, "a", []store.DeliveryOutcome{{ID: got[1].ID, Done: true}}); err != nil || len(lost) != 1 {
		t.Errorf("a finishing cat-3 after b took it: lost %v, %v", lost, err)
	}
	// Claims page past deliveries waiting for their next attempt.
	if page, err := s.ClaimDeliveries(ctx, "b", later, later.Add(30*time.Second), got[0].ID, 10); err != nil || deliveryIDs(page) != "[cat-3 emu-4]" {
		t.Errorf("b's claim after cat-0: %s, %v; want [cat-3 emu-4]", deliveryIDs(page), err)
	}
	pending, err := s.PendingDeliveries(ctx, 0, 10)
	if err != nil || deliveryIDs(pending) != "[cat-0 cat-3 emu-4]" {
		t.Errorf("pending: %s, %v", deliveryIDs(pending), err)
	}
}

// testCheckLeases: of two replicas claiming one attempt at a check, one
// gets it; the next attempt is claimed once its lease ends.
func testCheckLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := &store.Check{Namespace: "default", Repository: "cat", Commit: "abc", Name: "pkgserver", Ref: "refs/heads/main",
		Conclusion: "success", Results: []byte(`[]`)}
	if _, err := s.AddCheck(ctx, c); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	due, err := s.DueChecks(ctx, now, 2, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %+v, %v", due, err)
	}
	first := store.CheckPosting{Attempts: 1, NextAttempt: now.Add(2 * time.Minute)}
	for _, tc := range []struct {
		owner string
		at    time.Time
		p     store.CheckPosting
		want  bool
	}{
		{"a", now, first, true},
		{"b", now, first, false},                                            // a has it
		{"b", now.Add(3 * time.Minute), first, false},                       // the first attempt was made
		{"b", now.Add(time.Minute), store.CheckPosting{Attempts: 2}, false}, // a's lease runs
		{"b", now.Add(3 * time.Minute), store.CheckPosting{Attempts: 2, NextAttempt: now.Add(5 * time.Minute)}, true},
	} {
		got, err := s.ClaimCheck(ctx, due[0].ID, tc.owner, tc.at, tc.p)
		if err != nil || got != tc.want {
			t.Errorf("%s claims attempt %d at +%v: %v, %v; want %v", tc.owner, tc.p.Attempts, tc.at.Sub(now).Round(time.Second), got, err, tc.want)
		}
	}
}

// testSyncLeases: one replica syncs a repository at a time; a poll is
// claimed once it is due, by one replica; a lease of a replica that died
// ends.
func testSyncLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	now := time.Now()
	claim := func(owner string, at time.Time, poll, want bool) {
		t.Helper()
		got, _, err := s.ClaimSync(ctx, repo.ID, owner, at, at.Add(30*time.Second), poll)
		if err != nil || got != want {
			t.Errorf("%s claims (poll %v) at +%v: %v, %v; want %v", owner, poll, at.Sub(now).Round(time.Second), got, err, want)
		}
	}
	claim("a", now, true, true)
	claim("b", now, false, false)
	if ok, err := s.RenewSync(ctx, repo.ID, "b", now.Add(time.Minute)); err != nil || ok {
		t.Errorf("b renewed a's lease: %v, %v", ok, err)
	}
	if ok, err := s.RenewSync(ctx, repo.ID, "a", now.Add(time.Minute)); err != nil || !ok {
		t.Errorf("a renewing its lease: %v, %v", ok, err)
	}
	claim("b", now.Add(45*time.Second), false, false) // renewed
	next := now.Add(time.Minute)
	if err := s.ReleaseSync(ctx, repo.ID, "a", next); err != nil {
		t.Fatal(err)
	}
	if got, polls, err := s.NextPoll(ctx, repo.ID); err != nil || !got.Equal(next.Truncate(time.Millisecond)) || polls != 1 {
		t.Errorf("next poll %v (%d polls), %v; want %v", got, polls, err, next)
	}
	claim("b", now.Add(time.Second), true, false) // not due
	claim("b", now.Add(time.Second), false, true) // a sync on demand
	if err := s.ReleaseSync(ctx, repo.ID, "b", time.Time{}); err != nil {
		t.Fatal(err)
	}
	claim("a", now.Add(61*time.Second), true, true) // due
	// a dies holding it: b takes it once the lease ends.
	claim("b", now.Add(62*time.Second), true, false)
	claim("b", now.Add(92*time.Second), true, true)
	if _, _, err := s.ClaimSync(ctx, 1<<40, "a", now, now, false); err == nil {
		t.Error("claimed the sync of a repository that is not there")
	}
}

// testRefreshClaims: of replicas asking at once, one refreshes a
// repository's pull requests, and again once the next refresh is due.
func testRefreshClaims(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	now := time.Now()
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{now, true},
		{now, false},
		{now.Add(9 * time.Minute), false},
		{now.Add(10 * time.Minute), true},
		{now.Add(10 * time.Minute), false},
	} {
		got, err := s.ClaimPullRequestRefresh(ctx, repo.ID, tc.at, tc.at.Add(10*time.Minute))
		if err != nil || got != tc.want {
			t.Errorf("refresh at +%v: %v, %v; want %v", tc.at.Sub(now), got, err, tc.want)
		}
	}
}

// testManyDeliveries: batches larger than one statement's rows are stored,
// held and finished whole; a delivery given twice in a batch, even far
// apart, is new once.
func testManyDeliveries(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	var ds []*store.Delivery
	for i := range 700 {
		id := fmt.Sprintf("d-%d", i)
		if i == 652 { // in r1, as d-10
			id = "d-10"
		}
		ds = append(ds, &store.Delivery{Forge: "github", DeliveryID: id, Namespace: "default", Repository: fmt.Sprintf("r%d", i%3),
			Event: "push", Payload: []byte(`{}`), ReceivedAt: now})
	}
	added, err := s.AddDeliveries(ctx, ds)
	if err != nil || len(added) != 700 {
		t.Fatalf("AddDeliveries of 700: %d, %v", len(added), err)
	}
	for i, a := range added {
		if a != (i != 652) {
			t.Errorf("delivery %d (%s) added: %v", i, ds[i].DeliveryID, a)
		}
	}
	claimed, err := s.ClaimDeliveries(ctx, "a", now, now.Add(time.Minute), 0, 1000)
	if err != nil || len(claimed) != 699 {
		t.Fatalf("claimed %d, %v; want 699", len(claimed), err)
	}
	var ids []int64
	var outcomes []store.DeliveryOutcome
	for i, d := range claimed {
		ids = append(ids, d.ID)
		outcomes = append(outcomes, store.DeliveryOutcome{ID: d.ID, Done: i%2 == 0, Reason: fmt.Sprintf("outcome %d", i)})
	}
	if lost, err := s.HoldDeliveries(ctx, "a", now.Add(2*time.Minute), ids); err != nil || len(lost) != 0 {
		t.Fatalf("holding 699: lost %d, %v", len(lost), err)
	}
	if lost, err := s.FinishClaimedDeliveries(ctx, "b", outcomes[:300]); err != nil || len(lost) != 300 {
		t.Fatalf("b finishing a's 300: lost %d, %v", len(lost), err)
	}
	if lost, err := s.FinishClaimedDeliveries(ctx, "a", outcomes); err != nil || len(lost) != 0 {
		t.Fatalf("finishing 699: lost %d, %v", len(lost), err)
	}
	pending, err := s.PendingDeliveries(ctx, 0, 1000)
	if err != nil || len(pending) != 349 {
		t.Fatalf("pending after finishing: %d, %v; want 349", len(pending), err)
	}
	d, err := s.GetDelivery(ctx, "github", claimed[1].DeliveryID)
	if err != nil || d.Done || d.Attempts != 1 || d.Error != "outcome 1" {
		t.Errorf("delivery %s after its failure: %+v, %v", claimed[1].DeliveryID, d, err)
	}
}
