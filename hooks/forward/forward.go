// Package forward is the hook process of a hosted repository: it reads
// git's ref updates and quarantine environment, sends them to the running
// server and prints the server's answer on the pusher's terminal. It speaks
// HTTP/1.0 over a plain TCP connection rather than linking net/http, whose
// initialization alone costs milliseconds in a process git starts twice
// for every push.
package forward

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/revision"
)

// Environment the server gives receive-pack, and through it the hooks.
const (
	EnvURL   = "PKGSERVER_HOOK_URL"
	EnvToken = "PKGSERVER_HOOK_TOKEN"
)

// Quarantine is where the objects of a push not yet accepted are.
type Quarantine struct {
	ObjectDirectory            string `json:"objectDirectory,omitempty"`
	AlternateObjectDirectories string `json:"alternateObjectDirectories,omitempty"`
	QuarantinePath             string `json:"quarantinePath,omitempty"`
}

// Request is what a hook sends to the server.
type Request struct {
	Updates    []revision.RefUpdate `json:"updates"`
	Quarantine Quarantine           `json:"quarantine"`
}

// Response is the server's answer: whether the push may go on, and lines
// for the pusher.
type Response struct {
	Accept   bool     `json:"accept"`
	Messages []string `json:"messages,omitempty"`
}

// Limits of what a hook reads and waits for.
const (
	MaxUpdates = 10000
	// Timeout bounds the wait for the server's answer: validation of the
	// push, or its indexing.
	Timeout = 5 * time.Minute
)

// ReadUpdates reads git's "<old> <new> <ref>" lines.
func ReadUpdates(r io.Reader) ([]revision.RefUpdate, error) {
	var updates []revision.RefUpdate
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected hook input %q", sc.Text())
		}
		if len(updates) == MaxUpdates {
			return nil, fmt.Errorf("more than %d ref updates in one push", MaxUpdates)
		}
		updates = append(updates, revision.RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	return updates, sc.Err()
}

// Run is a hook's whole life: it returns the exit status. hook is
// "pre-receive" or "post-receive"; getenv reads the environment.
func Run(hook string, stdin io.Reader, stderr io.Writer, getenv func(string) string) int {
	if hook != "pre-receive" && hook != "post-receive" {
		fmt.Fprintf(stderr, "pkgserver hook: unknown hook %q\n", hook)
		return 2
	}
	base, token := getenv(EnvURL), getenv(EnvToken)
	if base == "" || token == "" {
		fmt.Fprintf(stderr, "pkgserver hook: %s and %s are not set: this hook runs under pkgserver's git host\n", EnvURL, EnvToken)
		return 1
	}
	updates, err := ReadUpdates(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "pkgserver: %v\n", err)
		return 1
	}
	req := Request{Updates: updates, Quarantine: Quarantine{
		ObjectDirectory:            getenv("GIT_OBJECT_DIRECTORY"),
		AlternateObjectDirectories: getenv("GIT_ALTERNATE_OBJECT_DIRECTORIES"),
		QuarantinePath:             getenv("GIT_QUARANTINE_PATH"),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	resp, err := Send(ctx, base, token, hook, &req)
	if err != nil {
		fmt.Fprintf(stderr, "pkgserver: %v\n", err)
		if hook == "pre-receive" {
			fmt.Fprintln(stderr, "pkgserver: the push is refused: it could not be checked")
			return 1
		}
		// The refs are updated already: the next sync indexes them.
		return 0
	}
	for _, m := range resp.Messages {
		fmt.Fprintln(stderr, m)
	}
	if !resp.Accept {
		return 1
	}
	return 0
}

// Send posts a hook's request to the server: base is http://host:port/path.
func Send(ctx context.Context, base, token, hook string, req *Request) (*Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(base, "http://")
	if !ok {
		return nil, fmt.Errorf("%s: the hook URL must be http://", base)
	}
	host, path, _ := strings.Cut(rest, "/")
	if host == "" || strings.ContainsAny(host+path+token, " \r\n") {
		return nil, fmt.Errorf("invalid hook URL or token")
	}
	path = "/" + strings.TrimSuffix(path, "/") + "/" + hook
	path = strings.Replace(path, "//", "/", 1)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("the server could not be reached: %v", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// HTTP/1.0: the answer is delimited by the end of the connection, never
	// chunked.
	head := fmt.Sprintf("POST %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, host, token, len(body))
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return nil, fmt.Errorf("the server could not be reached: %v", err)
	}
	br := bufio.NewReader(io.LimitReader(conn, 8<<20))
	status, err := br.ReadString('\n')
	if err != nil {
		return nil, timeoutOr(ctx, hook, err)
	}
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return nil, fmt.Errorf("the server's answer to the %s hook is not HTTP: %q", hook, status)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, timeoutOr(ctx, hook, err)
		}
		if strings.TrimSpace(line) == "" {
			break
		}
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, timeoutOr(ctx, hook, err)
	}
	if f[1] != "200" {
		return nil, fmt.Errorf("the server answered the %s hook with %s: %s", hook, strings.Join(f[1:], " "), strings.TrimSpace(string(data)))
	}
	var out Response
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("the server's answer to the %s hook: %v", hook, err)
	}
	return &out, nil
}

func timeoutOr(ctx context.Context, hook string, err error) error {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the server did not answer the %s hook within %s", hook, Timeout)
	}
	return fmt.Errorf("reading the server's answer to the %s hook: %v", hook, err)
}
