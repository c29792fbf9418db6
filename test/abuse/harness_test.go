// Package abuse holds the abuse cases of pkgserver: what an attacker or an
// unlucky operator does to a real server on loopback — slow clients, floods,
// oversize and crafted input, links and refs made to confuse — each with the
// answer the server must give and what must still work meanwhile. Every case
// is bounded in time; none asserts a duration.
package abuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/testbin"
)

// binDir holds the pkgserver binary the cases run, built once by TestMain
// from this checkout.
var binDir string

func TestMain(m *testing.M) { testbin.Main(m.Run, &binDir, "pkgserver") }

// server is a `pkgserver serve` process of one case, with its own data
// directory, HTTP and SSH addresses and admin token.
type server struct {
	Dir   string // the case's working directory (HOME too)
	Data  string // the data directory
	HTTP  string // host:port of the API, smart HTTP and webhooks
	SSH   string // host:port of the SSH server
	Token string // the admin token
	Env   []string

	cmd    *exec.Cmd
	exited chan error
	mu     sync.Mutex
	log    bytes.Buffer
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

// Log returns what the server has logged so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// cleanEnv is the environment of the commands a case runs: nothing of the
// caller's pkgserver or git settings, git's identity, the server's
// addresses.
func cleanEnv(home, httpAddr, sshAddr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PKGSERVER_") || strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "PKGSERVER_HTTP="+httpAddr, "PKGSERVER_SSH="+sshAddr,
		"PKGSERVER_SERVER=http://"+httpAddr, "PKGSERVER_DATA="+filepath.Join(home, ".pkgserver"),
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
}

// startServer starts `pkgserver serve` with args added to its command line
// and waits until it is ready. It is stopped (SIGTERM, then SIGKILL after
// 30 s) when the test ends; its log is printed if the test failed. The
// server binds port 0 and its addresses are read from its log, so that no
// other process can take a port between choosing and binding it.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{Dir: dir, Data: filepath.Join(dir, ".pkgserver"), exited: make(chan error, 1)}
	s.start(t, args...)
	return s
}

// The server's log lines naming the addresses it serves.
var (
	servingHTTP = regexp.MustCompile(`msg=serving http=http://(\S+)`)
	servingSSH  = regexp.MustCompile(`msg="serving git over ssh" ssh=ssh://(\S+)`)
)

// start runs the server process: on its first start on port 0, later (after
// Kill) on the addresses it had.
func (s *server) start(t *testing.T, args ...string) {
	t.Helper()
	first := s.HTTP == ""
	httpAddr, sshAddr := s.HTTP, s.SSH
	if first {
		httpAddr, sshAddr = "127.0.0.1:0", "127.0.0.1:0"
		s.Env = cleanEnv(s.Dir, "", "")
	}
	s.cmd = exec.Command(filepath.Join(binDir, "pkgserver"), append([]string{"serve", "--http", httpAddr, "--ssh", sshAddr}, args...)...)
	s.cmd.Dir, s.cmd.Env = s.Dir, s.Env
	s.cmd.Stdout, s.cmd.Stderr = s, s
	mark := len(s.Log())
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	cmd, exited := s.cmd, s.exited
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		s.stop(cmd, exited)
		if t.Failed() {
			t.Logf("server log:\n%s", s.Log())
		}
	})
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("serve exited: %v\n%s", err, s.Log())
		default:
		}
		if first && s.HTTP == "" {
			log := s.Log()[mark:]
			h, g := servingHTTP.FindStringSubmatch(log), servingSSH.FindStringSubmatch(log)
			if h == nil || g == nil {
				last = errors.New("no address logged yet")
				continue
			}
			s.HTTP, s.SSH = h[1], g[1]
			s.Env = cleanEnv(s.Dir, s.HTTP, s.SSH)
		}
		resp, err := http.Get("http://" + s.HTTP + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				tok, err := os.ReadFile(filepath.Join(s.Data, "admin.token"))
				if err != nil {
					t.Fatal(err)
				}
				s.Token = strings.TrimSpace(string(tok))
				return
			}
			err = errors.New(resp.Status)
		}
		last = err
	}
	t.Fatalf("not ready after 30 s: %v\n%s", last, s.Log())
}

func (s *server) stop(cmd *exec.Cmd, exited chan error) {
	select {
	case err := <-exited:
		exited <- err
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		exited <- <-exited
	}
}

// Kill kills the server with SIGKILL and waits for it to exit.
func (s *server) Kill(t *testing.T) {
	t.Helper()
	s.cmd.Process.Kill()
	err := <-s.exited
	s.exited <- err
}

// Restart starts the server again after Kill (same data, addresses and
// arguments given).
func (s *server) Restart(t *testing.T, args ...string) {
	t.Helper()
	s.start(t, args...)
}

// Run runs a command (pkgserver is the server's binary) in dir, relative
// to the case's directory, with the case's environment.
func (s *server) Run(dir, name string, args ...string) (stdout, stderr string, err error) {
	if name == "pkgserver" {
		name = filepath.Join(binDir, "pkgserver")
	}
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = filepath.Join(s.Dir, dir), s.Env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// Must runs a command as Run does and fails the test if it fails.
func (s *server) Must(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, errOut, err := s.Run(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// Hosted registers a hosted repository in the default namespace and returns
// its smart HTTP clone URL with the admin token as password.
func (s *server) Hosted(t *testing.T, name string) string {
	t.Helper()
	s.Must(t, "", "pkgserver", "repo", "add", name, "--hosted")
	return s.GitURL(name, s.Token)
}

// GitURL is the smart HTTP URL of a hosted repository with token as
// password.
func (s *server) GitURL(name, token string) string {
	u := url.URL{Scheme: "http", User: url.UserPassword("git", token), Host: s.HTTP, Path: "/git/default/" + name + ".git"}
	return u.String()
}

// Do sends an API request with the admin token and returns the answer's
// status and body.
func (s *server) Do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	return s.DoAs(t, s.Token, method, path, body)
}

// DoAs sends an API request with token ("" for none).
func (s *server) DoAs(t *testing.T, token, method, path string, body []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.HTTP+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// writeFile writes data to path below the case's directory, making its
// directories.
func (s *server) writeFile(t *testing.T, path, data string) {
	t.Helper()
	full := filepath.Join(s.Dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// kptfile is a minimal Kptfile of a package.
func kptfile(name string) string {
	return fmt.Sprintf("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: %s\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ninfo:\n  description: %s\n", name, name)
}

// TestHarness starts a server, pushes a package to a hosted repository over
// smart HTTP and sees it as a Draft: what every case builds on works.
func TestHarness(t *testing.T) {
	s := startServer(t)
	remote := s.Hosted(t, "blueprints")
	s.Must(t, "", "git", "clone", "-q", remote, "work")
	s.Must(t, "work", "git", "checkout", "-q", "-b", "drafts/nginx/first")
	s.writeFile(t, "work/nginx/Kptfile", kptfile("nginx"))
	s.writeFile(t, "work/nginx/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\ndata:\n  a: b\n")
	s.Must(t, "work", "git", "add", ".")
	s.Must(t, "work", "git", "commit", "-qm", "Add nginx")
	s.Must(t, "work", "git", "push", "-q", "origin", "drafts/nginx/first")
	code, body := s.Do(t, "GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/blueprints.nginx.first", nil)
	if code != http.StatusOK || !bytes.Contains(body, []byte(`"lifecycle":"Draft"`)) {
		t.Fatalf("GET the draft: %d %s", code, body)
	}
}
