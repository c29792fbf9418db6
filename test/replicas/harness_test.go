// Package replicas tests several `pkgserver serve` processes sharing one
// PostgreSQL database: the real binary, a real throwaway cluster
// (pgtest), git served over smart HTTP by git http-backend, signed
// deliveries of the forges' own example payloads, and kill -9.
package replicas

import (
	"bufio"
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/store/pgtest"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
	"github.com/pkgserver/pkgserver/internal/testbin"
)

var (
	pg     pgtest.Cluster
	binDir string
)

// TestMain builds pkgserver once for the binary's tests.
func TestMain(m *testing.M) {
	testbin.Main(func() int { return pg.Main(m) }, &binDir, "pkgserver", "pkgserver-hook")
}

// remote serves git repositories over smart HTTP, counts the times a
// client asked for a repository's refs (every ls-remote and every fetch
// asks once), and answers those requests after delay: a slow forge.
type remote struct {
	url   string
	asked atomic.Int64
	delay atomic.Int64
}

func serveGit(t *testing.T, root string) *remote {
	t.Helper()
	exe, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(exe)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + root}}
	rm := &remote{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/info/refs") {
			rm.asked.Add(1)
			select {
			case <-time.After(time.Duration(rm.delay.Load())):
			case <-r.Context().Done():
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rm.url = srv.URL
	return rm
}

// replica is a `pkgserver serve` process.
type replica struct {
	name, addr, data, logPath string
	cmd                       *exec.Cmd
	// id is the id it holds leases under, as it logged it.
	id   string
	dead bool
}

// cluster is replicas on one database, sharing a key file.
type cluster struct {
	t        *testing.T
	db       string
	keyFile  string
	token    string
	store    *sqlstore.Store
	replicas []*replica
	// prepare, when set, is called with a replica's data directory before
	// the replica starts (to share a directory between replicas, say).
	prepare func(data string)
}

func newCluster(t *testing.T) *cluster {
	db := pg.Database(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("k", 32)), 0o400); err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, db: db, keyFile: keyFile}
}

// sql is the cluster's database, opened by the test.
func (c *cluster) sql() *sql.DB {
	if c.store == nil {
		st, err := sqlstore.OpenPostgres(context.Background(), c.db)
		if err != nil {
			c.t.Fatal(err)
		}
		c.store = st
		c.t.Cleanup(func() { st.Close() })
	}
	return c.store.DB()
}

var replicaLog = regexp.MustCompile(`msg=replica id=(\S+)`)

// start starts a replica and waits until it answers.
func (c *cluster) start(name string) *replica {
	t := c.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &replica{name: name, addr: addr, data: t.TempDir()}
	if c.prepare != nil {
		c.prepare(r.data)
	}
	r.logPath = filepath.Join(r.data, "serve.log")
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(filepath.Join(binDir, "pkgserver"), "serve", "--data", r.data, "--database", c.db,
		"--keyring-file", c.keyFile, "--http", addr, "--ssh", "")
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.Env = append(os.Environ(), "HOME="+r.data)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !r.dead {
			_ = r.cmd.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { _ = r.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = r.cmd.Process.Kill()
				<-done
			}
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(r.logPath)
			t.Logf("log of %s:\n%s", r.name, tail(string(b), 40))
		}
	})
	c.replicas = append(c.replicas, r)
	waitFor(t, 60*time.Second, name+" to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	waitFor(t, 10*time.Second, name+" to log its id", func() bool {
		b, _ := os.ReadFile(r.logPath)
		if m := replicaLog.FindSubmatch(b); m != nil {
			r.id = string(m[1])
		}
		return r.id != ""
	})
	if c.token == "" {
		waitFor(t, 10*time.Second, "the admin token", func() bool {
			b, err := os.ReadFile(filepath.Join(r.data, "admin.token"))
			c.token = strings.TrimSpace(string(b))
			return err == nil && c.token != ""
		})
	}
	return r
}

// kill kills a replica with SIGKILL.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Wait()
	r.dead = true
}

// logged sums the values of attr in the lines of a replica's log with msg.
func (r *replica) logged(t *testing.T, msg, attr string) int {
	t.Helper()
	f, err := os.Open(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(` ` + attr + `=(\d+)`)
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, `msg="`+msg+`"`) {
			if m := re.FindStringSubmatch(line); m != nil {
				v, _ := strconv.Atoi(m[1])
				n += v
			}
		}
	}
	return n
}

// cli runs the pkgserver client against a replica.
func (c *cluster) cli(r *replica, args ...string) string {
	c.t.Helper()
	out, err := c.run(r, args...)
	if err != nil {
		c.t.Fatalf("pkgserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// run runs the pkgserver client against a replica: its output and error.
func (c *cluster) run(r *replica, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "pkgserver"), args...)
	cmd.Env = append(os.Environ(), "HOME="+r.data, "PKGSERVER_SERVER=http://"+r.addr, "PKGSERVER_TOKEN="+c.token)
	cmd.Dir = c.t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", limit, what)
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
