package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
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

// A file where a parent directory of the new package would go.
func TestInitUnderAFile(t *testing.T) {
	ctx := context.Background()
	w, _, bare := setupFiles(t, map[string]string{"team": "keep me\n"})
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "team/nginx", Workspace: "ws", Init: &Init{}}, by)
	var inv *Invalid
	if errors.As(err, &inv) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, by)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by); err != nil {
		t.Fatal(err)
	}
	t.Errorf("init team/nginx accepted over file team; main now: %s", run(t, bare, "ls-tree", "-r", "--name-only", "main"))
}

func remoteSetup(t *testing.T, hook string) (*Writer, string) {
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
	if hook != "" {
		if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return w, bare
}

// Another writer's push lands on the remote while ours is being received
// (after the advertisement, before the ref transaction): a conflict that
// publish should retry, not a refusal.
func TestRemoteMovedDuringPush(t *testing.T) {
	ctx := context.Background()
	w, bare := remoteSetup(t, "")
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, by); err != nil {
		t.Fatal(err)
	}
	hook := `#!/bin/sh
[ -f moved ] && exit 0
touch moved
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
t=$(git rev-parse 'main^{tree}')
c=$(git -c user.name=Bo -c user.email=bo@x commit-tree $t -p main -m elsewhere)
git update-ref refs/heads/main $c
exit 0
`
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	pub, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if err != nil {
		var inv *Invalid
		t.Fatalf("approval: %v (Invalid=%v, Conflict=%v)\nremote refs:\n%s", err, errors.As(err, &inv), errors.Is(err, ErrConflict), run(t, bare, "for-each-ref"))
	}
	if pub.Revision.Revision != "v1" || !strings.Contains(run(t, bare, "log", "--format=%s", "main"), "elsewhere") {
		t.Errorf("published %+v", pub.Revision)
	}
}

// A symlink in a published package stays a symlink through an edit draft's
// resource update and a clone.
func TestSymlinkKept(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("a", "1")
	w, st, bare := setupFilesWith(t, files, func(r *gittest.Repo) {
		r.Symlink("a/link", "Kptfile")
		r.Commit("link")
		r.Tag("a/v1", "HEAD", "")
	})
	_ = st
	by := Author{Name: "ada"}
	if run(t, bare, "ls-tree", "a/v1", "a/link") == "" {
		t.Fatal("no link")
	}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "a", Workspace: "ws", CopyFrom: "blueprints.a.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Resources(ctx, "default", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	res["README.md"] = []byte("changed\n")
	if _, _, err := w.PutResources(ctx, "default", r.Name, r.ResourceVersion, res, by); err != nil {
		var inv *Invalid
		if errors.As(err, &inv) {
			t.Logf("%+v", inv.Results)
		}
		t.Fatal(err)
	}
	if got := run(t, bare, "ls-tree", "drafts/a/ws", "a/link"); !strings.HasPrefix(got, "120000") {
		t.Errorf("after PutResources: %s", got)
	}
	c, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "b", Workspace: "ws", CloneFrom: "blueprints.a.v1"}, by)
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	if got := run(t, bare, "ls-tree", "drafts/b/ws", "b/link"); !strings.HasPrefix(got, "120000") {
		t.Errorf("after clone: %s", got)
	}
}

// A file elsewhere in the repository whose name pkgserver would not write
// itself (git accepts it) blocks every write that rebuilds the root tree.
func TestOddNameElsewhere(t *testing.T) {
	ctx := context.Background()
	w, _, _ := setupFiles(t, map[string]string{"docs/win\\path.txt": "x\n", "Icon\r": ""})
	_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "ws", Init: &Init{}}, Author{Name: "ada"})
	if err != nil {
		var inv *Invalid
		t.Errorf("create: %v (Invalid=%v)", err, errors.As(err, &inv))
	}
}
