package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// TestDeliveries tests the forges' webhook deliveries (store.Deliveries).
func TestDeliveries[S interface {
	store.Deliveries
	io.Closer
}](t *testing.T, newStore func(t *testing.T) S) {
	run(t, newStore, []test[S]{
		{"Deliveries", func(t *testing.T, s S) { testDeliveries(t, s) }},
		{"RecentDeliveries", func(t *testing.T, s S) { testRecentDeliveries(t, s) }},
	})
}

// TestChecks tests the forges' pull requests (store.PullRequests) and the
// reports of checks to post to them (store.Checks), which go with their
// repository.
func TestChecks(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []test[store.Store]{
		{"PullRequests", testPullRequests},
		{"Checks", testChecks},
	})
}

func testDeliveries(t *testing.T, s store.Deliveries) {
	ctx := context.Background()
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	d := func(forge, id string) *store.Delivery {
		return &store.Delivery{Forge: forge, DeliveryID: id, Namespace: "default", Repository: "cat", Event: "push",
			Payload: []byte(`{"ref":"refs/heads/main"}`), ReceivedAt: at}
	}
	for _, tc := range []struct {
		d    *store.Delivery
		want bool
	}{
		{d("github", "a"), true},
		{d("github", "a"), false}, // a redelivery
		{d("gitlab", "a"), true},  // ids are per forge
		{&store.Delivery{Forge: "github", DeliveryID: "a", Namespace: "default", Repository: "other", Event: "push", Payload: []byte(`{}`), ReceivedAt: at}, true}, // and per repository
		{d("github", "b"), true},
	} {
		added, err := s.AddDelivery(ctx, tc.d)
		if err != nil || added != tc.want {
			t.Errorf("AddDelivery(%s %s) = %v, %v; want %v", tc.d.Forge, tc.d.DeliveryID, added, err, tc.want)
		}
	}
	batch, err := s.AddDeliveries(ctx, []*store.Delivery{d("github", "c"), d("github", "a"), d("github", "c")})
	if err != nil || fmt.Sprint(batch) != "[true false false]" {
		t.Errorf("AddDeliveries = %v, %v; want [true false false]", batch, err)
	}
	pending, err := s.PendingDeliveries(ctx, 0, 10)
	if err != nil || len(pending) != 5 {
		t.Fatalf("pending: %+v, %v", pending, err)
	}
	first := pending[0]
	if first.Forge != "github" || first.DeliveryID != "a" || string(first.Payload) != `{"ref":"refs/heads/main"}` || !first.ReceivedAt.Equal(at) {
		t.Errorf("first pending delivery: %+v", first)
	}
	if err := s.FinishDelivery(ctx, first.ID, false, "the forge answered 500"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, pending[1].ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, 1<<40, true, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing an unknown delivery: %v", err)
	}
	pending, err = s.PendingDeliveries(ctx, 0, 10)
	if err != nil || len(pending) != 4 || pending[0].DeliveryID != "a" || pending[0].Attempts != 1 || pending[1].Repository != "other" || pending[2].DeliveryID != "b" || pending[3].DeliveryID != "c" {
		t.Errorf("pending after one failure and one success: %+v, %v", pending, err)
	}
	got, err := s.GetDelivery(ctx, "gitlab", "a")
	if err != nil || !got.Done || got.Attempts != 1 {
		t.Errorf("GetDelivery: %+v, %v", got, err)
	}
	if _, err := s.GetDelivery(ctx, "gitlab", "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDelivery of an unknown delivery: %v", err)
	}
	// Compaction forgets what was processed before a time, nothing else.
	if err := s.CompactDeliveries(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDelivery(ctx, "gitlab", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a processed delivery survived compaction: %v", err)
	}
	if pending, err := s.PendingDeliveries(ctx, 0, 10); err != nil || len(pending) != 4 {
		t.Errorf("compaction took pending deliveries: %d, %v", len(pending), err)
	}
}

// testRecentDeliveries: a repository's deliveries are listed newest first,
// page by page, with their outcomes and without payloads; other
// repositories' are not.
func testRecentDeliveries(t *testing.T, s store.Deliveries) {
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	var ds []*store.Delivery
	for i, repo := range []string{"cat", "dog", "cat", "cat", "cat"} {
		ds = append(ds, &store.Delivery{Forge: "github", DeliveryID: fmt.Sprintf("%s-%d", repo, i), Namespace: "default", Repository: repo,
			Event: "push", Payload: []byte(`{"big":"payload"}`), ReceivedAt: at.Add(time.Duration(i) * time.Second)})
	}
	if _, err := s.AddDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	pending, err := s.PendingDeliveries(ctx, 0, 10)
	if err != nil || len(pending) != 5 {
		t.Fatalf("pending: %d, %v", len(pending), err)
	}
	before := time.Now()
	if err := s.FinishDeliveries(ctx, []store.DeliveryOutcome{{ID: pending[0].ID, Done: true},
		{ID: pending[2].ID, Done: true, Reason: store.DeliveryNotActedOn + ": the payload is about acme/x"}, {ID: pending[3].ID, Reason: "the forge answered 502"}}); err != nil {
		t.Fatal(err)
	}
	page, err := s.RecentDeliveries(ctx, "default", "cat", 0, 3)
	if err != nil || deliveryIDs(page) != "[cat-4 cat-3 cat-2]" {
		t.Fatalf("first page: %s, %v; want [cat-4 cat-3 cat-2]", deliveryIDs(page), err)
	}
	if d := page[0]; d.Done || d.Attempts != 0 || !d.ProcessedAt.IsZero() || d.Payload != nil || !d.ReceivedAt.Equal(at.Add(4*time.Second)) || d.Event != "push" {
		t.Errorf("a delivery not processed yet: %+v", d)
	}
	if d := page[1]; d.Done || d.Attempts != 1 || d.Error != "the forge answered 502" || d.ProcessedAt.Before(before.Add(-time.Second)) {
		t.Errorf("a delivery to try again: %+v", d)
	}
	if d := page[2]; !d.Done || d.Error == "" {
		t.Errorf("a delivery not acted on: %+v", d)
	}
	rest, err := s.RecentDeliveries(ctx, "default", "cat", page[2].ID, 3)
	if err != nil || deliveryIDs(rest) != "[cat-0]" || !rest[0].Done || rest[0].Error != "" {
		t.Errorf("second page: %s, %v; want [cat-0] processed", deliveryIDs(rest), err)
	}
	if none, err := s.RecentDeliveries(ctx, "default", "emu", 0, 3); err != nil || len(none) != 0 {
		t.Errorf("deliveries of a repository that has none: %v, %v", none, err)
	}
}

