package abuse

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// watchEvent is one line of a watch.
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// TestWatchEndsOnRevocation opens a watch with a read token, revokes the
// token with `pkgserver token revoke` (the data directory, not the API),
// and sees the watch end with an ERROR event (401) and the stream close;
// the admin's watch and requests are still served.
func TestWatchEndsOnRevocation(t *testing.T) {
	s := startServer(t)
	s.Hosted(t, "blueprints")
	token := strings.TrimSpace(s.Must(t, "", "pkgserver", "token", "create", "watcher", "--role", "read"))
	path := "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories?watch=true"

	open := func(token string) *bufio.Scanner {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTP+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: %s", resp.Status)
		}
		return bufio.NewScanner(resp.Body)
	}
	watch := open(token)
	admin := open(s.Token)
	if !watch.Scan() || !strings.Contains(watch.Text(), `"type":"ADDED"`) {
		t.Fatalf("first event: %q %v", watch.Text(), watch.Err())
	}
	s.Must(t, "", "pkgserver", "token", "revoke", "watcher")

	ended := make(chan string, 1)
	go func() {
		var last string
		for watch.Scan() {
			last = watch.Text()
		}
		ended <- last
	}()
	select {
	case last := <-ended:
		var e watchEvent
		var st struct {
			Code   int
			Reason string
		}
		if json.Unmarshal([]byte(last), &e) != nil || json.Unmarshal(e.Object, &st) != nil ||
			e.Type != "ERROR" || st.Code != http.StatusUnauthorized || st.Reason != "Unauthorized" {
			t.Errorf("the watch ended with %s, want an ERROR event of 401", last)
		}
	case <-time.After(time.Minute):
		t.Fatal("the watch of a revoked token is still open after a minute")
	}
	if code, body := s.DoAs(t, token, "GET", path, nil); code != http.StatusUnauthorized {
		t.Errorf("watch again with the revoked token: %d %s", code, body)
	}

	// The admin's watch goes on: it sees a new repository.
	s.Hosted(t, "second")
	for admin.Scan() {
		if strings.Contains(admin.Text(), `"name":"second"`) {
			return
		}
	}
	t.Errorf("the admin's watch ended: %v", admin.Err())
}

// TestWatchFutureResourceVersion asks for a watch from a resource version
// the server has not reached: it is answered at once with kube-apiserver's
// 504 "Too large resource version" (reason Timeout, cause
// ResourceVersionTooLarge), never a 200 and then nothing.
func TestWatchFutureResourceVersion(t *testing.T) {
	s := startServer(t)
	s.Hosted(t, "blueprints")
	code, body := s.Do(t, "GET", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories", nil)
	var list struct {
		Metadata struct{ ResourceVersion string }
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	rv, err := strconv.Atoi(list.Metadata.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	future := strconv.Itoa(rv + 1000)
	for _, p := range []string{
		"/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories?watch=true&resourceVersion=" + future,
		"/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions?watch=true&allowWatchBookmarks=true&resourceVersion=" + future,
		"/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=" + future,
	} {
		code, body := s.Do(t, "GET", p, nil)
		var st struct {
			Reason  string
			Details struct{ Causes []struct{ Reason string } }
		}
		if code != http.StatusGatewayTimeout || json.Unmarshal(body, &st) != nil || st.Reason != "Timeout" ||
			len(st.Details.Causes) != 1 || st.Details.Causes[0].Reason != "ResourceVersionTooLarge" {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	// Others are still served.
	if code, body := s.Do(t, "GET", "/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions", nil); code != http.StatusOK {
		t.Errorf("list revisions: %d %s", code, body)
	}
}
