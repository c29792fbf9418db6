package gitrepo

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
)

func TestValidateRefName(t *testing.T) {
	good := []string{"refs/heads/main", "refs/heads/drafts/a/b/ws-1", "refs/tags/nginx/v1.2.0", "refs/heads/ünïcode"}
	bad := []string{"heads/main", "refs/heads/a..b", "refs/heads/a b", "refs/heads/a\x01b", "refs/heads/a/", "refs/heads/.hidden",
		"refs/heads/a.lock", "refs/heads/a//b", "refs/heads/a@{1}", "refs/heads/a:b", "refs/heads/a\\b", "refs/heads/a\xffb",
		"refs/heads/x.", "refs/heads/a*", "refs/heads/" + strings.Repeat("x", 1100)}
	for _, n := range good {
		if err := ValidateRefName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateRefName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
	for _, n := range []string{"", ".", "..", "a/b", "a\nb", "a\\b"} {
		if err := ValidatePathElement(n); err == nil {
			t.Errorf("path element %q accepted", n)
		}
	}
}

func TestRefsAndBatch(t *testing.T) {
	ctx := context.Background()
	r := gittest.New(t)
	r.Write(map[string]string{"pkg/Kptfile": "k\n", "pkg/sub/a.yaml": "a: 1\n"})
	c1 := r.Commit("one")
	r.Tag("light", c1, "")
	r.Tag("annotated", c1, "a message")
	r.Git("branch", "other", c1)

	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if bare, err := Open(r.GitDir()); err != nil || bare.GitDir() != repo.GitDir() {
		t.Errorf("opening the .git directory: %v, %v", bare, err)
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotRepository) {
		t.Errorf("open an empty directory: %v", err)
	}
	refs, err := repo.Refs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ref := range refs {
		names = append(names, ref.Name)
		if ref.Commit != c1 {
			t.Errorf("%s peels to %s, want %s", ref.Name, ref.Commit, c1)
		}
		if ref.Annotated != (ref.Name == "refs/tags/annotated") {
			t.Errorf("%s: annotated = %v", ref.Name, ref.Annotated)
		}
	}
	if diff := cmp.Diff([]string{"refs/heads/main", "refs/heads/other", "refs/tags/annotated", "refs/tags/light"}, names); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}

	b, err := repo.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tree, err := b.Read(c1 + ":pkg")
	if err != nil || tree.Type != "tree" {
		t.Fatalf("read tree: %v, %v", tree, err)
	}
	entries, err := ParseTree(tree.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "Kptfile" || !entries[0].IsBlob() || entries[1].Name != "sub" || !entries[1].IsTree() {
		t.Errorf("entries = %+v", entries)
	}
	if _, err := b.Read(c1 + ":nope"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("missing path: %v", err)
	}
	if _, err := b.Read("a\nb"); err == nil {
		t.Error("a request with a newline was sent")
	}
	var got []string
	err = b.ReadAll([]string{c1, c1 + ":pkg/Kptfile", "0000000000000000000000000000000000000000", c1 + ":pkg/sub/a.yaml"}, func(i int, obj *Object) error {
		if obj == nil {
			got = append(got, "missing")
			return nil
		}
		got = append(got, obj.Type+":"+string(obj.Data[:min(len(obj.Data), 4)]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"commit:tree", "blob:k\n", "missing", "blob:a: 1"}, got); diff != "" {
		t.Errorf("ReadAll (-want +got):\n%s", diff)
	}
	commit, _ := b.Read(c1)
	c, err := ParseCommit(commit)
	if err != nil || c.Committer.Name != "Carl Committer" || c.Message != "one\n" {
		t.Errorf("commit = %+v, %v", c, err)
	}

	var logged []string
	r.Write(map[string]string{"pkg/sub/a.yaml": "a: 2\n", "other/x": "x"})
	c2 := r.Commit("two")
	err = repo.Log(ctx, c2, nil, "pkg", func(commit string, paths []string) bool {
		logged = append(logged, commit[:7]+" "+strings.Join(paths, ","))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{c2[:7] + " pkg/sub/a.yaml", c1[:7] + " pkg/Kptfile,pkg/sub/a.yaml"}, logged); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if ok, err := repo.IsAncestor(ctx, c1, c2); !ok || err != nil {
		t.Errorf("IsAncestor(c1, c2) = %v, %v", ok, err)
	}
	if ok, err := repo.IsAncestor(ctx, c2, c1); ok || err != nil {
		t.Errorf("IsAncestor(c2, c1) = %v, %v", ok, err)
	}
}

func TestGitDoesNotSeeTheCallersEnvironment(t *testing.T) {
	r := gittest.New(t)
	r.Commit("one")
	repo, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	// A client environment pointing git elsewhere must change nothing.
	t.Setenv("GIT_DIR", t.TempDir())
	t.Setenv("GIT_OBJECT_DIRECTORY", t.TempDir())
	t.Setenv("GIT_CONFIG_PARAMETERS", "'core.bare'='oops'")
	refs, err := repo.Refs(context.Background())
	if err != nil || len(refs) != 1 {
		t.Errorf("refs with a hostile environment: %v, %v", refs, err)
	}
}

func TestSyncMirrorIsIncremental(t *testing.T) {
	ctx := context.Background()
	origin := gittest.New(t)
	origin.Write(map[string]string{"a": "1"})
	c1 := origin.Commit("one")
	origin.Tag("v1", c1, "annotated")
	origin.Git("branch", "doomed", c1)
	dir := filepath.Join(t.TempDir(), "mirror.git")
	url := "file://" + origin.Dir

	m, err := SyncMirror(ctx, dir, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	refNames := func() []string {
		refs, err := m.Refs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range refs {
			out = append(out, r.Name+"="+r.Commit[:7])
		}
		return out
	}
	if diff := cmp.Diff([]string{"refs/heads/doomed=" + c1[:7], "refs/heads/main=" + c1[:7], "refs/tags/v1=" + c1[:7]}, refNames()); diff != "" {
		t.Errorf("first sync (-want +got):\n%s", diff)
	}
	marker := filepath.Join(dir, "pkgserver-marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	origin.Write(map[string]string{"b": "2"})
	c2 := origin.Commit("two")
	origin.Git("branch", "-D", "doomed")
	origin.Tag("v2", c2, "")
	if m, err = SyncMirror(ctx, dir, url, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"refs/heads/main=" + c2[:7], "refs/tags/v1=" + c1[:7], "refs/tags/v2=" + c2[:7]}, refNames()); diff != "" {
		t.Errorf("second sync (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("the mirror was cloned again rather than fetched into")
	}
}

func TestCredentialsNeverInErrors(t *testing.T) {
	var sawAuth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	const token = "ghp_S3cr3tT0ken"
	dir := filepath.Join(t.TempDir(), "m.git")

	_, err := SyncMirror(context.Background(), dir, srv.URL+"/org/repo.git", &Credentials{Token: token})
	if err == nil {
		t.Fatal("sync against a server that refuses succeeded")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error carries the token: %v", err)
	}
	if len(sawAuth) == 0 || !strings.HasPrefix(sawAuth[0], "Basic ") {
		t.Errorf("the token was not sent: %v", sawAuth)
	}
	withUserinfo := strings.Replace(srv.URL, "http://", "http://user:"+token+"@", 1) + "/org/repo.git"
	_, err = SyncMirror(context.Background(), filepath.Join(t.TempDir(), "m2.git"), withUserinfo, nil)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("error with credentials in the URL: %v", err)
	}
}

func TestCredentialKinds(t *testing.T) {
	if _, err := (&Credentials{Token: "t"}).authMethod("ssh://git@example.com/x.git"); err == nil {
		t.Error("a token was accepted for SSH")
	}
	if _, err := (&Credentials{SSHKey: []byte("k")}).authMethod("https://example.com/x.git"); err == nil {
		t.Error("an SSH key was accepted for HTTPS")
	}
	if _, err := (&Credentials{SSHKey: []byte("k")}).authMethod("ssh://git@example.com/x.git"); err == nil || !strings.Contains(err.Error(), "known hosts") {
		t.Errorf("an SSH key without known hosts: %v", err)
	}
}

func TestSanitizeURL(t *testing.T) {
	tests := map[string]string{
		"https://user:secret@github.com/org/repo.git":  "https://github.com/org/repo.git",
		"https://x-access-token:abc@github.com/o/r":    "https://github.com/o/r",
		"https://github.com/o/r.git?private_token=abc": "https://github.com/o/r.git?redacted",
		"ssh://git@example.com:2222/o/r.git":           "ssh://git@example.com:2222/o/r.git",
		"ssh://git:pw@example.com/o/r.git":             "ssh://example.com/o/r.git",
		"git@github.com:org/repo.git":                  "git@github.com:org/repo.git",
		"/srv/git/repo.git":                            "/srv/git/repo.git",
	}
	for in, want := range tests {
		if got := SanitizeURL(in); got != want {
			t.Errorf("SanitizeURL(%q) = %q, want %q", in, got, want)
		}
	}
}
