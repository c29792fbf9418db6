package gitserver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/auth"
	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/store"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/testbin"
)

// binDir holds the hook program hosted repositories run, built once from
// this checkout.
var binDir string

func TestMain(m *testing.M) { testbin.Main(m.Run, &binDir, "pkgserver-hook") }

// host is a running server with its git host on random loopback ports.
type host struct {
	t        *testing.T
	dir      string
	store    *sqlstore.Store
	httpAddr string
	sshAddr  string
	admin    string // the admin token
	hostKey  gossh.PublicKey
	known    string // known_hosts file trusting the server
	logs     *syncBuffer
}

type options struct {
	limits gitserver.Limits
	ssh    gitserver.SSHConfig
}

func startHost(t *testing.T, opts options) *host {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv, err := server.New(ctx, server.Config{DataDir: dir, Store: st, Log: log, ShutdownTimeout: 15 * time.Second,
		HookCommand: []string{filepath.Join(binDir, "pkgserver-hook")}, GitLimits: opts.limits, SSH: opts.ssh})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sshLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, dir: dir, store: st, httpAddr: ln.Addr().String(), sshAddr: sshLn.Addr().String(), admin: srv.AdminToken, logs: logs}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, sshLn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the server did not stop within 20s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	// Wait for the host key and trust it.
	var key []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if key, err = os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key")); err == nil || time.Now().After(deadline) {
			break
		}
	}
	signer, err := gossh.ParsePrivateKey(key)
	if err != nil {
		t.Fatalf("host key: %v", err)
	}
	h.hostKey = signer.PublicKey()
	host, port, _ := net.SplitHostPort(h.sshAddr)
	h.known = filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[%s]:%s %s", host, port, gossh.MarshalAuthorizedKey(h.hostKey))
	if err := os.WriteFile(h.known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// user is an SSH user with its private key on disk, for the ssh client.
type user struct {
	name    string
	signer  gossh.Signer
	keyFile string
}

func (h *host) addUser(name, namespace string, role store.Role) *user {
	h.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		h.t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		h.t.Fatal(err)
	}
	keyFile := filepath.Join(h.dir, name+".key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		h.t.Fatal(err)
	}
	keys, err := auth.ParseAuthorizedKeys(gossh.MarshalAuthorizedKey(signer.PublicKey()))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateUser(context.Background(), &store.User{Name: name, Namespace: namespace, Role: role,
		Keys: keys, CreatedAt: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
	return &user{name: name, signer: signer, keyFile: keyFile}
}

// token creates an API token.
func (h *host) token(name, namespace string, role store.Role) string {
	h.t.Helper()
	tok, hash, err := auth.NewToken()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateToken(context.Background(), &store.Token{Name: name, Hash: hash, Namespace: namespace,
		Role: role, CreatedAt: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// api sends a request with the admin token.
func (h *host) api(method, path string, body any) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+h.httpAddr+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

const reposPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"

// hosted registers a hosted repository and returns it.
func (h *host) hosted(name string) *configv1alpha1.Repository {
	h.t.Helper()
	code, body := h.api(http.MethodPost, reposPath, configv1alpha1.Repository{
		TypeMeta:   metaType,
		ObjectMeta: objectMeta(name),
		Spec:       configv1alpha1.RepositorySpec{Provider: configv1alpha1.ProviderHosted},
	})
	if code != http.StatusCreated {
		h.t.Fatalf("create hosted repository: %d %s", code, body)
	}
	var r configv1alpha1.Repository
	if err := json.Unmarshal(body, &r); err != nil {
		h.t.Fatal(err)
	}
	return &r
}

func (h *host) sshURL(repo string) string {
	return "ssh://git@" + h.sshAddr + "/default/" + repo + ".git"
}

// git runs git in dir as user u (over SSH), returning combined output.
func (h *host) git(u *user, dir string, args ...string) (string, error) {
	h.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(dir)
	if u != nil {
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND="+h.sshCommand(u))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *host) sshCommand(u *user) string {
	return fmt.Sprintf("ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=%s -i %s", h.known, u.keyFile)
}

func gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
	}
}

// mustGit runs git and fails the test if it fails.
func (h *host) mustGit(u *user, dir string, args ...string) string {
	h.t.Helper()
	out, err := h.git(u, dir, args...)
	if err != nil {
		h.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// writeFiles writes files below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		path := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func execGit(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	return cmd
}
