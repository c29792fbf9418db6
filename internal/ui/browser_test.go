package ui_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/testbin"
)

// binDir holds the hook program hosted repositories run, built once from
// this checkout.
var binDir string

func TestMain(m *testing.M) { testbin.Main(m.Run, &binDir, "pkgserver-hook") }

// site is a running server with a repository of packages, and tokens of
// a writer and a reader of its namespace.
type site struct {
	t              *testing.T
	url            string
	remote         *gittest.Repo
	writer, reader string
	admin          string
}

func startSite(t *testing.T) *site {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Config{DataDir: dir, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ShutdownTimeout: 15 * time.Second, HookCommand: []string{filepath.Join(binDir, "pkgserver-hook")}})
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, remote: gittest.New(t), admin: srv.AdminToken}
	for _, g := range []struct {
		name string
		role store.Role
		tok  *string
	}{{"alice", store.RoleWrite, &s.writer}, {"bob", store.RoleRead, &s.reader}} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, &store.Token{Name: g.name, Hash: hash, Namespace: "default", Role: g.role, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		*g.tok = tok
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	s.remote.Write(gittest.Package("nginx", "1"))
	c1 := s.remote.Commit("nginx 1")
	s.remote.Tag("nginx/v1", c1, "")
	for _, ws := range []string{"second", "third"} {
		s.remote.Checkout("-q", "-b", "proposed/nginx/"+ws)
		s.remote.Write(gittest.Package("nginx", ws))
		s.remote.Commit("nginx " + ws)
		s.remote.Checkout("-q", "main")
	}
	// A deployment repository with a clone of blueprints' nginx v1.
	deploy := gittest.New(t)
	deploy.Write(map[string]string{
		"my-nginx/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: my-nginx\nupstream:\n  type: git\n  git:\n" +
			"    repo: " + s.remote.Dir + "\n    directory: nginx\n    ref: nginx/v1\n  updateStrategy: resource-merge\nupstreamLock:\n  type: git\n  git:\n" +
			"    repo: " + s.remote.Dir + "\n    directory: nginx\n    ref: nginx/v1\n    commit: " + c1 + "\n",
		"my-nginx/config.yaml": gittest.Package("nginx", "1")["nginx/config.yaml"],
	})
	deploy.Tag("my-nginx/v1", deploy.Commit("my-nginx 1"), "")
	for name, dir := range map[string]string{"blueprints": s.remote.Dir, "deployments": deploy.Dir} {
		repo := configv1alpha1.Repository{Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderGit, Git: configv1alpha1.GitSpec{URL: dir}}}
		repo.Name, repo.Spec.Deployment = name, name == "deployments"
		if code, body := s.api(srv.AdminToken, http.MethodPost, "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories", repo); code != http.StatusCreated {
			t.Fatalf("register %s: %d %s", name, code, body)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s.lifecycle("blueprints.nginx.third") == "Proposed" && s.lifecycle("deployments.my-nginx.v1") == "Published" {
			break
		}
		if time.Now().After(deadline) {
			_, b := s.api(srv.AdminToken, http.MethodGet, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions", nil)
			_, r := s.api(srv.AdminToken, http.MethodGet, "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/blueprints", nil)
			t.Fatalf("the repository's revisions were not indexed within 20 s: %s\n%s", b, r)
		}
	}
	return s
}

func (s *site) api(token, method, path string, body any) (int, []byte) {
	s.t.Helper()
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, s.url+path, in)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// lifecycle is a revision's lifecycle as the API reads it ("" if none).
func (s *site) lifecycle(name string) string {
	var rev pkgv1alpha1.PackageRevision
	code, body := s.api(s.reader, http.MethodGet, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/"+name, nil)
	if code != http.StatusOK || json.Unmarshal(body, &rev) != nil {
		return ""
	}
	return rev.Spec.Lifecycle
}

// browser starts a headless Chromium (Debian's chromium), skipping the
// test where it is not installed unless PKGSERVER_REQUIRE_CHROMIUM=1 (CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("PKGSERVER_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("chromium is not installed; PKGSERVER_REQUIRE_CHROMIUM=1 requires the browser tests")
		}
		t.Skip("chromium is not installed (apt-get install chromium): the browser tests are skipped")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// signIn signs the browser in with a token, from the page it was sent to.
func signIn(s *site, token string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("repositories")),
	)
}

