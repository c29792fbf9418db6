package ui_test

import (
	"bufio"
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stream reads a page's event stream, line by line.
type stream struct {
	lines chan string
	resp  *http.Response
}

func openStream(t *testing.T, c *http.Client, u string) *stream {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("%s: %d", u, resp.StatusCode)
	}
	st := &stream{lines: make(chan string, 100), resp: resp}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(st.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			st.lines <- sc.Text()
		}
	}()
	return st
}

// next waits up to d for an event: "changed", "" if none came, "closed"
// if the stream ended.
func (st *stream) next(d time.Duration) string {
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-st.lines:
			if !ok {
				return "closed"
			}
			if ev, found := strings.CutPrefix(l, "event: "); found {
				return ev
			}
		case <-deadline:
			return ""
		}
	}
}

// eventsURL is the stream a page of the UI listens to.
func eventsURL(t *testing.T, c *http.Client, s *site, page string) string {
	t.Helper()
	resp, err := c.Get(s.url + page)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	resp.Body.Close()
	ev := html.UnescapeString(between(string(b[:n]), `data-events="`, `"`))
	if ev == "" {
		t.Fatalf("%s has no stream of changes:\n%s", page, b[:n])
	}
	return s.url + ev
}

func (s *site) newDraft(repo, pkg string) {
	s.t.Helper()
	draft := map[string]any{"spec": map[string]any{"repository": repo, "packageName": pkg, "workspaceName": "one",
		"tasks": []any{map[string]any{"type": "init", "init": map[string]any{"description": pkg}}}}}
	if code, body := s.api(s.writer, http.MethodPost, "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions", draft); code != http.StatusCreated {
		s.t.Fatalf("create a draft of %s in %s: %d %s", pkg, repo, code, body)
	}
}

// TestEvents: a page's stream tells the changes of what the page shows
// and no others; a change made before the stream opened is told at once;
// signing out ends it; a token may not listen where it may not read.
func TestEvents(t *testing.T) {
	s := startSite(t)
	c, csrf := signInHTTP(t, s, s.reader)
	before := eventsURL(t, c, s, "/ui/repositories/default/blueprints")
	st := openStream(t, c, before)
	s.newDraft("deployments", "other")
	if ev := st.next(2 * time.Second); ev != "" {
		t.Errorf("blueprints' page was told %q of a change in deployments", ev)
	}
	s.newDraft("blueprints", "mine")
	if ev := st.next(5 * time.Second); ev != "changed" {
		t.Fatalf("blueprints' page was not told of its new draft: %q", ev)
	}
	// A page rendered before the change, whose stream opens after it.
	late := openStream(t, c, before)
	if ev := late.next(2 * time.Second); ev != "changed" {
		t.Errorf("a stream opened after a change its page missed: %q", ev)
	}
	// A revision's page hears of its revision only.
	rev := openStream(t, c, eventsURL(t, c, s, "/ui/revisions/default/blueprints.nginx.third"))
	s.newDraft("blueprints", "more")
	if ev := rev.next(2 * time.Second); ev != "" {
		t.Errorf("nginx third's page was told %q of another package's draft", ev)
	}
	u, _ := url.Parse(before)
	q := u.Query()
	q.Set("ns", "other")
	u.RawQuery = q.Encode()
	if resp, err := c.Get(u.String()); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a reader of default listening to namespace other: %v %v", resp, err)
	}
	// Signing out ends the session's streams at their next event.
	for st.next(1500*time.Millisecond) == "changed" {
	}
	if resp, err := c.PostForm(s.url+"/ui/signout", url.Values{"csrf": {csrf}}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign out: %v %v", resp, err)
	}
	s.newDraft("blueprints", "after")
	if ev := st.next(5 * time.Second); ev != "closed" {
		t.Errorf("a signed-out session's stream, after a change: %q", ev)
	}
}

// TestLiveRevisionPage: a revision's page is not swapped when its revision
// changes (its buttons act on the version it shows): it says so, and the
// focus stays where it was.
func TestLiveRevisionPage(t *testing.T) {
	s := startSite(t)
	s.draftWithFinding()
	ctx := browser(t)
	err := chromedp.Do(ctx, signIn(s, s.writer),
		chromedp.Navigate(s.url+"/ui/revisions/default/blueprints.notes.one"),
		chromedp.WaitVisible(chromedp.CSS(`button[value="propose"]`)),
		chromedp.Focus(chromedp.CSS(`button[value="propose"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	s.writeNotes("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  a: changed\n")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.ID("changed"))); err != nil {
		t.Fatalf("the page did not say its revision changed within 10 s: %v", err)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.value || document.activeElement.tagName`))
	if err != nil || focused != "propose" {
		t.Errorf("the focus moved to %q (%v)", focused, err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.textContent.includes("a: b")`))
	if err != nil || !shown {
		t.Errorf("the page's content was swapped for the new version (%v)", err)
	}
}
