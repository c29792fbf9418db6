package webhooks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowDelivery posts body to path on a raw connection: headers and the
// body's first sent bytes at once, then the rest one byte every interval
// until ctx ends. It returns the connection for its answer, and a channel
// closed once the first bytes are written.
func slowDelivery(ctx context.Context, t *testing.T, wg *sync.WaitGroup, addr, path string, body []byte, headers map[string]string, sent int, interval time.Duration) (net.Conn, <-chan struct{}) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", path, addr, len(body))
	for k, v := range headers {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	if _, err := c.Write(head.Bytes()); err != nil {
		t.Fatal(err)
	}
	written := make(chan struct{})
	wg.Go(func() {
		_, err := c.Write(body[:sent])
		close(written)
		if err != nil {
			return
		}
		for i := sent; i < len(body); i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			if _, err := c.Write(body[i : i+1]); err != nil {
				return
			}
		}
	})
	return c, written
}

// TestSlowForgedBodies: 40 deliveries with a well-formed but forged
// signature send their bodies a byte at a time. A correctly signed
// delivery to the same repository is accepted meanwhile, and the slow ones
// are cut off by the body's deadline.
func TestSlowForgedBodies(t *testing.T) {
	f := setup(t)
	addr := strings.TrimPrefix(f.url, "http://")
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var slow []net.Conn
	for i := range 40 {
		c, _ := slowDelivery(ctx, t, &wg, addr, "/webhooks/github/default/gh", body,
			githubHeaders("push", fmt.Sprintf("forged-%d", i), body, "not the secret"), 0, 100*time.Millisecond)
		defer c.Close()
		slow = append(slow, c)
	}
	time.Sleep(300 * time.Millisecond) // the slow ones are being read
	if code := f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", "genuine", body, secret)); code != http.StatusAccepted {
		t.Fatalf("a correctly signed delivery during the slow ones: %d, want 202", code)
	}
	f.waitDone("github", "genuine")
	// The slow ones are answered, not left to hold a connection: each
	// within the body's deadline, bounded here by a generous one.
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow delivery %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("slow delivery %d: %s, want 408", i, resp.Status)
		}
	}
}

// TestBodiesOverBudget: bodies that did arrive and wait for their last
// byte fill a repository's budget; a delivery to it is told to come again
// (503, Retry-After), and one to another repository is accepted. An
// unknown repository's name has a budget of its own, filled and refused
// alike.
func TestBodiesOverBudget(t *testing.T) {
	f := setup(t)
	addr := strings.TrimPrefix(f.url, "http://")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	// Two bodies of 25 MiB per name of which all but the last 100 bytes
	// are sent at once: 50 MiB held, a repository's budget.
	big := bytes.Repeat([]byte("x"), 25<<20)
	for _, name := range []string{"gh", "nope"} {
		for i := range 2 {
			c, written := slowDelivery(ctx, t, &wg, addr, "/webhooks/github/default/"+name, big,
				githubHeaders("push", fmt.Sprintf("big-%s-%d", name, i), big, "not the secret"), len(big)-100, time.Second)
			defer c.Close()
			<-written
		}
	}
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	// The server reads what the sockets hold at its own pace: deliveries
	// are tried until one is refused.
	n := 0
	refused := func(path string, headers func(id string) map[string]string) bool {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			n++
			if code := f.deliver(path, body, headers(fmt.Sprintf("try-%d", n))); code == http.StatusServiceUnavailable {
				return true
			}
		}
		return false
	}
	if !refused("/webhooks/github/default/gh", func(id string) map[string]string { return githubHeaders("push", id, body, secret) }) {
		t.Errorf("a delivery to a repository whose budget is held was never refused with 503")
	}
	if !refused("/webhooks/github/default/nope", func(id string) map[string]string { return githubHeaders("push", id, body, "guess") }) {
		t.Errorf("a delivery to an unknown name whose budget is held was never refused with 503")
	}
	gl := payload(t, "gitlab-push.json", "refs/heads/main", f.remote.Rev("main"))
	if code := f.deliver("/webhooks/gitlab/default/gl", gl, map[string]string{"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook",
		"X-Gitlab-Event-UUID": "other-repo"}); code != http.StatusAccepted {
		t.Errorf("a delivery to another repository: %d, want 202", code)
	}
	// The big bodies are cut off at their deadline; their bytes are
	// given back.
	var code int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code = f.deliver("/webhooks/github/default/gh", body, githubHeaders("push", "waits", body, secret)); code == http.StatusAccepted {
			break
		}
	}
	if code != http.StatusAccepted {
		t.Errorf("a delivery once the big bodies were cut off: %d, want 202", code)
	}
}

