package lifecycle

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pkgserver/pkgserver/hooks"
	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/krm"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/revision"
	"github.com/pkgserver/pkgserver/internal/schema"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/validate"
)

// syncer indexes through a reconciler, as the scheduler's Apply does.
type syncer struct{ rec *reconcile.Reconciler }

func (s syncer) Apply(ctx context.Context, ns, name string, updates []reconcile.RefUpdate) error {
	_, err := s.rec.Sync(ctx, ns, name, updates...)
	return err
}

func (s syncer) SyncNow(ctx context.Context, ns, name string) error {
	_, err := s.rec.Sync(ctx, ns, name)
	return err
}

// setup returns a writer over a bare repository registered by path, its
// index, and the repository.
func setup(t *testing.T) (*Writer, *sqlstore.Store, string) {
	t.Helper()
	ctx := context.Background()
	work := gittest.New(t)
	work.Commit("initial")
	bare := filepath.Join(t.TempDir(), "blueprints.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blueprints"},
		Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: bare}}}}
	if err := st.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	src := &reconcile.GitSource{MirrorDir: t.TempDir()}
	rec := reconcile.New(st, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := rec.Sync(ctx, "default", "blueprints"); err != nil {
		t.Fatal(err)
	}
	w := &Writer{Store: st, Git: src.Writable, Index: syncer{rec},
		Checker: &hooks.Checker{Engines: &hooks.EngineCache{Base: validate.Config{Limits: krm.DefaultLimits()}, Builtin: schema.NewBuiltin()}}}
	return w, st, bare
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPublishOnMovedBranch: the branch moves (a push) while a proposal is
// approved: the publication is made again on the new head, which stays in
// the branch's history, and the proposal is published, not lost.
func TestPublishOnMovedBranch(t *testing.T) {
	ctx := context.Background()
	w, st, bare := setup(t)
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, by); err != nil {
		t.Fatal(err)
	}
	var pushed string
	w.beforePublish = func(try int) {
		if try != 1 {
			return
		}
		// Someone else's commit lands on main.
		tree := run(t, bare, "rev-parse", "main^{tree}")
		pushed = run(t, bare, "-c", "user.name=Bo", "-c", "user.email=bo@example.com", "commit-tree", tree, "-p", "main", "-m", "elsewhere")
		run(t, bare, "update-ref", "refs/heads/main", pushed)
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Lifecycle != revision.Published || pub.Revision.Revision != "v1" {
		t.Fatalf("published: %+v", pub.Revision)
	}
	if parent := run(t, bare, "rev-parse", "main^1"); parent != pushed {
		t.Errorf("the publication's first parent is %s, not the commit pushed meanwhile %s", parent, pushed)
	}
	if run(t, bare, "rev-parse", "nginx/v1") != run(t, bare, "rev-parse", "main") {
		t.Errorf("the tag is not on the branch head")
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/"); got != "refs/heads/main" {
		t.Errorf("branches after publishing: %s", got)
	}
	if _, err := st.GetRevision(ctx, "default", "blueprints.nginx.first"); err != nil {
		t.Errorf("published revision not indexed: %v", err)
	}
}

// TestRemoteWrites: a repository fetched over HTTP (git http-backend, basic
// authentication) is written by atomic pushes from its mirror: the draft,
// the proposal and the publication land in the remote; a remote branch that
// moves during the approval is fetched and the publication made again.
func TestRemoteWrites(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	work := gittest.New(t)
	work.Commit("initial")
	bare := filepath.Join(root, "blueprints.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	run(t, bare, "config", "http.receivepack", "true")
	base := gittest.ServeHTTP(t, root, "ci", "s3cret")

	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blueprints"},
		Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: base + "/blueprints.git", Credentials: "ci"}}}}
	if err := st.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	src := &reconcile.GitSource{MirrorDir: t.TempDir(), Credentials: func(context.Context, string, string) (*gitrepo.Credentials, error) {
		return &gitrepo.Credentials{Username: "ci", Password: "s3cret"}, nil
	}}
	rec := reconcile.New(st, src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := rec.Sync(ctx, "default", "blueprints"); err != nil {
		t.Fatal(err)
	}
	w := &Writer{Store: st, Git: src.Writable, Index: syncer{rec},
		Checker: &hooks.Checker{Engines: &hooks.EngineCache{Base: validate.Config{Limits: krm.DefaultLimits()}, Builtin: schema.NewBuiltin()}}}
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/drafts/"); got != "refs/heads/drafts/nginx/first" {
		t.Fatalf("remote branches after create: %q", got)
	}
	if r, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, by); err != nil {
		t.Fatal(err)
	}
	var pushed string
	w.beforePublish = func(try int) {
		if try == 1 {
			tree := run(t, bare, "rev-parse", "main^{tree}")
			pushed = run(t, bare, "-c", "user.name=Bo", "-c", "user.email=bo@example.com", "commit-tree", tree, "-p", "main", "-m", "elsewhere")
			run(t, bare, "update-ref", "refs/heads/main", pushed)
		}
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Revision.Revision != "v1" || pub.Lifecycle != revision.Published {
		t.Errorf("published: %+v", pub.Revision)
	}
	if run(t, bare, "rev-parse", "nginx/v1") != run(t, bare, "rev-parse", "main") || run(t, bare, "rev-parse", "main^1") != pushed {
		t.Errorf("remote after the approval:\n%s", run(t, bare, "log", "--oneline", "--graph", "--all"))
	}
	if got := run(t, bare, "for-each-ref", "--format=%(refname)", "refs/heads/"); got != "refs/heads/main" {
		t.Errorf("remote branches after publishing: %q", got)
	}
	// Nothing of the pushes' own refs is left in the mirror.
	mirror, _, err := src.Writable(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if refs, _ := mirror.RefsUnder(ctx, "refs/pkgserver-push/"); len(refs) != 0 {
		t.Errorf("push refs left: %v", refs)
	}
}

// TestExecutableBits: an executable file stays executable through a clone
// and an update of a draft's resources (which carry text, not modes).
func TestExecutableBits(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("nginx", "1")
	files["nginx/run.sh"] = "#!/bin/sh\necho hi\n"
	w, _, bare := setupFilesWith(t, files, func(work *gittest.Repo) {
		work.Git("update-index", "--chmod=+x", "nginx/run.sh")
		work.Commit("executable")
		work.Tag("nginx/v1", work.Rev("HEAD"), "")
	})
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx-prod", Workspace: "a", CloneFrom: "blueprints.nginx.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	if mode := run(t, bare, "ls-tree", "drafts/nginx-prod/a", "nginx-prod/run.sh"); !strings.HasPrefix(mode, "100755") {
		t.Errorf("clone: %s", mode)
	}
	files2, err := w.Store.Resources(ctx, "default", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	files2["extra.yaml"] = []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
	if _, _, err := w.PutResources(ctx, "default", r.Name, r.ResourceVersion, files2, by); err != nil {
		t.Fatal(err)
	}
	if mode := run(t, bare, "ls-tree", "drafts/nginx-prod/a", "nginx-prod/run.sh"); !strings.HasPrefix(mode, "100755") {
		t.Errorf("after an update of the resources: %s", mode)
	}
}
