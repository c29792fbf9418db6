package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestEvents tests the history of changes that watches read (store.Events):
// its resource versions, the changes of revisions and of repositories, the
// states before modifications, compaction. Its fixtures need the
// repositories' and the index's roles too.
func TestEvents(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []test[store.Store]{
		{"EventsAndWatchPoints", testEvents},
		{"ChangeEvents", testChangeEvents},
	})
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "default", "cat")
	start, err := s.ResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed := s.Changed()
	tree := []store.Tree{{ID: "t", Files: []store.File{{Path: "Kptfile", BlobID: "b"}}}}
	a := rev("cat", "a", "v1", revision.Published, 1, "t")
	b := rev("cat", "b", "v1", revision.Published, 1, "t")
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: tree, Blobs: blobs(map[string]string{"b": "x"}),
		Packages: map[string][]revision.Revision{"a": {a}, "b": {b}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("a write did not signal a change")
	}
	list, err := s.ListRevisions(ctx, store.ListOptions{})
	if err != nil || list.ResourceVersion <= start {
		t.Fatalf("list resource version %d after %d: %v", list.ResourceVersion, start, err)
	}
	a2 := a
	a2.Latest = true
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"a": {a2}, "b": nil}}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Type+" "+e.Revision.Name)
		if e.Revision.Namespace != "default" || e.Revision.ResourceVersion <= start {
			t.Errorf("event %+v", e)
		}
	}
	want := []string{"ADDED cat.a.v1", "ADDED cat.b.v1", "MODIFIED cat.a.v1", "DELETED cat.b.v1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	after, _ := s.Events(ctx, list.ResourceVersion, 0)
	if len(after) != 2 || !after[0].Revision.Latest {
		t.Errorf("events after the list: %+v", after)
	}
	// A full rebuild asks watches to list again.
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Full: true, Trees: tree, Packages: map[string][]revision.Revision{"a": {a}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, list.ResourceVersion, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events from before a full rebuild: %v, want ErrCompacted", err)
	}
	now, _ := s.ResourceVersion(ctx)
	if events, err := s.Events(ctx, now, 0); err != nil || len(events) != 0 {
		t.Errorf("events from now: %v, %v", events, err)
	}
	// Deleting a repository deletes its revisions for watchers too.
	if err := s.DeleteRepository(ctx, "default", "cat"); err != nil {
		t.Fatal(err)
	}
	events, err = s.Events(ctx, now, 0)
	if err != nil || len(events) != 1 || events[0].Type != store.Deleted {
		t.Errorf("events of a repository deletion: %+v, %v", events, err)
	}
	if err := s.CompactEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, now, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events after compaction: %v, want ErrCompacted", err)
	}
}

// testChangeEvents checks the log of changes watches read: repositories'
// own events, kept apart from revisions', and the state before each
// modification that selector watches compare with.
func testChangeEvents(t *testing.T, s store.Store) {
	t.Run("Repositories", func(t *testing.T) { testRepositoryEvents(t, s) })
	t.Run("PreviousStates", func(t *testing.T) { testPreviousStates(t, s) })
	t.Run("FullReindex", func(t *testing.T) { testFullReindexEvents(t, s) })
	t.Run("Filtered", func(t *testing.T) { testFilteredEvents(t, s) })
}