// testPullRequests: the open pull requests are those a forge said last
// were open.
func testPullRequests(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "gh")
	for _, pr := range []store.PullRequest{
		{Number: 7, SourceBranch: "drafts/nginx/a", TargetBranch: "main", State: store.PullRequestOpen, HeadCommit: "h7"},
		{Number: 8, SourceBranch: "feature", TargetBranch: "main", State: store.PullRequestOpen, HeadCommit: "h8"},
		{Number: 8, SourceBranch: "feature", TargetBranch: "main", State: store.PullRequestMerged, HeadCommit: "h8", MergeCommit: "m8"},
	} {
		if err := s.SetPullRequest(ctx, repo.ID, &pr); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.OpenPullRequests(ctx, repo.ID)
	if err != nil || len(open) != 1 || open[0].Number != 7 || open[0].SourceBranch != "drafts/nginx/a" || open[0].HeadCommit != "h7" {
		t.Fatalf("open pull requests: %+v, %v", open, err)
	}
}

// testChecks: a check is stored once, due until it is posted in full, one
// repository's backlog does not hide another's, and it is forgotten after
// its time or with its repository.
func testChecks(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "default", "gh")
	c := &store.Check{Namespace: "default", Repository: "gh", Commit: "c1", Name: "pkgserver", Ref: "refs/heads/main",
		Conclusion: "failure", Title: "1 error", Summary: "| x |", Results: []byte(`[{"severity":"error"}]`)}
	if added, err := s.AddCheck(ctx, c); err != nil || !added {
		t.Fatalf("add check: %v %v", added, err)
	}
	if added, err := s.AddCheck(ctx, c); err != nil || added {
		t.Errorf("the same check again: added %v, %v", added, err)
	}
	now := time.Now()
	due, err := s.DueChecks(ctx, now, 2, 10)
	if err != nil || len(due) != 1 || due[0].Title != "1 error" || string(due[0].Results) != `[{"severity":"error"}]` || due[0].Reported {
		t.Fatalf("due checks: %+v, %v", due, err)
	}
	next := now.Add(time.Minute)
	if err := s.UpdateCheckPosting(ctx, due[0].ID, store.CheckPosting{ExternalID: "42", Posted: 50, Attempts: 1, NextAttempt: next, Error: "503"}); err != nil {
		t.Fatal(err)
	}
	if due, err := s.DueChecks(ctx, now, 2, 10); err != nil || len(due) != 0 {
		t.Errorf("a check waiting for its next attempt is due: %+v, %v", due, err)
	}
	if at, err := s.NextCheckAttempt(ctx, now); err != nil || at.UnixMilli() != next.UnixMilli() {
		t.Errorf("next attempt %v, want %v (%v)", at, next, err)
	}
	if err := s.UpdateCheckPosting(ctx, due[0].ID, store.CheckPosting{Reported: true, ExternalID: "42", Posted: 60, Attempts: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Checks(ctx, "default", "gh", "c1")
	if err != nil || len(got) != 1 || !got[0].Reported || got[0].ExternalID != "42" || got[0].Posted != 60 || got[0].Attempts != 2 {
		t.Errorf("checks: %+v, %v", got, err)
	}
	if err := s.UpdateCheckPosting(ctx, 9999, store.CheckPosting{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("posting of an unknown check: %v", err)
	}
	// A backlog of one repository does not hide another's checks.
	for i, repo := range []string{"busy", "busy", "busy", "quiet"} {
		if _, err := s.AddCheck(ctx, &store.Check{Namespace: "default", Repository: repo, Commit: fmt.Sprintf("x%d", i), Name: "pkgserver",
			Conclusion: "success", Results: []byte("[]")}); err != nil {
			t.Fatal(err)
		}
	}
	due, err = s.DueChecks(ctx, time.Now(), 2, 10)
	per := map[string]int{}
	for _, c := range due {
		per[c.Repository]++
	}
	if err != nil || per["busy"] != 2 || per["quiet"] != 1 {
		t.Errorf("due checks per repository: %v, %v", per, err)
	}
	// Posted checks are forgotten after their time; others are kept.
	if err := s.CompactChecks(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checks(ctx, "default", "gh", "c1"); err != nil || len(got) != 0 {
		t.Errorf("a posted check after compaction: %+v, %v", got, err)
	}
	if got, err := s.Checks(ctx, "default", "quiet", "x3"); err != nil || len(got) != 1 {
		t.Errorf("a check to post after compaction: %+v, %v", got, err)
	}
	if _, err := s.AddCheck(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRepository(ctx, "default", "gh"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checks(ctx, "default", "gh", "c1"); err != nil || len(got) != 0 {
		t.Errorf("checks after the repository was deleted: %+v, %v", got, err)
	}
}
