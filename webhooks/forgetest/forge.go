package forgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// maxBody is the largest request body a stand-in reads.
const maxBody = 25 << 20

// Call is one request a stand-in received.
type Call struct {
	Method string
	// Path is the escaped path as received, so that an encoded GitLab
	// project path such as acme%2Fblueprints stays visible.
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status is the status code the stand-in answered; Time when.
	Status int
	Time   time.Time
}

// reply is an answer computed by a route; it is recorded before it is written.
type reply struct {
	status int
	body   any // marshalled as JSON, or written as is when a []byte
	header http.Header
}

// failure is a pending FailNext rule.
type failure struct {
	method, prefix string
	n, status      int
}

// recorder keeps the calls and pending failures of one stand-in.
type recorder struct {
	mu       sync.Mutex
	calls    []Call
	failures []failure
}

// handler reads the body, asks route for a reply, records the call and
// writes the reply.
func (rec *recorder) handler(tooLarge reply, route func(r *http.Request, body []byte) reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		rep := tooLarge
		if err == nil {
			rep = route(r, body)
		}
		data, ok := rep.body.([]byte)
		if !ok {
			data, _ = json.Marshal(rep.body)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, Call{
			Method: r.Method,
			Path:   r.URL.EscapedPath(),
			Query:  r.URL.Query(),
			Header: r.Header.Clone(),
			Body:   body,
			Status: rep.status,
			Time:   time.Now(),
		})
		rec.mu.Unlock()
		for k, v := range rep.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rep.status)
		w.Write(data)
	})
}

func (rec *recorder) failNext(method, prefix string, n, status int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.failures = append(rec.failures, failure{method, prefix, n, status})
}

// takeFailure consumes one matching FailNext rule and returns its status, or 0.
func (rec *recorder) takeFailure(method, rel string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := range rec.failures {
		f := &rec.failures[i]
		if f.n > 0 && (f.method == "" || f.method == method) && strings.HasPrefix(rel, f.prefix) {
			f.n--
			return f.status
		}
	}
	return 0
}

func (rec *recorder) allCalls() []Call {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Call(nil), rec.calls...)
}

func (rec *recorder) callsTo(method, suffix string) []Call {
	var out []Call
	for _, c := range rec.allCalls() {
		if (method == "" || c.Method == method) && strings.HasSuffix(c.Path, suffix) {
			out = append(out, c)
		}
	}
	return out
}

// repo runs the git binary against the hosted repository.
type repo struct {
	dir, home string
	// write serializes the requests that change the repository.
	write sync.Mutex
}

func newRepo(t testing.TB, dir string) *repo {
	return &repo{dir: dir, home: t.TempDir()}
}

// git runs git with a clean environment and returns its trimmed output.
func (g *repo) git(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", g.dir}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + g.home, "GIT_CONFIG_NOSYSTEM=1"}
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// objectType returns the type of the object named by a full hexadecimal id,
// or "" when there is no such object.
func (g *repo) objectType(ctx context.Context, sha string) string {
	if !isSHA(sha) {
		return ""
	}
	typ, err := g.git(ctx, "", "cat-file", "-t", sha)
	if err != nil {
		return ""
	}
	return typ
}

// commit resolves rev, a commit id or a ref name, to a commit id.
func (g *repo) commit(ctx context.Context, rev string) (string, bool) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return "", false
	}
	sha, err := g.git(ctx, "", "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	return sha, err == nil
}

// refExists reports whether the full ref name exists.
func (g *repo) refExists(ctx context.Context, ref string) bool {
	_, err := g.git(ctx, "", "show-ref", "--verify", "--quiet", ref)
	return err == nil
}

// validRef reports whether name is a well-formed full ref name.
func (g *repo) validRef(ctx context.Context, name string) bool {
	if strings.HasPrefix(name, "-") {
		return false
	}
	_, err := g.git(ctx, "", "check-ref-format", name)
	return err == nil
}

// isSHA reports whether s is a full SHA-1 or SHA-256 object id.
func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// nullable returns nil for an empty string, so that it marshals as null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (rec *recorder) clearFailures() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.failures = nil
}
