package sqlstore

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/pgtest"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// pg is the PostgreSQL cluster of this test binary, started by the first
// test that needs it.
var pg pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

func openPostgres(t *testing.T, url string) *Store {
	t.Helper()
	s, err := OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPostgres(t *testing.T) {
	pg.Require(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openPostgres(t, pg.Database(t)) })
}

func TestPostgresMigrationsAreIdempotent(t *testing.T) {
	url := pg.Database(t)
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatal(names, err)
	}
	for range 2 {
		s := openPostgres(t, url)
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(names) {
			t.Errorf("migrations recorded: %d, %v", n, err)
		}
		s.Close()
	}
}

// TestPostgresConcurrentOpen: replicas starting together on a fresh
// database all open it, and each migration is applied once.
func TestPostgresConcurrentOpen(t *testing.T) {
	url := pg.Database(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = OpenPostgres(context.Background(), url)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	var applied, distinct int
	if err := stores[0].DB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != len(names) || distinct != len(names) {
		t.Errorf("migrations recorded: %d (%d distinct), want %d", applied, distinct, len(names))
	}
	var counters int
	if err := stores[0].DB().QueryRow(`SELECT COUNT(*) FROM counters WHERE name = 'resource_version'`).Scan(&counters); err != nil || counters != 1 {
		t.Errorf("resource version counters: %d, %v", counters, err)
	}
}

// TestPostgresChangesOfAnotherProcess: two Stores on one database, as two
// replicas. What one writes, the other reads by name, and its watchers
// see within a second; the resource versions are the database's.
func TestPostgresChangesOfAnotherProcess(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	writer, server := openPostgres(t, url), openPostgres(t, url)
	defer writer.Close()
	defer server.Close()
	repo := storetest.NewRepository("default", "cat")
	if err := writer.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	update := indexUpdater(t, writer, repo.ID)
	update("t1")
	r, err := server.GetRevision(ctx, "default", "cat.nginx.v1")
	if err != nil || r.Tree != "t1" {
		t.Fatalf("first read: %+v, %v", r, err)
	}
	from, err := server.ResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed, gen := server.Changed(), server.RevisionGeneration()
	update("t2")
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("the server's watchers were not woken within a second by the other process's change")
	}
	if server.RevisionGeneration() == gen {
		t.Error("the server's revision generation did not end with the other process's change")
	}
	events, err := server.Events(ctx, from, 0)
	if err != nil || len(events) != 1 || events[0].Type != store.Modified || events[0].Revision.Tree != "t2" {
		t.Fatalf("events after %d: %+v, %v", from, events, err)
	}
	if got, _ := writer.ResourceVersion(ctx); got != events[0].Revision.ResourceVersion {
		t.Errorf("resource version of the writer %d, of the event read through the other %d", got, events[0].Revision.ResourceVersion)
	}
	if r, err := server.GetRevision(ctx, "default", "cat.nginx.v1"); err != nil || r.Tree != "t2" {
		t.Errorf("after the other process's change: %+v, %v", r, err)
	}
}

// writerURLEnv names, for TestPostgresWriterProcess, the database to write
// to as another process.
const writerURLEnv = "PKGSERVER_TEST_WRITER_URL"

// TestPostgresWriterProcess is the other process of
// TestPostgresChangesOfAnotherRealProcess: it registers a repository and
// indexes a revision, then exits.
func TestPostgresWriterProcess(t *testing.T) {
	url := os.Getenv(writerURLEnv)
	if url == "" {
		t.Skip("run by TestPostgresChangesOfAnotherRealProcess")
	}
	s := openPostgres(t, url)
	defer s.Close()
	repo := storetest.NewRepository("default", "cat")
	if err := s.CreateRepository(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	indexUpdater(t, s, repo.ID)("t1")
}

// TestPostgresChangesOfAnotherRealProcess: a write committed by another
// process (this test binary run again) wakes the watchers of a Store
// within a second, and they read its events.
func TestPostgresChangesOfAnotherRealProcess(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	server := openPostgres(t, url)
	defer server.Close()
	from, err := server.ResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed := server.Changed()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresWriterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), writerURLEnv+"="+url)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the other process: %v\n%s", err, out)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("the watchers were not woken within a second of the other process's write")
	}
	events, err := server.Events(ctx, from, 0)
	if err != nil || len(events) != 1 || events[0].Type != store.Added || events[0].Revision.Tree != "t1" {
		t.Errorf("events after %d: %+v, %v", from, events, err)
	}
}

