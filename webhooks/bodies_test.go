package webhooks_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/webhooks"
)

// rawRequest writes a POST's headers, announcing contentLength bytes, and
// the first bytes of its body, sent, on a raw connection, and returns it to
// read the answer from.
func rawRequest(t *testing.T, addr, path string, headers map[string]string, contentLength int, sent []byte) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", path, addr, contentLength)
	for k, v := range headers {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	req.Write(sent)
	if _, err := c.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// rawAnswer is a raw request's answer: its status and message, the path
// in the message replaced by NS/NAME (the only part that may differ
// between repositories), or an error if none came within wait.
type rawAnswer struct {
	code    int
	message string
}

func readAnswer(c net.Conn, path string, wait time.Duration) (rawAnswer, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return rawAnswer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m struct{ Message string }
	if err := json.Unmarshal(data, &m); err != nil {
		return rawAnswer{}, fmt.Errorf("%s: %w", data, err)
	}
	_, repo, _ := strings.Cut(strings.TrimPrefix(path, "/webhooks/"), "/")
	return rawAnswer{resp.StatusCode, strings.ReplaceAll(m.Message, repo, "NS/NAME")}, nil
}

// TestFirstDeliveryWithoutBody: the first delivery a server receives ends
// before any byte of its body arrived; it is answered, and the next one
// is accepted.
func TestFirstDeliveryWithoutBody(t *testing.T) {
	f := setup(t)
	addr := strings.TrimPrefix(f.url, "http://")
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	const path = "/webhooks/github/default/gh"
	c := rawRequest(t, addr, path, githubHeaders("push", "cut", body, secret), 100, nil)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := readAnswer(c, path, 20*time.Second)
	if err != nil {
		t.Fatalf("a delivery whose body never came: no answer: %v", err)
	}
	if got.code != http.StatusBadRequest {
		t.Errorf("a delivery whose body never came: %+v, want 400", got)
	}
	if code := f.deliver(path, body, githubHeaders("push", "next", body, secret)); code != http.StatusAccepted {
		t.Errorf("the next delivery: %d, want 202", code)
	}
}

// TestBodiesCannotProbeNames: a body announced over the limit, and a body
// that never comes, are answered alike for a known repository and for
// names that are unknown, of the other forge or not names at all: 413 at
// once, and 408 once the body's deadline passed.
func TestBodiesCannotProbeNames(t *testing.T) {
	f := setup(t)
	addr := strings.TrimPrefix(f.url, "http://")
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	forged := githubHeaders("push", "probe", body, "guess")
	glHeaders := map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "probe", "X-Gitlab-Token": "guess"}
	type target struct {
		name, path string
		headers    map[string]string
	}
	targets := []target{
		{"github, known, forged", "/webhooks/github/default/gh", forged},
		{"github, unknown", "/webhooks/github/default/nope", forged},
		{"github, not a name", "/webhooks/github/default/No_Such", forged},
		{"github, a gitlab repository", "/webhooks/github/default/gl", forged},
		{"gitlab, known, wrong token", "/webhooks/gitlab/default/gl", glHeaders},
		{"gitlab, unknown", "/webhooks/gitlab/default/nope", glHeaders},
		{"gitlab, a github repository", "/webhooks/gitlab/default/gh", glHeaders},
	}
	for _, tc := range []struct {
		what          string
		contentLength int
		want          int
	}{
		{"announced over the limit", 25<<20 + 1, http.StatusRequestEntityTooLarge},
		{"withheld", 100, http.StatusRequestTimeout},
	} {
		t.Run(tc.what, func(t *testing.T) {
			answers := make([]rawAnswer, len(targets))
			var wg sync.WaitGroup
			for i, tg := range targets {
				c := rawRequest(t, addr, tg.path, tg.headers, tc.contentLength, nil)
				wg.Go(func() {
					got, err := readAnswer(c, tg.path, 40*time.Second)
					if err != nil {
						t.Errorf("%s: no answer: %v", tg.name, err)
					}
					answers[i] = got
				})
			}
			wg.Wait()
			if answers[0].code != tc.want {
				t.Errorf("%s: %+v, want %d", targets[0].name, answers[0], tc.want)
			}
			for i, tg := range targets[1:] {
				if answers[i+1] != answers[0] {
					t.Errorf("%s answers %+v, %s answers %+v", tg.name, answers[i+1], targets[0].name, answers[0])
				}
			}
		})
	}
}

// TestManySlowBodies: far more forged deliveries than a repository reads
// at once each send a couple of bytes of their bodies and stall. Those
// beyond the bodies read at once are told to come again as others take
// their place; a correctly signed delivery to the repository is accepted
// among those still read, and these are cut off by the body's deadline.
func TestManySlowBodies(t *testing.T) {
	f := setup(t)
	addr := strings.TrimPrefix(f.url, "http://")
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	const path = "/webhooks/github/default/gh"
	codes := make([]int, 850)
	var busy atomic.Int64
	var wg sync.WaitGroup
	for i := range codes {
		c := rawRequest(t, addr, path, githubHeaders("push", fmt.Sprintf("slow-%d", i), body, "not the secret"), len(body), body[:2])
		wg.Go(func() {
			got, err := readAnswer(c, path, 30*time.Second)
			if err != nil {
				t.Errorf("slow delivery %d: no answer: %v", i, err)
			}
			if codes[i] = got.code; got.code == http.StatusServiceUnavailable {
				busy.Add(1)
			}
		})
	}
	// All of them reached the server's reading once all but the bodies
	// read at once were told to come again.
	want := int64(len(codes) - webhooks.MaxRepositoryBodies)
	for deadline := time.Now().Add(20 * time.Second); busy.Load() < want && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	if got := busy.Load(); got < want {
		t.Fatalf("%d of %d slow deliveries told to come again, want at least %d", got, len(codes), want)
	}
	if code := f.deliver(path, body, githubHeaders("push", "genuine", body, secret)); code != http.StatusAccepted {
		t.Fatalf("a correctly signed delivery among %d slow ones: %d, want 202", len(codes), code)
	}
	f.waitDone("github", "genuine")
	wg.Wait()
	answered := map[int]int{}
	for _, code := range codes {
		answered[code]++
	}
	if answered[http.StatusServiceUnavailable]+answered[http.StatusRequestTimeout] != len(codes) {
		t.Errorf("the slow deliveries were answered %v, want only 503 and 408", answered)
	}
}

// TestSlowLinkDelivery: a correctly signed delivery whose body arrives
// steadily but slowly, over longer than the time a body may go without
// a byte, is accepted.
func TestSlowLinkDelivery(t *testing.T) {
	f := setup(t)
	addr := strings.TrimPrefix(f.url, "http://")
	body := payload(t, "github-push.json", "refs/heads/main", f.remote.Rev("main"))
	// Trailing white space keeps the payload JSON.
	body = append(body, bytes.Repeat([]byte(" "), 1<<20)...)
	const path = "/webhooks/github/default/gh"
	const parts = 8
	step := len(body)/parts + 1
	c := rawRequest(t, addr, path, githubHeaders("push", "slow-link", body, secret), len(body), body[:step])
	for off := step; off < len(body); off += step {
		time.Sleep(900 * time.Millisecond)
		if _, err := c.Write(body[off:min(off+step, len(body))]); err != nil {
			t.Fatalf("after %d bytes: %v", off, err)
		}
	}
	got, err := readAnswer(c, path, 20*time.Second)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if got.code != http.StatusAccepted {
		t.Errorf("a delivery over %d × 0.9 s: %+v, want 202", parts-1, got)
	}
}