func repositoryEvents(t *testing.T, s store.Store, after int64) []store.RepositoryEvent {
	t.Helper()
	events, err := s.RepositoryEvents(context.Background(), after, 0)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func testRepositoryEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	start, err := s.ResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := mustCreate(t, s, "events", "cat")
	created := r.Object.ResourceVersion
	r.Object.Spec.Deployment = true
	if err := s.UpdateRepository(ctx, r); err != nil {
		t.Fatal(err)
	}
	// A refused write records nothing.
	stale := *r
	stale.Object.ResourceVersion = created
	if err := s.UpdateRepository(ctx, &stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if err := s.UpdateRepositoryStatus(ctx, "events", "cat", func(st *configv1alpha1.RepositoryStatus) {
		st.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Synced"}}
	}); err != nil {
		t.Fatal(err)
	}
	// A sync that changes nothing but the time of the last sync keeps it
	// without a new resource version or an event; one that changes
	// nothing writes nothing.
	idle, _ := s.ResourceVersion(ctx)
	synced := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for range 2 {
		if err := s.UpdateRepositoryStatus(ctx, "events", "cat", func(st *configv1alpha1.RepositoryStatus) {
			st.LastSyncTime = &synced
		}); err != nil {
			t.Fatal(err)
		}
	}
	if now, _ := s.ResourceVersion(ctx); now != idle {
		t.Errorf("an idle sync moved the resource version from %d to %d", idle, now)
	}
	if got, err := s.GetRepository(ctx, "events", "cat"); err != nil || got.Object.Status.LastSyncTime == nil ||
		!got.Object.Status.LastSyncTime.Equal(&synced) || got.Object.ResourceVersion != strconv.FormatInt(idle, 10) {
		t.Errorf("after an idle sync: %+v %v", got, err)
	}
	// An index update writes the status too (the count of packages).
	tree := []store.Tree{{ID: "ev-t", Files: []store.File{{Path: "Kptfile", BlobID: "ev-b"}}}}
	if err := s.UpdateIndex(ctx, r.ID, &store.IndexUpdate{Trees: tree, Blobs: blobs(map[string]string{"ev-b": "x"}),
		Packages: map[string][]revision.Revision{"a": {rev("cat", "a", "v1", revision.Published, 1, "ev-t")}}}); err != nil {
		t.Fatal(err)
	}
	// A list and its resource version are of one read.
	repos, listed, err := s.ListRepositoriesAt(ctx, "events")
	if now, _ := s.ResourceVersion(ctx); err != nil || len(repos) != 1 || listed != now || repos[0].Object.Status.PackageCount != 1 {
		t.Errorf("list at %d (store at %d): %+v %v", listed, now, repos, err)
	}
	if err := s.DeleteRepository(ctx, "events", "cat"); err != nil {
		t.Fatal(err)
	}
	if repos, _, err := s.ListRepositoriesAt(ctx, "events"); err != nil || len(repos) != 0 {
		t.Errorf("list after the deletion: %+v %v", repos, err)
	}
	checkRepositoryEvents(t, s, start, created)
}

// checkRepositoryEvents checks the events of testRepositoryEvents's changes.
func checkRepositoryEvents(t *testing.T, s store.Store, start int64, created string) {
	ctx := context.Background()
	events := repositoryEvents(t, s, start)
	var got []string
	for _, e := range events {
		line := fmt.Sprintf("%s deployment=%v ready=%d packages=%d", e.Type, e.Repository.Spec.Deployment,
			len(e.Repository.Status.Conditions), e.Repository.Status.PackageCount)
		if e.Previous != nil {
			line += fmt.Sprintf(" / before: deployment=%v ready=%d packages=%d", e.Previous.Spec.Deployment,
				len(e.Previous.Status.Conditions), e.Previous.Status.PackageCount)
		}
		got = append(got, line)
		if e.Repository.Namespace != "events" || e.Repository.Name != "cat" || e.Repository.ResourceVersion != strconv.FormatInt(e.ResourceVersion, 10) {
			t.Errorf("event %s of %s/%s at %d: object resource version %q", e.Type, e.Repository.Namespace, e.Repository.Name,
				e.ResourceVersion, e.Repository.ResourceVersion)
		}
	}
	want := []string{
		"ADDED deployment=false ready=0 packages=0",
		"MODIFIED deployment=true ready=0 packages=0 / before: deployment=false ready=0 packages=0",
		"MODIFIED deployment=true ready=1 packages=0 / before: deployment=true ready=0 packages=0",
		"MODIFIED deployment=true ready=1 packages=1 / before: deployment=true ready=1 packages=0",
		"DELETED deployment=true ready=1 packages=1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repository events (-want +got):\n%s", diff)
	}
	for i := 1; i < len(events); i++ {
		if events[i].ResourceVersion <= events[i-1].ResourceVersion {
			t.Errorf("events out of order: %d after %d", events[i].ResourceVersion, events[i-1].ResourceVersion)
		}
	}
	if len(events) == len(want) {
		if events[0].Repository.ResourceVersion != created || events[0].Repository.UID == "" {
			t.Errorf("creation event: %+v", events[0].Repository.ObjectMeta)
		}
		if now, _ := s.ResourceVersion(ctx); events[4].ResourceVersion != now {
			t.Errorf("deletion at %d, the store at %d", events[4].ResourceVersion, now)
		}
		// Resuming after an event gives what follows it.
		if rest := repositoryEvents(t, s, events[2].ResourceVersion); len(rest) != 2 || rest[0].Type != store.Modified || rest[1].Type != store.Deleted {
			t.Errorf("events after the status update: %+v", rest)
		}
	}
	// Revision events and repository events are read apart.
	revs, err := s.Events(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	var revGot []string
	for _, e := range revs {
		revGot = append(revGot, e.Type+" "+e.Revision.Name)
	}
	if diff := cmp.Diff([]string{"ADDED cat.a.v1", "DELETED cat.a.v1"}, revGot); diff != "" {
		t.Errorf("revision events (-want +got):\n%s", diff)
	}
	if got := repositoryEvents(t, s, events[len(events)-1].ResourceVersion); len(got) != 0 {
		t.Errorf("events after the last: %+v", got)
	}
	if err := s.CompactEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RepositoryEvents(ctx, start, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("repository events after compaction: %v, want ErrCompacted", err)
	}
}

func testPreviousStates(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "prev", "cat")
	gold := revision.Meta{Labels: map[string]string{"tier": "gold"}}
	tin := revision.Meta{Labels: map[string]string{"tier": "tin"}}
	trees := []store.Tree{
		{ID: "prev-t1", Files: []store.File{{Path: "Kptfile", BlobID: "prev-b1"}}, Meta: &gold},
		{ID: "prev-t2", Files: []store.File{{Path: "Kptfile", BlobID: "prev-b2"}}, Meta: &tin},
	}
	a := rev("cat", "a", "v1", revision.Published, 1, "prev-t1")
	draft := rev("cat", "a", "ws", revision.Draft, 0, "prev-t1")
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: trees, Blobs: blobs(map[string]string{"prev-b1": "x", "prev-b2": "y"}),
		Packages: map[string][]revision.Revision{"a": {a, draft}}}); err != nil {
		t.Fatal(err)
	}
	start, _ := s.ResourceVersion(ctx)
	// The draft's content changes (its Kptfile's labels with it) and it is
	// proposed; v1 becomes the latest.
	a.Latest = true
	draft.Tree, draft.Lifecycle = "prev-t2", revision.Proposed
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"a": {a, draft}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordValidations(ctx, repo.ID, map[string]*store.Validation{"prev-t2": {Errors: 1, At: at}}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		Name, Lifecycle, Tier string
		Latest, Validated     bool
	}
	stateOf := func(r *store.Revision) *state {
		if r == nil {
			return nil
		}
		return &state{r.Name, string(r.Lifecycle), r.Meta.Labels["tier"], r.Latest, r.Validation != nil}
	}
	type change struct {
		Type            string
		After, Previous *state
	}
	var got []change
	for _, e := range events {
		got = append(got, change{e.Type, stateOf(&e.Revision), stateOf(e.Previous)})
	}
	want := []change{
		{"MODIFIED", &state{"cat.a.v1", "Published", "gold", true, false}, &state{"cat.a.v1", "Published", "gold", false, false}},
		{"MODIFIED", &state{"cat.a.ws", "Proposed", "tin", false, false}, &state{"cat.a.ws", "Draft", "gold", false, false}},
		// A validation changes no field a selector reads: the state before
		// is the same, without its validation.
		{"MODIFIED", &state{"cat.a.ws", "Proposed", "tin", false, true}, &state{"cat.a.ws", "Proposed", "tin", false, false}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events with previous states (-want +got):\n%s", diff)
	}
	// Additions and deletions carry no previous state: a deletion's object
	// is the last state.
	before, _ := s.ResourceVersion(ctx)
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"a": {a}}}); err != nil {
		t.Fatal(err)
	}
	events, err = s.Events(ctx, before, 0)
	if err != nil || len(events) != 1 || events[0].Type != store.Deleted || events[0].Previous != nil ||
		events[0].Revision.Meta.Labels["tier"] != "tin" || events[0].Revision.Lifecycle != revision.Proposed {
		t.Errorf("deletion event: %+v %v", events, err)
	}
}

