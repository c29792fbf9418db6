package lifecycle

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/pkgcheck"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// syncer indexes through a reconciler, as the scheduler's Apply does.
type syncer struct{ rec *reconcile.Reconciler }

func (s syncer) Apply(ctx context.Context, ns, name string, updates []revision.RefUpdate) error {
	_, err := s.rec.Sync(ctx, ns, name, updates...)
	return err
}

func (s syncer) SyncNow(ctx context.Context, ns, name string) error {
	_, err := s.rec.Sync(ctx, ns, name)
	return err
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bareRepo makes the bare repository dir/blueprints.git of a work tree
// whose first commit holds a README and files, after more is done to it.
func bareRepo(t *testing.T, dir string, files map[string]string, more func(*gittest.Repo)) string {
	t.Helper()
	work := gittest.New(t)
	work.Write(map[string]string{"README.md": "x\n"})
	work.Write(files)
	work.Commit("initial")
	if more != nil {
		more(work)
	}
	bare := filepath.Join(dir, "blueprints.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	return bare
}

// newWriter registers the repository blueprints at url (fetched with creds
// when given) in a new index, syncs it, and returns a writer over it and
// the index.
func newWriter(t *testing.T, url string, creds *gitrepo.Credentials) (*Writer, *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	spec := configv1alpha1.GitSpec{URL: url}
	src := &reconcile.GitSource{MirrorDir: t.TempDir()}
	if creds != nil {
		spec.Credentials = "ci"
		src.Credentials = func(context.Context, string, string) (*gitrepo.Credentials, error) { return creds, nil }
	}
	repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blueprints"},
		Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: spec}}}
	if err := st.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	rec := reconcile.New(st, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := rec.Sync(ctx, "default", "blueprints"); err != nil {
		t.Fatal(err)
	}
	w := &Writer{Store: st, Git: src.Writable, Index: syncer{rec},
		Packages: pkgcheck.New(validate.Config{Limits: krm.DefaultLimits()})}
	return w, st
}

// setupFiles returns a writer over a bare repository registered by path
// whose first commit holds files, its index, and the repository.
func setupFiles(t *testing.T, files map[string]string) (*Writer, *sqlstore.Store, string) {
	t.Helper()
	return setupFilesWith(t, files, nil)
}

// setupFilesWith is setupFiles with more done to the work tree before the
// bare repository is made of it.
func setupFilesWith(t *testing.T, files map[string]string, more func(*gittest.Repo)) (*Writer, *sqlstore.Store, string) {
	t.Helper()
	bare := bareRepo(t, t.TempDir(), files, more)
	w, st := newWriter(t, bare, nil)
	return w, st, bare
}

// remoteSetup serves a bare repository over HTTP (git http-backend, pushes
// allowed, basic authentication) with a pre-receive hook when given, and
// returns a writer over it, its index and the bare repository.
func remoteSetup(t *testing.T, hook string) (*Writer, *sqlstore.Store, string) {
	t.Helper()
	root := t.TempDir()
	bare := bareRepo(t, root, nil, nil)
	run(t, bare, "config", "http.receivepack", "true")
	base := gittest.ServeHTTP(t, root, "ci", "s3cret")
	w, st := newWriter(t, base+"/blueprints.git", &gitrepo.Credentials{Username: "ci", Password: "s3cret"})
	if hook != "" {
		if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return w, st, bare
}

// proposeNginx creates the draft blueprints.nginx.first (a new package)
// and proposes it.
func proposeNginx(t *testing.T, w *Writer) *store.Revision {
	t.Helper()
	ctx, by := context.Background(), Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if r, _, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, nil, by); err != nil {
		t.Fatal(err)
	}
	return r
}
