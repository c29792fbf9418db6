package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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

func setupFiles(t *testing.T, files map[string]string) (*Writer, *sqlstore.Store, string) {
	t.Helper()
	return setupFilesWith(t, files, nil)
}

// setupFilesWith is setupFiles with more done to the work tree before the
// bare repository is made of it.
func setupFilesWith(t *testing.T, files map[string]string, more func(*gittest.Repo)) (*Writer, *sqlstore.Store, string) {
	t.Helper()
	ctx := context.Background()
	work := gittest.New(t)
	work.Write(map[string]string{"README.md": "x\n"})
	work.Write(files)
	work.Commit("initial")
	if more != nil {
		more(work)
	}
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

// TestInitWhereSomethingIs: a new package is refused where the branch has
// a directory (with packages below it, or files), a file, or inside a
// package — publishing it would replace what is there.
func TestInitWhereSomethingIs(t *testing.T) {
	ctx := context.Background()
	files := gittest.Package("a/b", "1")
	files["a/notes.txt"] = "keep me\n"
	files["docs/guide.md"] = "guide\n"
	files["LICENSE"] = "x\n"
	w, _, bare := setupFiles(t, files)
	refs := run(t, bare, "for-each-ref")
	for pkg, want := range map[string]string{"a": "is not a package", "docs": "is not a package", "LICENSE": "RFC 1123",
		"license": "", "a/b": "already a package", "a/b/c": "inside package a/b"} {
		_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: pkg, Workspace: "ws", Init: &Init{}}, Author{Name: "ada"})
		var inv *Invalid
		if want == "" {
			if err != nil {
				t.Errorf("init %s: %v", pkg, err)
			}
			continue
		}
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), want) {
			t.Errorf("init %s: %v, want a refusal saying %q", pkg, err, want)
		}
	}
	if got := run(t, bare, "for-each-ref"); !strings.Contains(got, "drafts/license/ws") || strings.Count(got, "drafts/") != 1 {
		t.Errorf("refs after the refusals:\n%s\nwas\n%s", got, refs)
	}
}

// TestDotGitRefused: files under a directory named like git's own are
// refused, in every spelling a system takes for it.
func TestDotGitRefused(t *testing.T) {
	ctx := context.Background()
	w, _, bare := setupFiles(t, nil)
	by := Author{Name: "ada"}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "ws", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	before := run(t, bare, "rev-parse", "drafts/nginx/ws")
	for _, p := range []string{".git/config", "sub/.GIT/hooks/x", "git~1/config", ".git./HEAD", ".g\u200cit/HEAD"} {
		files := map[string][]byte{"Kptfile": []byte(gittest.Kptfile("nginx")), p: []byte("x\n")}
		_, _, err := w.PutResources(ctx, "default", r.Name, r.ResourceVersion, files, by)
		var inv *Invalid
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("%s: %v, want a refusal", p, err)
		}
	}
	if run(t, bare, "rev-parse", "drafts/nginx/ws") != before {
		t.Errorf("a refused update moved the draft")
	}
}

// TestRemoteRefusals: a remote that cannot push atomically is not pushed
// to at all; a protected branch refuses the approval whole. Either way the
// write is refused (422), the tag is not made and the proposal stays.
func TestRemoteNotAtomic(t *testing.T)       { remoteRefusal(t, false) }
func TestRemoteProtectedBranch(t *testing.T) { remoteRefusal(t, true) }
func remoteRefusal(t *testing.T, atomic bool) {
	ctx := context.Background()
	root := t.TempDir()
	work := gittest.New(t)
	work.Commit("initial")
	bare := filepath.Join(root, "blueprints.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	run(t, bare, "config", "http.receivepack", "true")
	if !atomic {
		run(t, bare, "config", "receive.advertiseAtomic", "false")
	}
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
	var inv *Invalid
	if !atomic {
		_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "atomic") {
			t.Errorf("create on a remote without atomic pushes: %v", err)
		}
		if got := run(t, bare, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main" {
			t.Errorf("remote refs: %s", got)
		}
		return
	}
	r, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, by)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = w.Update(ctx, "default", r.Name, r.ResourceVersion, revision.Proposed, by); err != nil {
		t.Fatal(err)
	}
	// A protected branch: the server refuses updates of main.
	hook := filepath.Join(bare, "hooks", "update")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n[ \"$1\" = refs/heads/main ] && { echo protected >&2; exit 1; }\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
	if !errors.As(err, &inv) {
		t.Errorf("approval on a protected branch: %v, want a refusal", err)
	}
	refs := run(t, bare, "for-each-ref", "--format=%(refname)")
	if strings.Contains(refs, "refs/tags/nginx/v1") || !strings.Contains(refs, "proposed/nginx/first") {
		t.Errorf("remote refs after the refused approval:\n%s", refs)
	}
}

// TestPushAuthRequired: a remote that serves fetches anonymously but asks
// pushes to authenticate refuses the write (422), not a conflict.
func TestPushAuthRequired(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	work := gittest.New(t)
	work.Commit("initial")
	bare := filepath.Join(root, "blueprints.git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	run(t, bare, "config", "http.receivepack", "true")
	inner := gittest.ServeHTTP(t, root, "", "")
	u, _ := url.Parse(inner)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.String(), "receive-pack") {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "auth", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := &store.Repository{Object: configv1alpha1.Repository{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "blueprints"},
		Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: srv.URL + "/blueprints.git"}}}}
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
	_, _, err = w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, Author{Name: "ada"})
	var inv *Invalid
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("create with push credentials refused: %v", err)
	}
}
