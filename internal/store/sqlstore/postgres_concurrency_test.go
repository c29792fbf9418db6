package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// TestPostgresConcurrentWrites: writers on two Stores of one database at
// once, as replicas: index updates of four repositories sharing trees and
// blobs, status and field manager writes, deliveries stored by both. No
// write fails, every delivery is stored once, the trees and blobs are
// counted right afterwards, and the events are in the order of their
// resource versions, one transaction after another.
func TestPostgresConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	defer a.Close()
	defer b.Close()
	var repos []*store.Repository
	for i := range 4 {
		r := storetest.NewRepository("default", fmt.Sprintf("r%d", i))
		if err := a.CreateRepository(ctx, r); err != nil {
			t.Fatal(err)
		}
		repos = append(repos, r)
	}
	from, err := a.ResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stores := []*Store{a, b}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, repo := range repos {
		s := stores[i%2]
		wg.Go(func() {
			for j := range 8 {
				if err := s.UpdateIndex(ctx, repo.ID, sharedTreeUpdate(repo.Object.Name, j)); err != nil {
					errs <- fmt.Errorf("%s update %d: %w", repo.Object.Name, j, err)
					return
				}
				if err := s.UpdateRepositoryStatus(ctx, "default", repo.Object.Name, func(st *configv1alpha1.RepositoryStatus) {
					st.Commit = fmt.Sprintf("c%d", j)
				}); err != nil {
					errs <- fmt.Errorf("%s status %d: %w", repo.Object.Name, j, err)
					return
				}
				if err := s.SetManagedFields(ctx, &store.ManagedFields{Namespace: "default", Resource: "packagerevisions",
					Name: repo.Object.Name + ".nginx.v1", Repository: repo.Object.Name, Fields: []byte(`[]`)}); err != nil {
					errs <- fmt.Errorf("%s managed fields %d: %w", repo.Object.Name, j, err)
					return
				}
			}
		})
	}
	added := make([][]bool, 2)
	for i, s := range stores {
		wg.Go(func() {
			var ds []*store.Delivery
			for k := range 50 {
				n := k
				if i == 1 {
					n = 49 - k // the other order
				}
				ds = append(ds, &store.Delivery{Forge: "github", DeliveryID: fmt.Sprintf("d%02d", n), Namespace: "default", Repository: "r0",
					Event: "push", Payload: []byte("{}"), ReceivedAt: time.Now()})
			}
			var err error
			if added[i], err = s.AddDeliveries(ctx, ds); err != nil {
				errs <- fmt.Errorf("deliveries of store %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for k := range 50 {
		if added[0][k] == added[1][49-k] {
			t.Errorf("delivery d%02d added by both stores or by neither: %v, %v", k, added[0][k], added[1][49-k])
		}
	}
	checkBlobCounts(t, a)
	checkEventOrder(t, b, from)
}

// sharedTreeUpdate is the j-th update of a repository: its package's
// revision moves to one of three trees every repository uses, listing a
// blob of its own and one all trees share.
func sharedTreeUpdate(repoName string, j int) *store.IndexUpdate {
	tree := fmt.Sprintf("t%d", j%3)
	r := revision.Revision{Name: repoName + ".nginx.v1", Package: "nginx", Workspace: "v1", Revision: "v1", Number: 1,
		Lifecycle: revision.Published, Ref: "refs/tags/nginx/v1", Commit: fmt.Sprintf("c%d", j), Tree: tree}
	return &store.IndexUpdate{
		Trees: []store.Tree{{ID: tree, Files: []store.File{
			{Path: "Kptfile", Mode: 0o100644, BlobID: "b-" + tree},
			{Path: "common.yaml", Mode: 0o100644, BlobID: "b-common"},
		}}},
		Blobs: func(put store.BlobPut) error {
			if err := put("b-"+tree, []byte(tree)); err != nil {
				return err
			}
			return put("b-common", []byte("common"))
		},
		Packages: map[string][]revision.Revision{"nginx": {r}},
	}
}

// checkBlobCounts checks that every blob is counted once per tree listing
// it, and that the trees of revisions are there.
func checkBlobCounts(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	want := map[string]int64{}
	rows, err := s.DB().QueryContext(ctx, `SELECT files FROM trees`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var packed string
		if err := rows.Scan(&packed); err != nil {
			t.Fatal(err)
		}
		files, err := decodeFiles(packed)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			want[f.BlobID]++
		}
	}
	rows.Close()
	got := map[string]int64{}
	rows, err = s.DB().QueryContext(ctx, `SELECT id, refs FROM blobs`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var refs int64
		if err := rows.Scan(&id, &refs); err != nil {
			t.Fatal(err)
		}
		got[id] = refs
	}
	rows.Close()
	for id, n := range want {
		if got[id] != n {
			t.Errorf("blob %s counted %d times, listed by %d trees", id, got[id], n)
		}
	}
	var orphans int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM revisions r WHERE NOT EXISTS (SELECT 1 FROM trees t WHERE t.id = r.tree_id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("revisions without their tree: %d, %v", orphans, err)
	}
}

// checkEventOrder checks that the events after from are read in the order
// of their resource versions, and that the events of one resource
// version are adjacent (one transaction's).
func checkEventOrder(t *testing.T, s *Store, from int64) {
	t.Helper()
	ctx := context.Background()
	var rvs []int64
	for {
		events, err := s.RepositoryEvents(ctx, from, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			rvs = append(rvs, e.ResourceVersion)
		}
		from = events[len(events)-1].ResourceVersion
	}
	if len(rvs) == 0 {
		t.Fatal("no events")
	}
	if !slices.IsSorted(rvs) {
		t.Errorf("events out of order: %v", rvs)
	}
	now, err := s.ResourceVersion(ctx)
	if err != nil || rvs[len(rvs)-1] != now {
		t.Errorf("last event at %d, resource version %d, %v", rvs[len(rvs)-1], now, err)
	}
}

// TestPostgresConcurrentUpdates: two updates of one repository from one
// resource version, on two Stores at once: one is written, the other is
// refused as a conflict. Two users of one name: one is created.
func TestPostgresConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	defer a.Close()
	defer b.Close()
	repo := storetest.NewRepository("default", "cat")
	if err := a.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		current, err := a.GetRepository(ctx, "default", "cat")
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []*Store{a, b} {
			r := *current
			r.Object.Spec.Git.Branch = fmt.Sprintf("b%d-%d", round, i)
			wg.Go(func() { errs[i] = s.UpdateRepository(ctx, &r) })
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Fatal(err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d written, %d conflicts: %v", round, ok, conflicts, errs)
		}
		errs = make([]error, 2)
		for i, s := range []*Store{a, b} {
			u := &store.User{Name: fmt.Sprintf("u%d", round), Namespace: "default", Role: store.RoleAdmin, CreatedAt: time.Now()}
			wg.Go(func() { errs[i] = s.CreateUser(ctx, u) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), store.ErrExists) {
			t.Fatalf("round %d: users: %v", round, errs)
		}
	}
}
