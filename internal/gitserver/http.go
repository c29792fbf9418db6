package gitserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"strings"
	"time"

	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/store"
)

// HTTPPrefix is where smart HTTP is served: <prefix><ns>/<repo>.git/...
const HTTPPrefix = "/git/"

// HTTPHandler serves git's smart HTTP protocol through `git http-backend`,
// with HTTP basic authentication whose password is an API token (the user
// name is not checked). Only the smart protocol's three endpoints are
// served.
func (h *Host) HTTPHandler() http.Handler {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		gitPath = "git"
	}
	perToken := h.Limits.HTTPRequestsPerToken
	if perToken <= 0 {
		perToken = MaxHTTPRequestsPerToken
	}
	slots := newSlots(MaxHTTPRequests, perToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.serveHTTP(w, r, gitPath, slots, perToken)
	})
}

// Limits of smart HTTP: requests running git at once, in all and per token
// (so that one token cannot take every slot; Limits.HTTPRequestsPerToken,
// this by default), and how long one may take to
// send its pack or to read the answer (the API's own read timeout, 30 s,
// is lifted for them). Within that hour, a request whose client sends or
// reads nothing for Limits.IdleSeconds is ended.
const (
	MaxHTTPRequests         = 64
	MaxHTTPRequestsPerToken = 8
	HTTPGitTimeout          = time.Hour
)

// maxCommandBytes is what a push's body may hold besides its pack (which
// receive.maxInputSize bounds): the ref update commands, some 110 bytes
// each plus the ref's name, 10,000 of them at most (hooks/forward's
// MaxUpdates), so that a push of that many refs with a pack just within
// the limit is not cut short.
const maxCommandBytes = 16 << 20

// gitHTTPRequest is a request of smart HTTP: the repository and which of
// the protocol's endpoints.
type gitHTTPRequest struct {
	ns, name string
	// endpoint is the path after the repository's: info/refs,
	// git-upload-pack or git-receive-pack.
	endpoint string
	// service is the git command that answers: git-upload-pack or
	// git-receive-pack.
	service string
}

// receivePack tells whether the request is a push's (its advertisement
// or the push itself).
func (g gitHTTPRequest) receivePack() bool { return g.service == "git-receive-pack" }

func (h *Host) serveHTTP(w http.ResponseWriter, r *http.Request, gitPath string, slots *slots, perToken int) {
	req, ok := parseGitHTTPRequest(w, r)
	if !ok {
		return
	}
	tok, ok := h.authenticateHTTP(w, r)
	if !ok {
		return
	}
	// Slots are taken once the token is known, so that they are counted
	// per token; a request without credentials never runs git.
	release, ok := takeHTTPSlot(w, slots, tok, perToken)
	if !ok {
		return
	}
	defer release()
	ns, name := req.ns, req.name
	pusher := Pusher{Name: tok.Name, Namespace: tok.Namespace, Role: tok.Role}
	if !allowed(pusher, ns, store.RoleRead) {
		http.Error(w, fmt.Sprintf("token %q may not read in namespace %s", tok.Name, ns), http.StatusForbidden)
		return
	}
	gitDir, err := h.resolve(r.Context(), ns, name)
	if errors.Is(err, errNotFound) {
		http.Error(w, fmt.Sprintf("repository %s/%s not found", ns, name), http.StatusNotFound)
		return
	}
	if err != nil {
		h.Log.Error("git http: resolve repository", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Only a push itself runs the hooks, which know it by its token.
	hookURL, pushToken := "", ""
	if req.receivePack() {
		if !allowed(pusher, ns, store.RoleWrite) {
			http.Error(w, fmt.Sprintf("token %q may not push to %s/%s: pushing needs the write role in namespace %s", tok.Name, ns, name, ns), http.StatusForbidden)
			return
		}
		if req.endpoint == "git-receive-pack" {
			token, end := h.Pushes.Begin(&Push{Namespace: ns, Repository: name, GitDir: gitDir, Pusher: pusher})
			defer end()
			hookURL, pushToken = h.HookURL, token
		}
	}
	env := append(serviceEnv(h.Limits, r.Header.Get("Git-Protocol"), gitDir, hookURL, pushToken),
		"GIT_PROJECT_ROOT="+h.Hosting.Root+"/"+ns,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER="+tok.Name,
		"GIT_HTTP_MAX_REQUEST_BUFFER=10M",
	)
	if h.Limits.MaxPushBytes > 0 && req.receivePack() && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, h.Limits.MaxPushBytes+maxCommandBytes)
	}
	start := time.Now()
	h.runHTTPBackend(w, r, gitPath, ns, gitDir, env)
	if r.Method == http.MethodPost {
		h.Log.Info("http", "token", tok.Name, "service", req.service, "repo", ns+"/"+name, "duration", time.Since(start))
	}
}

