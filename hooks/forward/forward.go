// Package forward is the hook process of a hosted repository: it reads
// git's ref updates and quarantine environment, sends them to the running
// server and prints the server's answer on the pusher's terminal. It links
// little beyond net/http, so that the process git starts for every push
// starts in milliseconds.
package forward

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Environment the server gives receive-pack, and through it the hooks.
const (
	EnvURL   = "PKGSERVER_HOOK_URL"
	EnvToken = "PKGSERVER_HOOK_TOKEN"
)

// Update is one ref update of a push, as git gives it to the hooks.
type Update struct {
	Old string `json:"old"`
	New string `json:"new"`
	Ref string `json:"ref"`
}

// Quarantine is where the objects of a push not yet accepted are.
type Quarantine struct {
	ObjectDirectory            string `json:"objectDirectory,omitempty"`
	AlternateObjectDirectories string `json:"alternateObjectDirectories,omitempty"`
	QuarantinePath             string `json:"quarantinePath,omitempty"`
}

// Request is what a hook sends to the server.
type Request struct {
	Updates    []Update   `json:"updates"`
	Quarantine Quarantine `json:"quarantine"`
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
func ReadUpdates(r io.Reader) ([]Update, error) {
	var updates []Update
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
		updates = append(updates, Update{Old: f[0], New: f[1], Ref: f[2]})
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

// Send posts a hook's request to the server.
func Send(ctx context.Context, base, token, hook string, req *Request) (*Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/"+hook, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("the server did not answer the %s hook within %s", hook, Timeout)
		}
		return nil, fmt.Errorf("the server could not be reached: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered the %s hook with %s: %s", hook, resp.Status, strings.TrimSpace(string(data)))
	}
	var out Response
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("the server's answer to the %s hook: %v", hook, err)
	}
	return &out, nil
}