// TestRepositoryNamesCannotBeProbed: without the secret, an unknown
// repository, one of the other forge and a known one answer alike: the
// same status and the same message but for the path. A correctly signed
// delivery to an unknown repository gets that message too, which says
// where to look.
func TestRepositoryNamesCannotBeProbed(t *testing.T) {
	f := setup(t)
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	gl := payload(t, "gitlab-push.json", "refs/heads/main", f.remote.Rev("main"))
	glHeaders := func(token string) map[string]string {
		h := map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "probe"}
		if token != "" {
			h["X-Gitlab-Token"] = token
		}
		return h
	}
	unsigned := githubHeaders("push", "probe", body, secret)
	delete(unsigned, "X-Hub-Signature-256")
	type answer struct {
		code    int
		message string
	}
	post := func(path string, body []byte, headers map[string]string) answer {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.url+path, bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Message string }
		data, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, data)
		}
		// The path is the only part that differs.
		_, repo, _ := strings.Cut(strings.TrimPrefix(path, "/webhooks/"), "/")
		return answer{resp.StatusCode, strings.ReplaceAll(m.Message, repo, "NS/NAME")}
	}
	for _, group := range [][]struct {
		name, path string
		body       []byte
		headers    map[string]string
	}{
		{
			{"github, unknown, forged", "/webhooks/github/default/nope", body, githubHeaders("push", "probe", body, "guess")},
			{"github, unknown, correctly signed", "/webhooks/github/default/nope", body, githubHeaders("push", "probe", body, secret)},
			{"github, not a name", "/webhooks/github/default/No_Such", body, githubHeaders("push", "probe", body, "guess")},
			{"github, a gitlab repository", "/webhooks/github/default/gl", body, githubHeaders("push", "probe", body, "guess")},
			{"github, known, forged", "/webhooks/github/default/gh", body, githubHeaders("push", "probe", body, "guess")},
		},
		{
			{"github unsigned, unknown", "/webhooks/github/default/nope", body, unsigned},
			{"github unsigned, known", "/webhooks/github/default/gh", body, unsigned},
		},
		{
			{"gitlab, unknown, no token", "/webhooks/gitlab/default/nope", gl, glHeaders("")},
			{"gitlab, unknown, a token", "/webhooks/gitlab/default/nope", gl, glHeaders("guess")},
			{"gitlab, a github repository", "/webhooks/gitlab/default/gh", gl, glHeaders("guess")},
			{"gitlab, known, no token", "/webhooks/gitlab/default/gl", gl, glHeaders("")},
			{"gitlab, known, wrong token", "/webhooks/gitlab/default/gl", gl, glHeaders("guess")},
		},
	} {
		first := post(group[0].path, group[0].body, group[0].headers)
		if first.code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", group[0].name, first.code)
		}
		for _, tc := range group[1:] {
			if got := post(tc.path, tc.body, tc.headers); got != first {
				t.Errorf("%s answers %+v, %s answers %+v", tc.name, got, group[0].name, first)
			}
		}
	}
	got := post("/webhooks/github/default/nope", body, githubHeaders("push", "probe", body, secret))
	if !strings.Contains(got.message, "no github repository NS/NAME registered here") {
		t.Errorf("a signed delivery to an unknown repository is told %q", got.message)
	}
}