// parseGitHTTPRequest reads which repository and endpoint of smart HTTP a
// request is for; anything else is answered 404.
func parseGitHTTPRequest(w http.ResponseWriter, r *http.Request) (gitHTTPRequest, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, HTTPPrefix)
	i := strings.Index(rest, ".git/")
	if !ok || i < 0 {
		http.Error(w, "not found", http.StatusNotFound)
		return gitHTTPRequest{}, false
	}
	repoPath, endpoint := rest[:i+len(".git")], rest[i+len(".git/"):]
	var service string
	switch {
	case endpoint == "info/refs" && r.Method == http.MethodGet:
		service = r.URL.Query().Get("service")
	case endpoint == "git-upload-pack" && r.Method == http.MethodPost:
		service = "git-upload-pack"
	case endpoint == "git-receive-pack" && r.Method == http.MethodPost:
		service = "git-receive-pack"
	}
	if service != "git-upload-pack" && service != "git-receive-pack" {
		http.Error(w, "only git's smart HTTP protocol is served", http.StatusNotFound)
		return gitHTTPRequest{}, false
	}
	ns, name, err := parseRepoPath(repoPath)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return gitHTTPRequest{}, false
	}
	return gitHTTPRequest{ns: ns, name: name, endpoint: endpoint, service: service}, true
}

// authenticateHTTP reads the API token a request gives as its basic
// authentication password; without a valid one it is answered 401.
func (h *Host) authenticateHTTP(w http.ResponseWriter, r *http.Request) (*store.Token, bool) {
	_, password, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="pkgserver", charset="UTF-8"`)
		http.Error(w, "authentication required: use an API token as the password", http.StatusUnauthorized)
		return nil, false
	}
	tok, err := h.Tokens.Authenticate(r.Context(), password)
	if errors.Is(err, auth.ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Basic realm="pkgserver", charset="UTF-8"`)
		http.Error(w, "the token is not valid", http.StatusUnauthorized)
		return nil, false
	}
	if err != nil {
		h.Log.Error("git http: authenticate", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	return tok, true
}

// takeHTTPSlot takes a slot to run git in for a token's request, and
// returns the function that gives it back; when none is free, the request
// is answered 429 (the token has its share) or 503 (the server has).
func takeHTTPSlot(w http.ResponseWriter, slots *slots, tok *store.Token, perToken int) (func(), bool) {
	release, err := slots.take(tok.Hash)
	if err == nil {
		return release, true
	}
	// Closing the connection spares net/http reading the rest of a slow
	// body before answering.
	w.Header().Set("Connection", "close")
	w.Header().Set("Retry-After", "5")
	if errors.Is(err, errKeyBusy) {
		http.Error(w, fmt.Sprintf("token %q has %d git requests under way, the most one token may have at once; try again", tok.Name, perToken), http.StatusTooManyRequests)
		return nil, false
	}
	http.Error(w, "the server is busy, try again", http.StatusServiceUnavailable)
	return nil, false
}

// runHTTPBackend answers a request with `git http-backend` run in gitDir
// with env, within HTTPGitTimeout and the idle limit.
func (h *Host) runHTTPBackend(w http.ResponseWriter, r *http.Request, gitPath, ns, gitDir string, env []string) {
	// The CGI handler passes the request's headers as HTTP_* variables,
	// as CGI does (git reads HTTP_GIT_PROTOCOL and the content type);
	// it drops Proxy. Nothing of the server's own environment is
	// inherited: Env is the whole of it.
	handler := &cgi.Handler{
		Path:       gitPath,
		Args:       []string{"http-backend"},
		Root:       HTTPPrefix + ns,
		Dir:        gitDir,
		Env:        env,
		InheritEnv: nil,
		Stderr:     logWriter{h},
	}
	rc := http.NewResponseController(w)
	end := time.Now().Add(HTTPGitTimeout)
	_ = rc.SetReadDeadline(end)
	_ = rc.SetWriteDeadline(end)
	if h.Limits.IdleSeconds > 0 {
		idle := time.Duration(h.Limits.IdleSeconds) * time.Second
		r.Body = &progressBody{ReadCloser: r.Body, rc: rc, idle: idle, end: end}
		w = &progressWriter{ResponseWriter: w, rc: rc, idle: idle, end: end}
	}
	if r.ContentLength < 0 {
		// git sends a request body chunked whenever it outgrows
		// http.postBuffer (1 MiB unless configured): a push of some
		// 10,000 refs (1.1 MB of commands) or of a pack that large, a
		// fetch wanting some 20,000. net/http/cgi answers such a request 400, as CGI wants a
		// CONTENT_LENGTH; but net/http has already undone the chunking,
		// and git http-backend without a CONTENT_LENGTH reads its
		// standard input to the end. So the body is handed to it as a
		// stream of unknown length (the request is a shallow copy: the
		// server's own stays as read).
		r = r.WithContext(r.Context())
		r.TransferEncoding = nil
	}
	handler.ServeHTTP(w, r)
	_ = rc.SetWriteDeadline(end)
}

// logWriter sends http-backend's standard error to the log.
type logWriter struct{ h *Host }

func (l logWriter) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		l.h.Log.Warn("git http-backend", "stderr", msg)
	}
	return len(p), nil
}
