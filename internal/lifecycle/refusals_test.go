package lifecycle

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/revision"
)

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
	w, _, bare := remoteSetup(t, "")
	if !atomic {
		run(t, bare, "config", "receive.advertiseAtomic", "false")
	}
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
	r := proposeNginx(t, w)
	// A protected branch: the server refuses updates of main.
	hook := filepath.Join(bare, "hooks", "update")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n[ \"$1\" = refs/heads/main ] && { echo protected >&2; exit 1; }\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := w.Approval(ctx, "default", r.Name, r.ResourceVersion, revision.Published, by)
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
	bare := bareRepo(t, root, nil, nil)
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
	w, _ := newWriter(t, srv.URL+"/blueprints.git", nil)
	_, _, err := w.Create(ctx, "default", Create{Repository: "blueprints", Package: "nginx", Workspace: "first", Init: &Init{}}, Author{Name: "ada"})
	var inv *Invalid
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("create with push credentials refused: %v", err)
	}
}
