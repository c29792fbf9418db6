package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
	"github.com/pkgserver/pkgserver/test/bench/repogen"
)

// snapshot is everything the index says of the repository's revisions.
func snapshot(t *testing.T, dataDir string) map[string]revision.Revision {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkIntegrity(t, st)
	list, err := st.ListRevisions(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]revision.Revision{}
	for _, r := range list.Items {
		out[r.Name] = r.Revision
	}
	return out
}

// checkIntegrity fails the test if a revision lacks its tree, or a tree of
// a sample of revisions lacks a blob.
func checkIntegrity(t *testing.T, st *sqlstore.Store) {
	t.Helper()
	var orphans int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM revisions r WHERE NOT EXISTS (SELECT 1 FROM trees t WHERE t.id = r.tree_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans > 0 {
		t.Fatalf("%d revisions have no tree", orphans)
	}
	list, err := st.ListRevisions(context.Background(), store.ListOptions{Limit: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Items {
		if _, err := st.Resources(context.Background(), r.Namespace, r.Name); err != nil {
			t.Fatalf("revision %s: %v", r.Name, err)
		}
	}
}

func registerRepo(t *testing.T, dataDir, repoDir string) {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repo := storetest.NewRepository("default", "bench")
	repo.Object.Spec.Git.URL = repoDir
	if err := st.CreateRepository(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
}

func reindex(t *testing.T, dataDir string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "pkgserver"), "reindex", "--data", dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out)
	}
}

// TestReindexSurvivesKill kills `pkgserver reindex` at several points of its
// work: every time, the index holds either what it held before or the new
// state, never a mix, and the next reindex completes it.
func TestReindexSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a repository of thousands of revisions")
	}
	dir := t.TempDir()
	repoDir := filepath.Join(dir, "repo.git")
	spec := repogen.Spec{Packages: 1500, Revisions: 4, Drafts: 60, Proposals: 30}
	if err := repogen.Generate(repoDir, spec); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	registerRepo(t, dataDir, repoDir)
	reindex(t, dataDir)
	before := snapshot(t, dataDir)

	// Git moves on: the branch, and drafts deleted.
	if _, _, err := repogen.AppendCommit(repoDir, spec, 7, "after"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ref := "refs/heads/drafts/" + repogen.PackagePath(i) + "/edit"
		if out, err := exec.Command("git", "--git-dir="+repoDir, "update-ref", "-d", ref).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	freshDir := filepath.Join(dir, "fresh")
	registerRepo(t, freshDir, repoDir)
	reindex(t, freshDir)
	after := snapshot(t, freshDir)
	if cmp.Equal(before, after) {
		t.Fatal("the change to git changed no revision")
	}

	sawBefore, sawAfter := false, false
	for _, delay := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, 900 * time.Millisecond} {
		cmd := exec.Command(filepath.Join(binDir, "pkgserver"), "reindex", "--data", dataDir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		got := snapshot(t, dataDir)
		switch {
		case cmp.Equal(got, before):
			sawBefore = true
		case cmp.Equal(got, after):
			sawAfter = true
			before = after // later kills start from the new state
		default:
			t.Fatalf("killed after %s: the index is neither the old nor the new state:\n%s", delay, cmp.Diff(before, got))
		}
	}
	t.Logf("kills left the old state: %v, the new state: %v", sawBefore, sawAfter)
	reindex(t, dataDir)
	if diff := cmp.Diff(after, snapshot(t, dataDir)); diff != "" {
		t.Errorf("after a completed reindex (-fresh +repaired):\n%s", diff)
	}
}
