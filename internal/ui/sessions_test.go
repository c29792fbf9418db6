package ui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestSignIn: sign-in takes a valid token and the form's nonce; the
// session cookie is HttpOnly, SameSite=Strict and limited to the UI;
// signing out ends the session on the server; scripts may use a bearer
// token instead; the page after sign-in is never another site.
func TestSignIn(t *testing.T) {
	s := startSite(t)
	noRedirect := func(c *http.Client) *http.Client {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return c
	}
	jar, _ := cookiejar.New(nil)
	c := noRedirect(&http.Client{Jar: jar})
	get := func(path string) (*http.Response, string) {
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		resp, err := c.PostForm(s.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, _ := get("/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("the root: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/ui/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin?next=%2Fui%2F" {
		t.Errorf("the UI without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := get("/ui/signin")
	nonce := between(page, `name="nonce" value="`, `"`)
	if resp, _ := post("/ui/signin", url.Values{"token": {s.writer}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's nonce: %d", resp.StatusCode)
	}
	if resp, body := post("/ui/signin", url.Values{"token": {"pks_not-a-token"}, "nonce": {nonce}}); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "not a valid API token") || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in with a wrong token: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ := post("/ui/signin", url.Values{"token": {s.writer}, "nonce": {nonce}, "next": {"https://evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("sign-in asked to go to another site: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "pkgserver_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui/" || session.MaxAge != 12*3600 || session.Secure {
		t.Fatalf("the session cookie: %+v", session)
	}
	resp, page = get("/ui/")
	csrf := between(page, `name="csrf" value="`, `"`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "blueprints") || csrf == "" {
		t.Fatalf("the repositories page signed in: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := post("/ui/signout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without the CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := post("/ui/signout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d", resp.StatusCode)
	}
	// The old cookie, replayed, no longer signs anyone in.
	replay := noRedirect(&http.Client{})
	req, _ := http.NewRequest(http.MethodGet, s.url+"/ui/", nil)
	req.AddCookie(&http.Cookie{Name: "pkgserver_session", Value: session.Value})
	if resp, err := replay.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a signed-out session's cookie: %v %v", resp, err)
	}

	for _, tc := range []struct {
		header string
		want   int
	}{{"Bearer " + s.reader, http.StatusOK}, {"Bearer pks_wrong", http.StatusUnauthorized}, {"Basic abc", http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/ui/repositories/default/blueprints", nil)
		req.Header.Set("Authorization", tc.header)
		resp, err := replay.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("a script with %q: %d, want %d", tc.header, resp.StatusCode, tc.want)
		}
	}
}

// TestRevisionPage: a revision's page shows its files highlighted, the
// findings of its validation at their file and line, and, for a clone, its
// upstream with a link to the upstream revision and to the changes against
// it.
func TestRevisionPage(t *testing.T) {
	s := startSite(t)
	c, _ := signInHTTP(t, s, s.reader)
	get := func(path string) string {
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	s.draftWithFinding()
	page := get("/ui/revisions/default/blueprints.notes.one")
	for _, want := range []string{
		`<span class="y-key">apiVersion</span>: v1`,
		`<span class="line has-finding" id="config.yaml:6">`,
		`<span class="sev">warning</span>`,
		`0 errors, 1 warnings`,
		`<a href="#config.yaml:6">config.yaml:6</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the draft's page lacks %s:\n%s", want, between(page, `<section aria-labelledby="files">`, "</section>"))
		}
	}
	page = get("/ui/revisions/default/deployments.my-nginx.v1")
	for _, want := range []string{
		`<a href="/ui/revisions/default/blueprints.nginx.v1">blueprints.nginx.v1</a>`,
		`href="/ui/revisions/default/deployments.my-nginx.v1/diff?against=blueprints.nginx.v1"`,
		`<code>nginx</code> at <code>nginx/v1</code>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("my-nginx v1's page lacks %s:\n%s", want, between(page, `<h3>Upstream</h3>`, "</dl>"))
		}
	}
}

// TestCompression: pages and assets go gzip-compressed to clients that
// take it; assets carry an ETag and answer 304 to it.
func TestCompression(t *testing.T) {
	s := startSite(t)
	tr := &http.Transport{DisableCompression: true}
	c := &http.Client{Transport: tr}
	for _, path := range []string{"/ui/repositories/default/blueprints", "/ui/assets/htmx.min.js"} {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.reader)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
			t.Errorf("%s with gzip: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/ui/assets/ui.css", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" || etag == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("ui.css without gzip: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("If-None-Match", etag)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("ui.css with its ETag: %v %v", resp, err)
	}
}

// draftWithFinding writes the draft blueprints.notes.one through the API,
// with a legacy annotation: its validation warns at config.yaml:6.
func (s *site) draftWithFinding() {
	t := s.t
	t.Helper()
	const revs = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	draft := map[string]any{"spec": map[string]any{"repository": "blueprints", "packageName": "notes", "workspaceName": "one",
		"tasks": []any{map[string]any{"type": "init", "init": map[string]any{"description": "notes"}}}}}
	if code, body := s.api(s.writer, http.MethodPost, revs, draft); code != http.StatusCreated {
		t.Fatalf("create a draft: %d %s", code, body)
	}
	s.writeNotes("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n  annotations:\n    config.kubernetes.io/path: config.yaml\ndata:\n  a: b\n")
}

// writeNotes writes the config.yaml of the draft blueprints.notes.one
// through the API.
func (s *site) writeNotes(config string) {
	t := s.t
	t.Helper()
	var res map[string]any
	code, body := s.api(s.writer, http.MethodGet, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources/blueprints.notes.one", nil)
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil {
		t.Fatalf("the draft's resources: %d %s", code, body)
	}
	res["spec"].(map[string]any)["resources"].(map[string]any)["config.yaml"] = config
	if code, body := s.api(s.writer, http.MethodPut, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources/blueprints.notes.one", res); code != http.StatusOK {
		t.Fatalf("update the draft: %d %s", code, body)
	}
}

// TestConfirmDelete: a destructive action asks on a page of its own, which
// works without JavaScript; the action is the form posted from it.
func TestConfirmDelete(t *testing.T) {
	s := startSite(t)
	s.draftWithFinding()
	c, _ := signInHTTP(t, s, s.writer)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string) (int, string) {
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	_, page := get("/ui/revisions/default/blueprints.notes.one")
	if !strings.Contains(page, `<form method="get" action="/ui/revisions/default/blueprints.notes.one/confirm/delete">`) {
		t.Fatalf("the draft's Delete is not a link to its confirmation:\n%s", between(page, `<div class="actions"`, "</div>"))
	}
	rv := between(page, `name="resourceVersion" value="`, `"`)
	code, page := get("/ui/revisions/default/blueprints.notes.one/confirm/delete?resourceVersion=" + rv)
	csrf := between(page, `name="csrf" value="`, `"`)
	if code != http.StatusOK || !strings.Contains(page, "Its branch is deleted from git") || csrf == "" {
		t.Fatalf("the confirmation: %d\n%s", code, page)
	}
	if code, _ := get("/ui/revisions/default/blueprints.notes.one/confirm/approve"); code != http.StatusConflict {
		t.Errorf("a confirmation of an action the draft does not have: %d", code)
	}
	if _, page := get("/ui/revisions/default/blueprints.notes.one/confirm/delete"); between(page, `name="resourceVersion" value="`, `"`) != rv {
		t.Errorf("a confirmation asked for without the page's version does not act on the revision as it shows it:\n%s", page)
	}
	reader, _ := signInHTTP(t, s, s.reader)
	if resp, err := reader.Get(s.url + "/ui/revisions/default/blueprints.notes.one/confirm/delete"); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a reader's confirmation page: %v %v", resp, err)
	}
	// The draft changes after the page was shown: the delete is refused.
	s.writeNotes("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  a: changed\n")
	resp, err := c.PostForm(s.url+"/ui/revisions/default/blueprints.notes.one/delete",
		url.Values{"csrf": {csrf}, "resourceVersion": {rv}, "repository": {"blueprints"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || s.lifecycle("blueprints.notes.one") != "Draft" {
		t.Fatalf("a delete of a draft changed since its page: %d, the draft %q", resp.StatusCode, s.lifecycle("blueprints.notes.one"))
	}
	_, page = get("/ui/revisions/default/blueprints.notes.one")
	rv = between(page, `name="resourceVersion" value="`, `"`)
	resp, err = c.PostForm(s.url+"/ui/revisions/default/blueprints.notes.one/delete",
		url.Values{"csrf": {csrf}, "resourceVersion": {rv}, "repository": {"blueprints"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/repositories/default/blueprints" {
		t.Errorf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if l := s.lifecycle("blueprints.notes.one"); l != "" {
		t.Errorf("the draft after its deletion: %s", l)
	}
}
