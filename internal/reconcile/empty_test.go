package reconcile

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store/storetest"
)

// TestEmptyRepository: a repository without refs (a new bare repository)
// has no revisions and no problems, previewed from git or indexed.
func TestEmptyRepository(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "empty.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v\n%s", err, out)
	}
	g, err := gitrepo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	revs, problems, err := Preview(ctx, g, revision.Config{Repository: "empty", Branch: "main"})
	if err != nil || len(revs) != 0 || len(problems) != 0 {
		t.Errorf("Preview = %v, %v, %v; want nothing", revs, problems, err)
	}

	s := newStore(t)
	repo := storetest.NewRepository("default", "empty")
	repo.Object.Spec.Git.URL = dir
	if err := s.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	rec := New(s, &GitSource{}, quiet())
	for name, run := range map[string]func() (*Result, error){
		"sync":    func() (*Result, error) { return rec.Sync(ctx, "default", "empty") },
		"reindex": func() (*Result, error) { return rec.Reindex(ctx, "default", "empty") },
	} {
		res, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Packages != 0 || res.Revisions != 0 || len(res.Problems) != 0 {
			t.Errorf("%s: %+v", name, res)
		}
	}
	if got := indexed(t, s); len(got) != 0 {
		t.Errorf("indexed: %v", got)
	}
	got, err := s.GetRepository(ctx, "default", "empty")
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Object.Status; st.PackageCount != 0 || st.Commit != "" || len(st.Problems) != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestPreviewWithoutBranch: refs but not the repository branch — a
// repository holding only a draft — preview as the draft alone.
func TestPreviewWithoutBranch(t *testing.T) {
	r := gittest.New(t)
	r.Write(gittest.Package("nginx", "1"))
	r.Commit("Add nginx")
	r.Git("branch", "-m", "main", "drafts/nginx/ws")
	g, err := gitrepo.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	revs, problems, err := Preview(context.Background(), g, revision.Config{Repository: "cat", Branch: "main"})
	if err != nil || len(problems) != 0 {
		t.Fatalf("Preview: %v, %v", problems, err)
	}
	if len(revs) != 1 || revs[0].Name != "cat.nginx.ws" || revs[0].Lifecycle != revision.Draft {
		t.Errorf("revisions %v, want the draft cat.nginx.ws", summarize(revs))
	}
}

// TestSchedulerEmptyRepositories: new bare repositories, read in place or
// through a mirror of a remote, register Ready with no package.
func TestSchedulerEmptyRepositories(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"local.git", "remote.git"} {
		if out, err := exec.Command("git", "init", "-q", "--bare", filepath.Join(root, name)).CombinedOutput(); err != nil {
			t.Fatalf("git init --bare: %v\n%s", err, out)
		}
	}
	base := gittest.ServeDaemon(t, root)
	h := newScheduler(t, nil)
	h.register("local", filepath.Join(root, "local.git"), time.Hour, "")
	h.register("remote", base+"/remote.git", 100*time.Millisecond, "")
	h.run()
	for _, name := range []string{"local", "remote"} {
		h.waitFor(name+" to sync", func() bool { c := h.ready(name); return c != nil && c.Status != metav1.ConditionUnknown })
		if c := h.ready(name); c.Status != metav1.ConditionTrue {
			t.Errorf("%s: Ready = %+v", name, c)
		}
		r, err := h.st.GetRepository(context.Background(), "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if st := r.Object.Status; st.PackageCount != 0 || st.Commit != "" || len(st.Problems) != 0 {
			t.Errorf("%s: status %+v", name, st)
		}
	}
}
