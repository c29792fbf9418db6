// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb and
// pg_ctl in a temporary directory, listening on 127.0.0.1 at a free port
// and on a Unix socket of its own directory, with trust authentication
// for local connections only; as the postgres user when the test runs as
// root (PostgreSQL refuses root). A Cluster is started at its first
// database and serves a test binary: each test gets a database of its own
// (CREATE DATABASE), dropped after it.
//
// Without PostgreSQL installed, tests skip with a message saying how to
// install it, unless PKGSERVER_REQUIRE_POSTGRES=1 (CI) makes that a
// failure.
package pgtest

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, as "pgx"
)

// RequireEnv names the environment variable that, set to 1, fails the
// tests that need PostgreSQL where it is not installed.
const RequireEnv = "PKGSERVER_REQUIRE_POSTGRES"

// Cluster is a PostgreSQL cluster started on demand; its zero value is
// ready to use. Stop it when the tests end (Main, or Start's cleanup).
type Cluster struct {
	once   sync.Once
	err    error
	absent bool // PostgreSQL is not installed

	bin   string // the directory of initdb, pg_ctl and postgres
	dir   string // data, socket and log
	port  int
	cred  *syscall.Credential // nil: run as the current user
	admin *sql.DB

	// Durable runs the server as in production, syncing its writes to
	// disk (fsync, synchronous_commit and full_page_writes on), for
	// benchmarks; tests leave it false and skip the syncs.
	Durable bool

	n atomic.Int64
}

// Start returns the URL of an empty database in a cluster of the test's
// own, stopped at the test's end. Tests of one binary share a Cluster
// rather (Main, Database).
func Start(tb testing.TB) string {
	tb.Helper()
	c := &Cluster{}
	tb.Cleanup(c.Stop)
	return c.Database(tb)
}

// Main runs the tests of a binary and stops the cluster afterwards:
//
//	var pg pgtest.Cluster
//	func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }
func (c *Cluster) Main(m *testing.M) int {
	defer c.Stop()
	return m.Run()
}

// Database returns the URL of a new, empty database of the cluster,
// starting the cluster if it is not yet: skips the test if PostgreSQL is
// not installed (fails it under PKGSERVER_REQUIRE_POSTGRES=1). The
// database is dropped at the test's end, whatever its outcome. Options
// are CREATE DATABASE's (TEMPLATE template0 LOCALE_PROVIDER icu ...); the
// cluster's own locale is C.
func (c *Cluster) Database(tb testing.TB, options ...string) string {
	tb.Helper()
	c.Require(tb)
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.n.Add(1))
	if _, err := c.admin.Exec(strings.Join(append([]string{`CREATE DATABASE`, name}, options...), " ")); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := c.admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	return c.url(name)
}

// Require starts the cluster if it is not yet: it skips the test if
// PostgreSQL is not installed (fails it under
// PKGSERVER_REQUIRE_POSTGRES=1), and fails it if the cluster does not
// start. A test whose subtests each take a database calls it first, to
// skip once.
func (c *Cluster) Require(tb testing.TB) {
	tb.Helper()
	c.once.Do(func() { c.err = c.start() })
	if c.absent {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%v (%s=1)", c.err, RequireEnv)
		}
		tb.Skipf("%v; or set %s=1 to fail rather than skip", c.err, RequireEnv)
	}
	if c.err != nil {
		tb.Fatalf("start PostgreSQL: %v", c.err)
	}
}

// Drop drops a database of the cluster, closing its connections: what a
// server sees of its database gone.
func (c *Cluster) Drop(tb testing.TB, dbURL string) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := c.admin.Exec(`DROP DATABASE IF EXISTS ` + pgIdent(name) + ` WITH (FORCE)`); err != nil {
		tb.Fatalf("drop database %s: %v", name, err)
	}
}

// Exec runs a statement in the cluster's postgres database, as its
// superuser: to terminate connections, say.
func (c *Cluster) Exec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	if _, err := c.admin.Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

func (c *Cluster) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// pgIdent quotes an identifier.
func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Stop stops the cluster, at once (pg_ctl stop -m immediate), and removes
// its directory.
func (c *Cluster) Stop() {
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	if c.dir == "" {
		return
	}
	_ = c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data(), "-m", "immediate", "-w"))
	os.RemoveAll(c.dir)
	c.dir = ""
}