// TestPostgresListenerReconnects: a Store whose listening connection is
// lost listens again and wakes its watchers then, so that a change
// notified meanwhile is not missed.
func TestPostgresListenerReconnects(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	writer, server := openPostgres(t, url), openPostgres(t, url)
	defer writer.Close()
	defer server.Close()
	repo := storetest.NewRepository("default", "cat")
	if err := writer.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	update := indexUpdater(t, writer, repo.ID)
	for _, tree := range []string{"t1", "t2", "t3"} {
		changed := server.Changed()
		pg.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, listenerName)
		update(tree)
		select {
		case <-changed:
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: the server's watchers were not woken after its listener was cut", tree)
		}
	}
	// Listening again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := writer.DB().QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`,
			listenerName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners, want 2", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	changed := server.Changed()
	update("t4")
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("the server's watchers were not woken within a second once it listened again")
	}
}

// TestPostgresListenerPings: a quiet listening connection checks the
// server now and then, and goes on listening on the same connection.
func TestPostgresListenerPings(t *testing.T) {
	defer func(d time.Duration) { listenPing = d }(listenPing)
	listenPing = 20 * time.Millisecond
	ctx := context.Background()
	url := pg.Database(t)
	writer, server := openPostgres(t, url), openPostgres(t, url)
	defer writer.Close()
	defer server.Close()
	started := func() []time.Time {
		t.Helper()
		rows, err := writer.DB().Query(`SELECT backend_start FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()
			ORDER BY backend_start`, listenerName)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []time.Time
		for rows.Next() {
			var at time.Time
			if err := rows.Scan(&at); err != nil {
				t.Fatal(err)
			}
			out = append(out, at)
		}
		return out
	}
	before := started()
	time.Sleep(200 * time.Millisecond) // several pings
	repo := storetest.NewRepository("default", "cat")
	changed := server.Changed()
	if err := writer.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("the server's watchers were not woken within a second")
	}
	if after := started(); len(before) != 2 || !slices.EqualFunc(before, after, time.Time.Equal) {
		t.Errorf("listening connections started at %v, then %v", before, after)
	}
}

// TestPostgresPing: Ping answers while the database does, and says so in a
// few words naming nothing of it when it is gone.
func TestPostgresPing(t *testing.T) {
	url := pg.Database(t)
	s := openPostgres(t, url)
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	pg.Drop(t, url)
	err := s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping answered with the database gone")
	}
	if got, want := err.Error(), "the database does not answer"; got != want {
		t.Errorf("Ping: %q, want %q", got, want)
	}
}

// indexUpdater returns a function that indexes one revision of a package
// with a tree of the given name.
func indexUpdater(t *testing.T, s *Store, repoID int64) func(tree string) {
	return func(tree string) {
		t.Helper()
		r := revision.Revision{Name: "cat.nginx.v1", Package: "nginx", Workspace: "v1", Revision: "v1", Number: 1,
			Lifecycle: revision.Published, Ref: "refs/tags/nginx/v1", Commit: "c-" + tree, Tree: tree}
		if err := s.UpdateIndex(context.Background(), repoID, &store.IndexUpdate{
			Trees:    []store.Tree{{ID: tree, Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b-" + tree}}}},
			Blobs:    func(put store.BlobPut) error { return put("b-"+tree, []byte(tree)) },
			Packages: map[string][]revision.Revision{"nginx": {r}},
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPostgresOrdersBytes: in a database whose locale orders text as
// people read it (ICU's en-US: case and punctuation weigh little), names
// are still ordered and paginated byte by byte, as in SQLite and Go.
func TestPostgresOrdersBytes(t *testing.T) {
	ctx := context.Background()
	s := openPostgres(t, pg.Database(t, `TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`))
	defer s.Close()
	repo := storetest.NewRepository("default", "cat")
	if err := s.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	pkgs := []string{"a-b", "aB", "a_c", "Ab", "ab", "a.b", "B", "a"}
	u := &store.IndexUpdate{
		Trees:    []store.Tree{{ID: "t", Files: []store.File{{Path: "Kptfile", Mode: 0o100644, BlobID: "b"}}}},
		Blobs:    func(put store.BlobPut) error { return put("b", []byte("x")) },
		Packages: map[string][]revision.Revision{},
	}
	var want []string
	for _, p := range pkgs {
		name := "cat." + p + ".v1"
		want = append(want, name)
		u.Packages[p] = []revision.Revision{{Name: name, Package: p, Workspace: "v1", Lifecycle: revision.Draft, Ref: "refs/heads/drafts/" + p + "/v1",
			Commit: "c", Tree: "t"}}
	}
	if err := s.UpdateIndex(ctx, repo.ID, u); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	var got []string
	opts := store.ListOptions{Namespace: "default", Limit: 3}
	for {
		list, err := s.ListRevisions(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.Items {
			got = append(got, r.Name)
		}
		if list.Continue == "" || len(got) > len(want) {
			break
		}
		opts.Continue = list.Continue
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages of revisions: %q, want %q", got, want)
	}
}