// TestApproveInBrowser: a writer signs in, browses from the repositories
// to a proposal and approves it: it is Published, with its tag in git.
func TestApproveInBrowser(t *testing.T) {
	s := startSite(t)
	ctx := browser(t)
	err := chromedp.Do(ctx, signIn(s, s.writer),
		chromedp.Click(chromedp.CSS(`a[href="/ui/repositories/default/blueprints"]`)),
		chromedp.WaitVisible(chromedp.ID("package-list")),
		chromedp.Click(chromedp.CSS(`a[href="/ui/revisions/default/blueprints.nginx.second"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)),
		chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#lifecycle.lc-published`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	lifecycle, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("lifecycle")))
	if err != nil || lifecycle != "Published" {
		t.Errorf("the page shows %q after approving (%v)", lifecycle, err)
	}
	if got := s.remote.Git("rev-parse", "--verify", "-q", "nginx/v2^{commit}"); got == "" {
		t.Error("no tag nginx/v2 in git after the approval")
	}
	if l := s.lifecycle("blueprints.nginx.second"); l != "Published" {
		t.Errorf("the API says %q after the approval", l)
	}
}

// TestReaderAndForgery: a reader sees no actions; a form posted without
// the session's CSRF token, as another site would post it, is refused and
// changes nothing.
func TestReaderAndForgery(t *testing.T) {
	s := startSite(t)
	ctx := browser(t)
	err := chromedp.Do(ctx, signIn(s, s.reader),
		chromedp.Navigate(s.url+"/ui/revisions/default/blueprints.nginx.third"),
		chromedp.WaitVisible(chromedp.ID("lifecycle")),
	)
	if err != nil {
		t.Fatal(err)
	}
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main button").length`))
	if err != nil || buttons != 0 {
		t.Errorf("a reader's revision page has %d buttons (%v)", buttons, err)
	}

	// The writer's browser, signed in, posts a form another site made.
	writer, _ := signInHTTP(t, s, s.writer)
	for _, form := range []url.Values{{}, {"csrf": {"guessed"}}} {
		resp, err := writer.PostForm(s.url+"/ui/revisions/default/blueprints.nginx.third/approve", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("an approval posted with csrf %q: %d, want 403", form.Get("csrf"), resp.StatusCode)
		}
	}
	// The reader's own form, with its CSRF token, is refused by the API.
	reader, csrf := signInHTTP(t, s, s.reader)
	resp, err := reader.PostForm(s.url+"/ui/revisions/default/blueprints.nginx.third/approve", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(page), "may not write in namespace default") {
		t.Errorf("a reader's approval: %d\n%s", resp.StatusCode, page)
	}
	if l := s.lifecycle("blueprints.nginx.third"); l != "Proposed" {
		t.Errorf("a refused approval changed the revision: %s", l)
	}
	if got := s.remote.Git("tag", "--list", "nginx/v2"); got != "" {
		t.Errorf("a refused approval tagged %s", got)
	}
}

// signInHTTP signs a client in through the sign-in form, as a browser
// without JavaScript does, and returns it with its session's CSRF token.
func signInHTTP(t *testing.T, s *site, token string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(s.url + "/ui/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	nonce := between(string(page), `name="nonce" value="`, `"`)
	resp, err = c.PostForm(s.url+"/ui/signin", url.Values{"token": {token}, "nonce": {nonce}, "next": {"/ui/"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := between(string(page), `name="csrf" value="`, `"`)
	if resp.StatusCode != http.StatusOK || csrf == "" {
		t.Fatalf("sign in: %d\n%s", resp.StatusCode, page)
	}
	return c, csrf
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

// TestLivePage: a repository's page shows a draft pushed meanwhile,
// without a reload.
func TestLivePage(t *testing.T) {
	s := startSite(t)
	repo := configv1alpha1.Repository{Spec: configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderHosted}}
	repo.Name = "live"
	if code, body := s.api(s.admin, http.MethodPost, "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories", repo); code != http.StatusCreated {
		t.Fatalf("create a hosted repository: %d %s", code, body)
	}
	ctx := browser(t)
	err := chromedp.Do(ctx, signIn(s, s.reader),
		chromedp.Navigate(s.url+"/ui/repositories/default/live"),
		chromedp.WaitVisible(chromedp.ID("packages")),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The page's event stream is open before the push.
	time.Sleep(500 * time.Millisecond)
	work := gittest.New(t)
	work.Checkout("-q", "-b", "drafts/hello/one")
	work.Write(gittest.Package("hello", "1"))
	work.Commit("hello")
	u, _ := url.Parse(s.url + "/git/default/live.git")
	u.User = url.UserPassword("alice", s.writer)
	if out, err := exec.Command("git", "-C", work.Dir, "push", "-q", u.String(), "drafts/hello/one").CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/revisions/default/live.hello.one"]`))); err != nil {
		t.Fatalf("the pushed draft did not appear on the page within 10 s: %v", err)
	}
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil || !same {
		t.Errorf("the page was reloaded to show the draft (%v)", err)
	}
}