// Restart stops the cluster (pg_ctl stop -m fast: connections are cut,
// what was committed is kept), leaves it down for down, and starts it again
// on the same port and data. Tests of a binary share the cluster: they
// must not run in parallel with one that restarts it.
func (c *Cluster) Restart(tb testing.TB, down time.Duration) {
	tb.Helper()
	c.Require(tb)
	if err := c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data(), "-m", "fast", "-w")); err != nil {
		tb.Fatalf("pg_ctl stop: %v", err)
	}
	time.Sleep(down)
	if err := c.pgctlStart(); err != nil {
		tb.Fatalf("start again: %v", err)
	}
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// start finds PostgreSQL, makes a cluster and starts it.
func (c *Cluster) start() error {
	bin, err := findBinaries()
	if err != nil {
		c.absent = true
		return err
	}
	c.bin = bin
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(); err != nil {
			c.absent = true
			return err
		}
	}
	c.dir, err = os.MkdirTemp("", "pgtest-")
	if err != nil {
		return err
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	if err := c.run(exec.Command(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")); err != nil {
		c.Stop()
		return fmt.Errorf("initdb: %w", err)
	}
	// A free port may be taken between its choice and the server's bind:
	// try a few.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			c.Stop()
			return err
		}
		if err = c.pgctlStart(); err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		c.Stop()
		return err
	}
	c.watchdog()
	c.admin, err = sql.Open("pgx", c.url("postgres"))
	if err == nil {
		err = c.admin.Ping()
	}
	if err != nil {
		c.Stop()
		return err
	}
	return nil
}

// pgctlStart starts the server: on 127.0.0.1 and a socket in the
// cluster's directory, without syncing to disk (a crash loses only a
// test's data).
func (c *Cluster) pgctlStart() error {
	syncs := []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
	if c.Durable {
		syncs = nil
	}
	opts := strings.Join(slices.Concat([]string{"-p", strconv.Itoa(c.port), "-c", "listen_addresses=127.0.0.1", "-k", c.dir},
		syncs, []string{"-c", "max_connections=300", "-c", "deadlock_timeout=100ms"}), " ")
	err := c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "start", "-D", c.data(), "-w", "-t", "60",
		"-l", filepath.Join(c.dir, "log"), "-o", opts))
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w\n%s", err, tail(string(log), 20))
	}
	return nil
}

// watchdog stops the server if the test binary dies without stopping it
// (a timeout's panic, a kill): a process of the cluster's user that polls
// for the binary.
func (c *Cluster) watchdog() {
	script := fmt.Sprintf(`while [ -d /proc/%d ]; do sleep 1; done; "$0" stop -D "$1" -m immediate >/dev/null 2>&1; rm -rf "$2"`, os.Getpid())
	cmd := exec.Command("/bin/sh", "-c", script, filepath.Join(c.bin, "pg_ctl"), c.data(), c.dir)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setsid: true}
	if err := cmd.Start(); err == nil {
		go cmd.Wait() //nolint:errcheck // reaped, never waited for
	}
}

// run runs a command of PostgreSQL as the cluster's user, in its
// directory.
func (c *Cluster) run(cmd *exec.Cmd) error {
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(cmd.Env, "HOME="+c.dir, "USER=postgres")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, tail(string(out), 20))
	}
	return nil
}

// findBinaries returns the directory of initdb and pg_ctl: PATH's, else
// the newest of Debian's /usr/lib/postgresql/*/bin.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(real)
			if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (no initdb and pg_ctl on PATH nor in /usr/lib/postgresql/*/bin): " +
		"install it (Debian and Ubuntu: apt-get install postgresql; macOS: brew install postgresql) to run these tests")
}

// version is the major version of a /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// unprivileged returns the credentials of the postgres user, as which a
// test running as root runs PostgreSQL.
func unprivileged() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("PostgreSQL refuses to run as root, and there is no postgres user to run it as " +
			"(Debian's postgresql package creates it)")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a TCP port of 127.0.0.1 free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}
