package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

const (
	reposPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"
	revsPath  = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	resPath   = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources"
)

// harness is a real server on a random loopback port, with a SQLite index
// in a temporary directory, and tokens of every kind.
type harness struct {
	t       *testing.T
	url     string
	dataDir string
	store   *sqlstore.Store
	// tokens by name: admin (every namespace), nsadmin, writer, reader
	// (namespace default), otherreader (namespace other).
	tokens map[string]string
	stop   func()
}

func start(t *testing.T) *harness {
	t.Helper()
	return startWith(t, nil)
}

// startWith is start with the server's configuration changed by cfg.
func startWith(t *testing.T, cfg func(*server.Config)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	config := server.Config{DataDir: dir, Store: st, Log: log, ShutdownTimeout: 15 * time.Second}
	if cfg != nil {
		cfg(&config)
	}
	srv, err := server.New(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dataDir: dir, store: st, tokens: map[string]string{"admin": srv.AdminToken}}
	for _, g := range []struct {
		name, ns string
		role     store.Role
	}{
		{"nsadmin", "default", store.RoleAdmin},
		{"writer", "default", store.RoleWrite},
		{"reader", "default", store.RoleRead},
		{"otherreader", "other", store.RoleRead},
	} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, &store.Token{Name: g.name, Hash: hash, Namespace: g.ns, Role: g.role, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		h.tokens[g.name] = tok
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop within 20s")
		}
	}
	t.Cleanup(h.stop)
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// do sends a request with a token (by name; "" for none) and returns the
// status code and body.
func (h *harness) do(method, path, token string, body any) (int, []byte) {
	h.t.Helper()
	code, _, data := h.doHeader(method, path, token, body)
	return code, data
}

// doHeader is do with the answer's header.
func (h *harness) doHeader(method, path, token string, body any) (int, http.Header, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		tok, ok := h.tokens[token]
		if !ok {
			tok = token // a raw token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// get decodes a successful answer into out.
func (h *harness) get(path, token string, out any) {
	h.t.Helper()
	code, body := h.do(http.MethodGet, path, token, nil)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		h.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// sync asks for a sync of a repository and waits for it.
func (h *harness) sync(repo string) {
	h.t.Helper()
	if code, body := h.do(http.MethodPost, reposPath+"/"+repo+"/sync", "writer", nil); code != http.StatusOK {
		h.t.Fatalf("sync %s: %d %s", repo, code, body)
	}
}

// status decodes a Status answer and checks its code.
func (h *harness) status(code int, body []byte, want int) metav1.Status {
	h.t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" || st.APIVersion != "v1" {
		h.t.Fatalf("answer is not a Status (%v): %s", err, body)
	}
	if code != want || int(st.Code) != want {
		h.t.Fatalf("code %d (Status says %d), want %d: %s", code, st.Code, want, st.Message)
	}
	return st
}

// addRepo registers a git repository and waits until its first sync is
// done.
func (h *harness) addRepo(name, url string, mutate ...func(*configv1alpha1.Repository)) *configv1alpha1.Repository {
	h.t.Helper()
	r := &configv1alpha1.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "Repository"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       configv1alpha1.RepositorySpec{Git: configv1alpha1.GitSpec{URL: url}},
	}
	for _, m := range mutate {
		m(r)
	}
	code, body := h.do(http.MethodPost, reposPath, "admin", r)
	if code != http.StatusCreated {
		h.t.Fatalf("create repository: %d %s", code, body)
	}
	return h.waitReady(name)
}

// waitReady waits until a repository's Ready condition is decided.
func (h *harness) waitReady(name string) *configv1alpha1.Repository {
	h.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var r configv1alpha1.Repository
		h.get(reposPath+"/"+name, "admin", &r)
		if c := meta.FindStatusCondition(r.Status.Conditions, "Ready"); c != nil && c.Status != metav1.ConditionUnknown {
			return &r
		}
	}
	h.t.Fatalf("repository %s: not synced within 30s", name)
	return nil
}

// revisions lists revision names at a path with a query.
func (h *harness) revisions(query string) []string {
	h.t.Helper()
	var l pkgv1alpha1.PackageRevisionList
	h.get(revsPath+query, "reader", &l)
	names := make([]string, len(l.Items))
	for i, pr := range l.Items {
		names[i] = pr.Name
	}
	return names
}

// blueprints builds a catalog repository: nginx v1 and v2 published
// (tags), a redis v1, a draft and a proposal.
// goldBlueprints is blueprints with a package web whose Kptfile carries
// the label tier: gold, published as web/v1, and web's files.
func goldBlueprints(t *testing.T) (*gittest.Repo, map[string]string) {
	g := blueprints(t)
	web := gittest.Package("web", "1")
	web["web/Kptfile"] = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n  labels:\n    tier: gold\n"
	g.Write(web)
	g.Tag("web/v1", g.Commit("web 1"), "")
	return g, web
}

func blueprints(t *testing.T) *gittest.Repo {
	r := gittest.New(t)
	files := gittest.Package("nginx", "1")
	for k, v := range gittest.Package("redis", "1") {
		files[k] = v
	}
	files["README.md"] = "# blueprints\n"
	r.Write(files)
	c1 := r.Commit("nginx and redis")
	r.Tag("nginx/v1", c1, "")
	r.Tag("redis/v1", c1, "Release redis v1")
	r.Write(gittest.Package("nginx", "2"))
	c2 := r.Commit("nginx 2")
	r.Tag("nginx/v2", c2, "")
	r.Checkout("-b", "drafts/nginx/tuning")
	r.Write(gittest.Package("nginx", "3"))
	r.Commit("tuning")
	r.Checkout("main")
	r.Checkout("-b", "proposed/redis/upgrade")
	r.Write(gittest.Package("redis", "2"))
	r.Commit("upgrade redis")
	r.Checkout("main")
	return r
}

// watcher reads a watch stream line by line.
type watcher struct {
	resp   *http.Response
	events chan rawEvent
	ended  chan error
}

type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

type revisionEvent struct {
	Type   string
	Object pkgv1alpha1.PackageRevision
}

func (h *harness) watch(path string) *watcher {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.tokens["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.t.Fatalf("watch %s: %d %s", path, resp.StatusCode, body)
	}
	w := &watcher{resp: resp, events: make(chan rawEvent, 1000), ended: make(chan error, 1)}
	go func() {
		dec := json.NewDecoder(resp.Body)
		for {
			var e rawEvent
			if err := dec.Decode(&e); err != nil {
				close(w.events)
				if errors.Is(err, io.EOF) {
					err = nil
				}
				w.ended <- err
				return
			}
			w.events <- e
		}
	}()
	h.t.Cleanup(w.close)
	return w
}

func (w *watcher) nextRaw(t *testing.T) rawEvent {
	t.Helper()
	select {
	case e, ok := <-w.events:
		if !ok {
			t.Fatal("the watch ended")
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event within 30s")
	}
	return rawEvent{}
}

func (w *watcher) next(t *testing.T) revisionEvent {
	t.Helper()
	e := w.nextRaw(t)
	var pr pkgv1alpha1.PackageRevision
	if err := json.Unmarshal(e.Object, &pr); err != nil {
		t.Fatalf("event %s: %v", e.Object, err)
	}
	return revisionEvent{Type: e.Type, Object: pr}
}

func (w *watcher) close() { w.resp.Body.Close() }

// wait waits for the server to end the stream.
func (w *watcher) wait(timeout time.Duration) error {
	select {
	case err := <-w.ended:
		return err
	case <-time.After(timeout):
		return errors.New("the watch did not end")
	}
}