// testFullReindexEvents checks that a full reindex of one repository sends
// back to list only the watches that may see its revisions: not those of
// repositories, nor of other repositories' revisions.
func testFullReindexEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "full-a", "cat")
	b := mustCreate(t, s, "full-b", "cat")
	tree := []store.Tree{{ID: "full-t", Files: []store.File{{Path: "Kptfile", BlobID: "full-b"}}}}
	for _, r := range []*store.Repository{a, b} {
		if err := s.UpdateIndex(ctx, r.ID, &store.IndexUpdate{Trees: tree, Blobs: blobs(map[string]string{"full-b": "x"}),
			Packages: map[string][]revision.Revision{"p": {rev("cat", "p", "v1", revision.Published, 1, "full-t")}}}); err != nil {
			t.Fatal(err)
		}
	}
	start, _ := s.ResourceVersion(ctx)
	// b changes, then a is reindexed in full, then b changes again.
	for i, r := range []*store.Repository{b, a, b} {
		v := rev("cat", "p", "v1", revision.Published, 1, "full-t")
		v.Latest = i == 0
		if err := s.UpdateIndex(ctx, r.ID, &store.IndexUpdate{Full: i == 1, Trees: tree,
			Packages: map[string][]revision.Revision{"p": {v}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RepositoryEvents(ctx, start, 0); err != nil {
		t.Errorf("repository events across a full reindex: %v", err)
	}
	if _, err := s.Events(ctx, start, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events of every revision across a full reindex of one repository: %v, want ErrCompacted", err)
	}
	if _, err := s.FilteredEvents(ctx, start, 0, store.EventFilter{Namespace: "full-a"}); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events of the reindexed repository's namespace: %v, want ErrCompacted", err)
	}
	if _, err := s.FilteredEvents(ctx, start, 0, store.EventFilter{Namespace: "full-a", Name: "cat.p.v1"}); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("events of a revision of the reindexed repository: %v, want ErrCompacted", err)
	}
	events, err := s.FilteredEvents(ctx, start, 0, store.EventFilter{Namespace: "full-b"})
	if err != nil || len(events) != 2 || events[0].Type != store.Modified || events[1].Type != store.Modified {
		t.Errorf("events of the other repository: %+v %v", events, err)
	}
	// A watch listing after the reindex goes on.
	now, _ := s.ResourceVersion(ctx)
	if _, err := s.FilteredEvents(ctx, now-1, 0, store.EventFilter{Namespace: "full-a"}); err != nil {
		t.Errorf("events after the reindex: %v", err)
	}
}

// testFilteredEvents checks that the events of revisions read for a
// namespace, repository or name are only theirs, in order.
func testFilteredEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	repos := []*store.Repository{mustCreate(t, s, "filt", "cat"), mustCreate(t, s, "filt", "dog"), mustCreate(t, s, "filt-other", "cat")}
	start, _ := s.ResourceVersion(ctx)
	tree := []store.Tree{{ID: "filt-t", Files: []store.File{{Path: "Kptfile", BlobID: "filt-b"}}}}
	for _, r := range repos {
		if err := s.UpdateIndex(ctx, r.ID, &store.IndexUpdate{Trees: tree, Blobs: blobs(map[string]string{"filt-b": "x"}),
			Packages: map[string][]revision.Revision{
				"p": {rev(r.Object.Name, "p", "v1", revision.Published, 1, "filt-t")},
				"q": {rev(r.Object.Name, "q", "v1", revision.Published, 1, "filt-t")},
			}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		filter store.EventFilter
		want   []string
	}{
		{store.EventFilter{Namespace: "filt"}, []string{"filt/cat.p.v1", "filt/cat.q.v1", "filt/dog.p.v1", "filt/dog.q.v1"}},
		{store.EventFilter{Namespace: "filt", Repository: "cat"}, []string{"filt/cat.p.v1", "filt/cat.q.v1"}},
		{store.EventFilter{Repository: "cat"}, []string{"filt/cat.p.v1", "filt/cat.q.v1", "filt-other/cat.p.v1", "filt-other/cat.q.v1"}},
		{store.EventFilter{Name: "cat.q.v1"}, []string{"filt/cat.q.v1", "filt-other/cat.q.v1"}},
		{store.EventFilter{Namespace: "filt", Name: "dog.p.v1"}, []string{"filt/dog.p.v1"}},
		{store.EventFilter{Namespace: "nowhere"}, nil},
	} {
		events, err := s.FilteredEvents(ctx, start, 0, tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			got = append(got, e.Revision.Namespace+"/"+e.Revision.Name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("events of %+v (-want +got):\n%s", tc.filter, diff)
		}
	}
}
