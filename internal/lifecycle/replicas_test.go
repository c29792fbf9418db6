package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/pgtest"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/validate"
)

var pg pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// replicaWriter is the writer of one replica: its own index connection
// to the shared PostgreSQL database dbURL, its own mirrors, the repository
// at bare on the file system replicas share; the first registers it.
func replicaWriter(t *testing.T, bare, dbURL string, first bool) *Writer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenPostgres(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := &reconcile.GitSource{MirrorDir: t.TempDir()}
	rec := reconcile.New(st, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if first {
		repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blueprints"},
			Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: bare}}}}
		if err := st.CreateRepository(ctx, repo); err != nil {
			t.Fatal(err)
		}
		if _, err := rec.Sync(ctx, "default", "blueprints"); err != nil {
			t.Fatal(err)
		}
	}
	return &Writer{Store: st, Git: src.Writable, Index: syncer{rec}, Locks: st,
		Packages: pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()})}
}

// TestReplicasSerializeWrites: two replicas on one PostgreSQL index and one
// repository approve two proposals of one package at the same moment: one
// publishes v1, the other v2, both in git and the index. Two updates of one
// draft from one resource version, one on each replica: one is written,
// the other conflicts. A write waits while the other replica holds the
// repository's lock, and goes on once it is released.
func TestReplicasSerializeWrites(t *testing.T) {
	dbURL := pg.Database(t)
	bare := bareRepo(t, t.TempDir(), nil, nil)
	replicas := []*Writer{replicaWriter(t, bare, dbURL, true), replicaWriter(t, bare, dbURL, false)}
	ctx, by := context.Background(), Author{Name: "ada"}

	var proposals []*store.Revision
	for _, ws := range []string{"a", "b"} {
		r, _, err := replicas[0].Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: ws, Init: &Init{}}, by)
		if err != nil {
			t.Fatal(err)
		}
		if r, _, err = replicas[1].Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, nil, by); err != nil {
			t.Fatal(err)
		}
		proposals = append(proposals, r)
	}
	// As clients would: the proposals as they are now.
	for i, p := range proposals {
		r, err := replicas[i].Store.GetRevision(ctx, "default", p.Name)
		if err != nil {
			t.Fatal(err)
		}
		proposals[i] = r
	}
	published := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range proposals {
		wg.Go(func() {
			<-start
			pub, _, err := replicas[i].Approval(ctx, "default", p.Name, p.ResourceVersion, revision.Published, by)
			if errs[i] = err; err == nil {
				published[i] = pub.Revision.Revision
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("approvals: %v", err)
	}
	slices.Sort(published)
	if !slices.Equal(published, []string{"v1", "v2"}) {
		t.Errorf("published %v, want v1 and v2", published)
	}
	if tags := run(t, bare, "tag", "-l"); tags != "nginx/v1\nnginx/v2" {
		t.Errorf("tags in git: %q", tags)
	}

	draft, _, err := replicas[0].Create(ctx, "default", Create{Repository: "blueprints", Package: "app", Workspace: "c", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	files := func(v string) map[string][]byte {
		return map[string][]byte{"Kptfile": []byte("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n"),
			"cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  v: " + v + "\n")}
	}
	start = make(chan struct{})
	for i := range replicas {
		wg.Go(func() {
			<-start
			_, errs[i] = replicas[i].WriteResources(ctx, "default", draft.Name, draft.ResourceVersion, files([]string{"one", "two"}[i]), by)
		})
	}
	close(start)
	wg.Wait()
	var conflicts int
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, ErrConflict):
			conflicts++
		default:
			t.Errorf("update: %v", err)
		}
	}
	if conflicts != 1 {
		t.Errorf("two updates from one resource version: %v, want one written and one conflict", errs)
	}
	got := run(t, bare, "show", "drafts/app/c:app/cm.yaml")
	if !strings.Contains(got, "v: one") && !strings.Contains(got, "v: two") {
		t.Errorf("the draft holds:\n%s", got)
	}

	repo, err := replicas[1].Store.GetRepository(ctx, "default", "blueprints")
	if err != nil {
		t.Fatal(err)
	}
	release, err := replicas[1].Store.(*sqlstore.Store).LockRepository(ctx, repo.ID)
	if err != nil {
		t.Fatal(err)
	}
	current, err := replicas[0].Store.GetRevision(ctx, "default", draft.Name)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := replicas[0].WriteResources(ctx, "default", draft.Name, current.ResourceVersion, files("three"), by)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a write ran while another replica held the repository: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the write once the lock was released: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write did not go on once the lock was released")
	}
	if got := run(t, bare, "show", "drafts/app/c:app/cm.yaml"); !strings.Contains(got, "v: three") {
		t.Errorf("the draft holds:\n%s", got)
	}
}
