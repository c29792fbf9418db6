package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/webhooks"
	"github.com/pkgserver/pkgserver/webhooks/forgetest"
)

const secret = "It's a Secret to Everybody"

// forge is a running server with one github and one gitlab repository,
// both backed by local git repositories standing in for the forges' git.
type forge struct {
	t      *testing.T
	dir    string
	url    string
	store  *sqlstore.Store
	remote *gittest.Repo
	stop   func()
	// github and gitlab stand in for the forges' REST APIs.
	github *forgetest.GitHub
	gitlab *forgetest.GitLab
}

// apiToken is the token pkgserver calls the forges' APIs with.
const apiToken = "glpat-test-token"

func startServer(t *testing.T, dir string) (*sqlstore.Store, string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Config{DataDir: dir, Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Above net/http's 5 s grace for connections that never sent a
		// request (the client's extra dials in a burst).
		ShutdownTimeout: 15 * time.Second, HookCommand: []string{"/bin/false"}, ReportRetryBase: 50 * time.Millisecond,
		PullRequestRefresh: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return st, "http://" + ln.Addr().String(), stop
}

func setup(t *testing.T) *forge {
	t.Helper()
	dir := t.TempDir()
	st, url, stop := startServer(t, dir)
	f := &forge{t: t, dir: dir, url: url, store: st, remote: gittest.New(t), stop: stop}
	f.remote.Write(gittest.Package("nginx", "1"))
	f.remote.Tag("nginx/v1", f.remote.Commit("nginx 1"), "")
	keys, err := auth.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := keys.Seal("default", "hooks", gitrepo.Credentials{Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSecret(context.Background(), "default", "hooks", sealed); err != nil {
		t.Fatal(err)
	}
	sealed, err = keys.Seal("default", "api", gitrepo.Credentials{Token: apiToken})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSecret(context.Background(), "default", "api", sealed); err != nil {
		t.Fatal(err)
	}
	f.github = forgetest.NewGitHub(t, f.remote.Dir, "acme", "blueprints", apiToken)
	f.gitlab = forgetest.NewGitLab(t, f.remote.Dir, "acme/blueprints", 15, apiToken)
	for _, r := range []configv1alpha1.Repository{
		{ObjectMeta: metav1.ObjectMeta{Name: "gh"}, Spec: configv1alpha1.RepositorySpec{Provider: "github", WebhookSecret: "hooks",
			Git:    configv1alpha1.GitSpec{URL: f.remote.Dir, Credentials: "api"},
			GitHub: &configv1alpha1.GitHubSpec{Owner: "acme", Repo: "blueprints", BaseURL: f.github.URL}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gl"}, Spec: configv1alpha1.RepositorySpec{Provider: "gitlab", WebhookSecret: "hooks",
			Git:    configv1alpha1.GitSpec{URL: f.remote.Dir, Credentials: "api"},
			GitLab: &configv1alpha1.GitLabSpec{Project: "acme/blueprints", BaseURL: f.gitlab.URL}}},
	} {
		code, body := f.api(http.MethodPost, "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories", r)
		if code != http.StatusCreated {
			t.Fatalf("register %s: %d %s", r.Name, code, body)
		}
		var got configv1alpha1.Repository
		_ = json.Unmarshal(body, &got)
		if want := f.url + "/webhooks/" + r.Spec.Provider + "/default/" + r.Name; got.Status.WebhookURL != want {
			t.Errorf("webhook URL %q, want %q", got.Status.WebhookURL, want)
		}
	}
	return f
}

func (f *forge) api(method, path string, body any) (int, []byte) {
	f.t.Helper()
	b, _ := json.Marshal(body)
	tok, err := os.ReadFile(filepath.Join(f.dir, server.AdminTokenFile))
	if err != nil {
		f.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, f.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// payload fills a recorded payload with a ref and commit.
func payload(t *testing.T, name, ref, after string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer("REF", ref, "AFTER", after).Replace(string(b)))
}

func sign(body []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliver posts a delivery with headers and returns the status code.
func (f *forge) deliver(path string, body []byte, headers map[string]string) int {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.url+path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func githubHeaders(event, id string, body []byte, key string) map[string]string {
	return map[string]string{"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": id,
		"X-Hub-Signature-256": sign(body, key), "User-Agent": "GitHub-Hookshot/abc123"}
}

// waitRevision waits until a revision is in the index.
func (f *forge) waitRevision(name string) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := f.store.GetRevision(context.Background(), "default", name); err == nil {
			return
		}
	}
	f.t.Fatalf("revision %s not indexed within 10 s", name)
}

func (f *forge) waitDone(forgeName, id string) *store.Delivery {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d, err := f.store.GetDelivery(context.Background(), forgeName, id)
		if err == nil && d.Done {
			return d
		}
	}
	f.t.Fatalf("delivery %s/%s not processed within 10 s", forgeName, id)
	return nil
}

// TestGitHubPush: a signed push delivery is stored, acknowledged with 202
// and processed: the draft it names is fetched and indexed. A redelivery
// is answered 200 and not processed again.
func TestGitHubPush(t *testing.T) {
	f := setup(t)
	f.remote.Checkout("-q", "-b", "drafts/nginx/first")
	f.remote.Write(gittest.Package("nginx", "2"))
	commit := f.remote.Commit("nginx 2")
	body := payload(t, "github-push.json", "refs/heads/drafts/nginx/first", commit)
	const path = "/webhooks/github/default/gh"
	if code := f.deliver(path, body, githubHeaders("push", "d-1", body, secret)); code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	f.waitRevision("gh.nginx.first")
	d := f.waitDone(webhooks.GitHub, "d-1")
	if code := f.deliver(path, body, githubHeaders("push", "d-1", body, secret)); code != http.StatusOK {
		t.Errorf("redelivery: %d, want 200", code)
	}
	time.Sleep(200 * time.Millisecond)
	again, err := f.store.GetDelivery(context.Background(), webhooks.GitHub, "d-1")
	if err != nil || again.Attempts != d.Attempts || again.Attempts != 1 {
		t.Errorf("the redelivery was processed again: %+v, %v", again, err)
	}
	// A delivery signed with this repository's secret but about another
	// forge repository is recorded and not acted on.
	other := bytes.ReplaceAll(payload(t, "github-push.json", "refs/heads/drafts/nginx/other", commit), []byte("acme/blueprints"), []byte("acme/elsewhere"))
	if code := f.deliver(path, other, githubHeaders("push", "d-other", other, secret)); code != http.StatusAccepted {
		t.Fatalf("delivery about another repository: %d", code)
	}
	if d := f.waitDone(webhooks.GitHub, "d-other"); !strings.Contains(d.Error, "the payload is about acme/elsewhere, not acme/blueprints") {
		t.Errorf("delivery about another repository: %+v", d)
	}

	// A ping is stored, and processed as nothing to do.
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"Repository","id":1,"active":true,"events":["push"]}}`)
	if code := f.deliver(path, ping, githubHeaders("ping", "d-ping", ping, secret)); code != http.StatusAccepted {
		t.Errorf("ping: %d", code)
	}
	f.waitDone(webhooks.GitHub, "d-ping")

	// The repository's deliveries, newest first, as the API serves them.
	const deliveries = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories/gh/deliveries"
	var page struct {
		Kind     string                    `json:"kind"`
		Metadata struct{ Continue string } `json:"metadata"`
		Items    []webhookDeliveryForTest  `json:"items"`
	}
	code, body := f.api(http.MethodGet, deliveries+"?limit=2", nil)
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || page.Kind != "WebhookDeliveryList" || len(page.Items) != 2 || page.Metadata.Continue == "" {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	if d := page.Items[0]; d.ID != "d-ping" || d.Event != "ping" || d.Outcome != "Processed" || d.Attempts != 1 || d.Processed == "" {
		t.Errorf("the newest delivery: %+v", d)
	}
	if d := page.Items[1]; d.ID != "d-other" || d.Outcome != "NotActedOn" || !strings.Contains(d.Message, "acme/elsewhere") {
		t.Errorf("the delivery about another repository: %+v", d)
	}
	code, body = f.api(http.MethodGet, deliveries+"?limit=2&continue="+page.Metadata.Continue, nil)
	page.Items, page.Metadata.Continue = nil, ""
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Items) != 1 || page.Items[0].ID != "d-1" || page.Items[0].Outcome != "Processed" || page.Metadata.Continue != "" {
		t.Errorf("the second page of deliveries: %d %s", code, body)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{strings.Replace(deliveries, "/gh/", "/nope/", 1), http.StatusNotFound},
		{deliveries + "?limit=x", http.StatusBadRequest},
		{deliveries + "?continue=abc", http.StatusGone},
	} {
		if code, body := f.api(http.MethodGet, tc.path, nil); code != tc.want {
			t.Errorf("GET %s: %d %s, want %d", tc.path, code, body, tc.want)
		}
	}

	// The web UI shows them on the repository's page.
	tok, _ := os.ReadFile(filepath.Join(f.dir, server.AdminTokenFile))
	req, _ := http.NewRequest(http.MethodGet, f.url+"/ui/repositories/default/gh", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ui, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Recent webhook deliveries", "<code>d-ping</code>", `<span class="outcome outcome-notactedon">NotActedOn</span>`, "acme/elsewhere", f.url + "/webhooks/github/default/gh"} {
		if !strings.Contains(string(ui), want) {
			t.Errorf("the repository's page lacks %s:\n%s", want, ui)
		}
	}
}

// webhookDeliveryForTest is a delivery as the API lists it.
type webhookDeliveryForTest struct {
	ID, Event, Outcome, Message, Processed string
	Attempts                               int
}

// TestRefused: forged, unsigned, unknown, mismatched and oversized
// deliveries are refused and nothing is stored.
func TestRefused(t *testing.T) {
	f := setup(t)
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	gl := payload(t, "gitlab-push.json", "refs/heads/main", f.remote.Rev("main"))
	unsigned := githubHeaders("push", "x-unsigned", body, secret)
	delete(unsigned, "X-Hub-Signature-256")
	sha1Only := githubHeaders("push", "x-sha1", body, secret)
	delete(sha1Only, "X-Hub-Signature-256")
	sha1Only["X-Hub-Signature"] = "sha1=0000000000000000000000000000000000000000"
	tampered := githubHeaders("push", "x-tampered", body, secret)
	for _, tc := range []struct {
		name, path string
		body       []byte
		headers    map[string]string
		want       int
		forge, id  string
	}{
		{"forged signature", "/webhooks/github/default/gh", body, githubHeaders("push", "x-forged", body, "not the secret"), 401, "github", "x-forged"},
		{"unsigned", "/webhooks/github/default/gh", body, unsigned, 401, "github", "x-unsigned"},
		{"sha1 only", "/webhooks/github/default/gh", body, sha1Only, 401, "github", "x-sha1"},
		{"body changed after signing", "/webhooks/github/default/gh", append(bytes.Clone(body), ' '), tampered, 401, "github", "x-tampered"},
		{"unknown repository", "/webhooks/github/default/nope", body, githubHeaders("push", "x-unknown", body, secret), 401, "github", "x-unknown"},
		{"another forge's repository", "/webhooks/gitlab/default/gh", gl, map[string]string{"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "x-mismatch"}, 401, "gitlab", "x-mismatch"},
		{"gitlab wrong token", "/webhooks/gitlab/default/gl", gl, map[string]string{"X-Gitlab-Token": "guess", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "x-token"}, 401, "gitlab", "x-token"},
		{"gitlab no token", "/webhooks/gitlab/default/gl", gl, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "x-notoken"}, 401, "gitlab", "x-notoken"},
		{"no delivery id", "/webhooks/github/default/gh", body, githubHeaders("push", "", body, secret), 400, "github", ""},
		{"bad path", "/webhooks/github/default", body, githubHeaders("push", "x-path", body, secret), 404, "github", "x-path"},
		{"oversized", "/webhooks/github/default/gh", make([]byte, webhooks.MaxPayloadBytes+1), githubHeaders("push", "x-big", nil, secret), 413, "github", "x-big"},
	} {
		if code := f.deliver(tc.path, tc.body, tc.headers); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
		if _, err := f.store.GetDelivery(context.Background(), tc.forge, tc.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the delivery was stored (%v)", tc.name, err)
		}
	}
	pending, err := f.store.PendingDeliveries(context.Background(), 0, 10)
	if err != nil || len(pending) != 0 {
		t.Errorf("pending deliveries after refusals: %+v, %v", pending, err)
	}
}

// TestGitLabTagPush: a GitLab tag push with the right token publishes.
func TestGitLabTagPush(t *testing.T) {
	f := setup(t)
	f.remote.Write(gittest.Package("nginx", "2"))
	c := f.remote.Commit("nginx 2")
	f.remote.Tag("nginx/v2", c, "")
	body := bytes.Replace(payload(t, "gitlab-push.json", "refs/tags/nginx/v2", c), []byte(`"object_kind": "push"`), []byte(`"object_kind": "tag_push"`), 1)
	code := f.deliver("/webhooks/gitlab/default/gl", body, map[string]string{"Content-Type": "application/json",
		"X-Gitlab-Token": secret, "X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Event-UUID": "g-1", "User-Agent": "GitLab/17.5.0"})
	if code != http.StatusAccepted {
		t.Fatalf("delivery: %d", code)
	}
	f.waitRevision("gl.nginx.v2")
	f.waitDone(webhooks.GitLab, "g-1")
}

// TestProcessedAfterRestart: a delivery acknowledged but not processed
// when the server stopped (stored, as the receiver does before its 202) is
// processed when it starts again.
func TestProcessedAfterRestart(t *testing.T) {
	f := setup(t)
	f.stop()
	f.remote.Checkout("-q", "-b", "drafts/nginx/late")
	f.remote.Write(gittest.Package("nginx", "3"))
	c := f.remote.Commit("nginx 3")
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(f.dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	added, err := st.AddDelivery(context.Background(), &store.Delivery{Forge: webhooks.GitHub, DeliveryID: "d-late", Namespace: "default",
		Repository: "gh", Event: "push", Payload: payload(t, "github-push.json", "refs/heads/drafts/nginx/late", c), ReceivedAt: time.Now()})
	if err != nil || !added {
		t.Fatalf("store: %v %v", added, err)
	}
	st.Close()
	f.store, f.url, f.stop = startServer(t, f.dir)
	f.waitDone(webhooks.GitHub, "d-late")
	f.waitRevision("gh.nginx.late")
}

// TestConcurrentDeliveries: deliveries arriving together are stored
// together, each once; a redelivery racing its original is stored once.
func TestConcurrentDeliveries(t *testing.T) {
	f := setup(t)
	body := []byte(`{"action":"opened","issue":{"number":1,"title":"t"},"repository":{"full_name":"acme/blueprints"}}`)
	const n = 60
	codes := make(chan int, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c-%d", i%n) // every id twice
			codes <- f.deliver("/webhooks/github/default/gh", body, githubHeaders("issues", id, body, secret))
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusAccepted] != n || count[http.StatusOK] != n {
		t.Errorf("answers %v, want %d × 202 and %d × 200", count, n, n)
	}
	for i := range n {
		d := f.waitDone(webhooks.GitHub, fmt.Sprintf("c-%d", i))
		if d.Attempts != 1 {
			t.Errorf("delivery c-%d processed %d times", i, d.Attempts)
		}
	}
}
