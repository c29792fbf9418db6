package gitserver_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/store"
)

// TestSSHPerUser: one read-only user starts upload-packs that wait for
// their client, as many as one user may run; another is refused with a
// line saying why, on the same connection or another; a connection beyond
// the user's share is refused its commands with a line saying why. Another
// user still clones meanwhile.
func TestSSHPerUser(t *testing.T) {
	h := startHost(t, options{
		limits: gitserver.Limits{IdleSeconds: 60},
		ssh:    gitserver.SSHConfig{PerUser: 2, SessionsPerConnection: 4},
	})
	greedy := h.addUser("greedy", "default", store.RoleRead)
	other := h.addUser("other", "default", store.RoleRead)
	h.hosted("catalog")

	dial := func(u *user) (*gossh.Client, error) {
		return gossh.Dial("tcp", h.sshAddr, &gossh.ClientConfig{User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(u.signer)},
			HostKeyCallback: gossh.FixedHostKey(h.hostKey), Timeout: 10 * time.Second})
	}
	// start starts an upload-pack on c that waits for its client, and
	// returns its standard error and whether it runs (the ref
	// advertisement arrived) or ended.
	start := func(c *gossh.Client) (*bytes.Buffer, *gossh.Session, bool) {
		t.Helper()
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sess.Close() })
		var stderr bytes.Buffer
		sess.Stderr = &stderr
		stdout, _ := sess.StdoutPipe()
		if _, err := sess.StdinPipe(); err != nil { // kept open: git waits
			t.Fatal(err)
		}
		if err := sess.Start("git-upload-pack '/default/catalog.git'"); err != nil {
			t.Fatal(err)
		}
		_, err = stdout.Read(make([]byte, 4))
		return &stderr, sess, err == nil
	}

	first, err := dial(greedy)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for i := range 2 {
		if stderr, _, ok := start(first); !ok {
			t.Fatalf("upload-pack %d of the user's share: %s", i, stderr)
		}
	}
	want := "user greedy has 2 git commands running, the most one user may have at once"
	stderr, sess, ok := start(first)
	if ok {
		t.Fatal("a third upload-pack of the user ran on its connection")
	}
	if err := sess.Wait(); err == nil || !strings.Contains(stderr.String(), want) {
		t.Errorf("the third upload-pack on one connection: %v %q", err, stderr.String())
	}
	second, err := dial(greedy)
	if err != nil {
		t.Fatalf("the user's second connection, within its share: %v", err)
	}
	defer second.Close()
	stderr, sess, ok = start(second)
	if ok {
		t.Fatal("a third upload-pack of the user ran on another connection")
	}
	if err := sess.Wait(); err == nil || !strings.Contains(stderr.String(), want) {
		t.Errorf("the third upload-pack on a second connection: %v %q", err, stderr.String())
	}
	// A third connection of the user is told, at its first command, that
	// it is beyond the user's share.
	third, err := dial(greedy)
	if err != nil {
		t.Fatalf("a connection beyond the user's share was not told why: %v", err)
	}
	defer third.Close()
	stderr, sess, ok = start(third)
	if ok {
		t.Fatal("an upload-pack ran on a connection beyond the user's share")
	}
	if err := sess.Wait(); err == nil || !strings.Contains(stderr.String(), "user greedy holds 2 SSH connections, the most one user may have at once") {
		t.Errorf("a command on a connection beyond the user's share: %v %q", err, stderr.String())
	}
	if !strings.Contains(h.logs.String(), "user holds all the connections one user may") {
		t.Error("the refused connection was not logged")
	}

	// Another user is served meanwhile.
	h.mustGit(other, t.TempDir(), "clone", "-q", h.sshURL("catalog"), "w")
}

// TestHTTPRequestsPerTokenConfigured: the per-token limit of smart HTTP is
// the configured one: a token's requests beyond it are answered 429 saying
// so, while those within it run.
func TestHTTPRequestsPerTokenConfigured(t *testing.T) {
	h := startHost(t, options{limits: gitserver.Limits{IdleSeconds: 60, HTTPRequestsPerToken: 2}})
	h.hosted("catalog")
	tok := h.token("fleet", "default", store.RoleRead)
	auth := base64.StdEncoding.EncodeToString([]byte("git:" + tok))
	slow := func() net.Conn {
		c, err := net.Dial("tcp", h.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /git/default/catalog.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"+
			"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n0032want ", auth)
		return c
	}
	// Of three requests, whichever two take the slots first wait for
	// their body; the third is answered 429 at once.
	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	conns := []net.Conn{slow(), slow(), slow()}
	answers := make(chan answer, len(conns))
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			answers <- answer{resp: resp, body: string(body)}
		}()
	}
	a := <-answers
	if a.err != nil {
		t.Fatalf("no request was refused: %v", a.err)
	}
	if a.resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(a.body, "2 git requests under way") {
		t.Errorf("beyond the limit: %s %q", a.resp.Status, a.body)
	}
	// The other two are still waiting for their body: no answer until
	// they are cut off here.
	time.Sleep(200 * time.Millisecond)
	for _, c := range conns {
		c.SetReadDeadline(time.Now())
	}
	for range 2 {
		if a := <-answers; a.err == nil {
			t.Errorf("a request within the limit answered %s %q", a.resp.Status, a.body)
		}
	}
}
