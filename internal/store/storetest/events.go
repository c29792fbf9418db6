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

// testChangeEvents checks the log of changes watches read: repositories'
// own events, kept apart from revisions', and the state before each
// modification that selector watches compare with.
func testChangeEvents(t *testing.T, s store.Store) {
	t.Run("Repositories", func(t *testing.T) { testRepositoryEvents(t, s) })
	t.Run("PreviousStates", func(t *testing.T) { testPreviousStates(t, s) })
	t.Run("ListResources", func(t *testing.T) { testListResources(t, s) })
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

func testListResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := mustCreate(t, s, "res", "cat")
	trees := []store.Tree{
		{ID: "res-t1", Files: []store.File{{Path: "Kptfile", BlobID: "res-b1"}, {Path: "svc/a.yaml", BlobID: "res-b2"}}},
		{ID: "res-t2", Files: []store.File{{Path: "Kptfile", BlobID: "res-b1"}, {Path: "b.yaml", BlobID: "res-b3"}}},
	}
	a := rev("cat", "a", "v1", revision.Published, 1, "res-t1")
	b := rev("cat", "b", "v1", revision.Published, 1, "res-t2")
	c := rev("cat", "c", "v1", revision.Published, 1, "res-t1")
	if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: trees, Blobs: blobs(map[string]string{"res-b1": "k", "res-b2": "a", "res-b3": "b"}),
		Packages: map[string][]revision.Revision{"a": {a}, "b": {b}, "c": {c}}}); err != nil {
		t.Fatal(err)
	}
	read := func(opts store.ListOptions) (*store.RevisionList, []string) {
		t.Helper()
		var list *store.RevisionList
		var got []string
		err := s.ListResources(ctx, opts, func(l *store.RevisionList, files func(int, bool) (map[string][]byte, error)) error {
			list = l
			// Another write meanwhile changes nothing of what is read: b
			// loses its revision and its tree is collected.
			if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Packages: map[string][]revision.Revision{"b": nil}}); err != nil {
				return err
			}
			for i, r := range l.Items {
				f, err := files(i, true)
				if err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("%s %d files", r.Name, len(f)))
				// The paths alone, from the same snapshot.
				paths, err := files(i, false)
				if err != nil {
					return err
				}
				for p, data := range paths {
					if _, ok := f[p]; !ok || data != nil {
						t.Errorf("path %s of %s: %q, in the files: %v", p, r.Name, data, ok)
					}
				}
				if len(paths) != len(f) {
					t.Errorf("%s: %d paths, %d files", r.Name, len(paths), len(f))
				}
				if r.Name == "cat.b.v1" && string(f["b.yaml"]) != "b" {
					t.Errorf("b's resources read after it was deleted: %q", f)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Put b back for the next read.
		if err := s.UpdateIndex(ctx, repo.ID, &store.IndexUpdate{Trees: trees[1:], Blobs: blobs(map[string]string{"res-b3": "b"}),
			Packages: map[string][]revision.Revision{"b": {b}}}); err != nil {
			t.Fatal(err)
		}
		return list, got
	}
	list, got := read(store.ListOptions{Namespace: "res", Limit: 2})
	if list.Continue == "" || len(got) != 2 {
		t.Fatalf("first page: %v, continue %q", got, list.Continue)
	}
	contents := map[string]map[string]string{}
	err := s.ListResources(ctx, store.ListOptions{Namespace: "res"}, func(l *store.RevisionList, files func(int, bool) (map[string][]byte, error)) error {
		for i, r := range l.Items {
			f, err := files(i, true)
			if err != nil {
				return err
			}
			m := map[string]string{}
			for p, d := range f {
				m[p] = string(d)
			}
			contents[r.Name] = m
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"cat.a.v1": {"Kptfile": "k", "svc/a.yaml": "a"},
		"cat.b.v1": {"Kptfile": "k", "b.yaml": "b"},
		"cat.c.v1": {"Kptfile": "k", "svc/a.yaml": "a"},
	}
	if diff := cmp.Diff(want, contents); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	// The page after the first, and one revision by name.
	list, got = read(store.ListOptions{Namespace: "res", Limit: 2, Continue: list.Continue})
	if len(got) != 1 || list.Continue != "" || list.Items[0].Name != "cat.c.v1" {
		t.Errorf("second page: %v, continue %q", got, list.Continue)
	}
	if _, got = read(store.ListOptions{Namespace: "res", Name: "cat.b.v1"}); len(got) != 1 || got[0] != "cat.b.v1 2 files" {
		t.Errorf("by name: %v", got)
	}
	if names := revisionNames(t, s, store.ListOptions{Name: "cat.c.v1"}); len(names) != 1 {
		t.Errorf("list by name: %v", names)
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
