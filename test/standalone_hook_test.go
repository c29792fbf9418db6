package test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshdPath is where openssh-server installs the daemon; sshd re-executes
// itself, so it must be started by its absolute path.
const sshdPath = "/usr/sbin/sshd"

// TestStandaloneHookSSH pushes over the ssh transport, through a real sshd,
// to a plain bare repository with pkgserver's standalone hook installed:
// git-receive-pack runs in the ssh session, and the hook in it validates
// the push with no pkgserver server anywhere. A valid package is accepted;
// one with a schema error is refused, its finding on the pusher's terminal
// and every ref as it was.
func TestStandaloneHookSSH(t *testing.T) {
	requireSSHTools(t, sshdPath, "ssh", "ssh-keygen", "git")
	me, err := user.Current()
	if err != nil {
		needSSHD(t, "the current user: %v", err)
	}
	dir := t.TempDir()
	port := startSSHD(t, dir, me.Username)
	g := gitClient{t: t, env: []string{
		"HOME=" + dir,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_SSH_COMMAND=ssh -F /dev/null -p " + strconv.Itoa(port) + " -i " + filepath.Join(dir, "client_key") +
			" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
	}}

	// The bare repository and its hook, which runs the pkgserver built
	// for this test by its absolute path (hook install writes
	// os.Executable into the script): the ssh session's PATH need not
	// hold it.
	bare := filepath.Join(dir, "plain.git")
	g.run("", "init", "-q", "--bare", bare)
	g.run(bare, "symbolic-ref", "HEAD", "refs/heads/main")
	pkgserver := filepath.Join(binDir, "pkgserver")
	out, err := exec.Command(pkgserver, "hook", "install", "--git-dir", bare).CombinedOutput()
	if err != nil {
		t.Fatalf("hook install: %v\n%s", err, out)
	}
	if got, want := string(out), "installed pre-receive into "+bare+"\n"; got != want {
		t.Errorf("hook install printed %q, want %q", got, want)
	}
	script, err := os.ReadFile(filepath.Join(bare, "hooks", "pre-receive"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(script, []byte("'"+pkgserver+"' 'hook' 'pre-receive'")) {
		t.Errorf("hooks/pre-receive does not run %s hook pre-receive:\n%s", pkgserver, script)
	}
	if _, err := os.Stat(filepath.Join(bare, "hooks", "post-receive")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("post-receive installed without --server (stat: %v)", err)
	}
	remote := fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", me.Username, port, bare)

	// A package on main, published as nginx/v1: accepted.
	work := filepath.Join(dir, "work")
	g.run("", "clone", "-q", remote, work)
	g.run(work, "symbolic-ref", "HEAD", "refs/heads/main")
	g.write(filepath.Join(work, "nginx", "Kptfile"), hookKptfile)
	g.write(filepath.Join(work, "nginx", "deployment.yaml"), hookDeployment("1"))
	g.run(work, "add", ".")
	g.run(work, "commit", "-qm", "Add nginx")
	g.run(work, "tag", "nginx/v1")
	_, stderr := g.run(work, "push", "origin", "main", "nginx/v1")
	if want := "remote: pkgserver: validated 1 package: 0 errors, 0 warnings"; !strings.Contains(stderr, want) {
		t.Errorf("push of a valid package: stderr lacks %q:\n%s", want, stderr)
	}
	before, _ := g.run("", "ls-remote", remote)
	head, _ := g.run(work, "rev-parse", "HEAD")
	for _, ref := range []string{"refs/heads/main", "refs/tags/nginx/v1"} {
		if want := strings.TrimSpace(head) + "\t" + ref + "\n"; !strings.Contains(before, want) {
			t.Errorf("after the push, ls-remote lacks %q:\n%s", want, before)
		}
	}

	// A schema error on a draft branch: refused, the finding shown to the
	// pusher, nothing updated.
	g.run(work, "checkout", "-q", "-b", "drafts/nginx/broken")
	g.write(filepath.Join(work, "nginx", "deployment.yaml"), hookDeployment(`"three"`))
	g.run(work, "commit", "-qam", "Replicas as a string")
	stderr = g.fails(work, "push", "origin", "drafts/nginx/broken")
	for _, want := range []string{
		"remote: nginx/deployment.yaml:6: error: spec.replicas: ",
		"[schema]",
		"remote: pkgserver: refused: 1 validation error in the pushed packages; nothing was updated",
		"pre-receive hook declined",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("push of a schema error: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if after, _ := g.run("", "ls-remote", remote); after != before {
		t.Errorf("a refused push changed the refs:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A published revision moved: refused by the ref rules.
	g.run(work, "tag", "-f", "nginx/v1", "drafts/nginx/broken")
	stderr = g.fails(work, "push", "-f", "origin", "nginx/v1")
	if want := "remote: pkgserver: refused refs/tags/nginx/v1: published revisions are immutable"; !strings.Contains(stderr, want) {
		t.Errorf("a moved tag: stderr lacks %q:\n%s", want, stderr)
	}
	if after, _ := g.run("", "ls-remote", remote); after != before {
		t.Errorf("a refused push changed the refs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// requireSSHTools skips the test when a program it needs is missing, or
// fails it where sshd is required (PKGSERVER_REQUIRE_SSHD=1, as in CI).
func requireSSHTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			needSSHD(t, "%s is not installed (%v)", name, err)
		}
	}
}

func needSSHD(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("PKGSERVER_REQUIRE_SSHD") == "1" {
		t.Fatalf(format+"; PKGSERVER_REQUIRE_SSHD=1 requires the ssh test", args...)
	}
	t.Skipf(format+"; set PKGSERVER_REQUIRE_SSHD=1 to fail instead", args...)
}

// startSSHD starts an sshd on a free port of 127.0.0.1 that lets the user
// in with dir/client_key alone, and stops it when the test ends.
func startSSHD(t *testing.T, dir, username string) int {
	t.Helper()
	for _, key := range []string{"host_key", "client_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	// Running as root, sshd wants its privilege separation directory.
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("the privilege separation directory of sshd: %v", err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	config := filepath.Join(dir, "sshd_config")
	err = os.WriteFile(config, fmt.Appendf(nil, `Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
AllowUsers %s
LogLevel VERBOSE
`, port, filepath.Join(dir, "host_key"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), username), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	// sshd logs to a file, read when something went wrong.
	logPath := filepath.Join(dir, "sshd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logs := func() string {
		data, _ := os.ReadFile(logPath)
		return string(data)
	}
	sshd := exec.Command(sshdPath, "-D", "-e", "-f", config)
	sshd.Stdout, sshd.Stderr = logFile, logFile
	if err := sshd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	logged := false // the log is in a failure already
	exited := make(chan error, 1)
	go func() { exited <- sshd.Wait() }()
	t.Cleanup(func() {
		_ = sshd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = sshd.Process.Kill()
			<-exited
		}
		if t.Failed() && !logged {
			t.Logf("sshd log:\n%s", logs())
		}
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			logged = true
			t.Fatalf("sshd exited at start (%v):\n%s", err, logs())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return port
		} else if time.Now().After(deadline) {
			logged = true
			t.Fatalf("sshd not listening on %s after 20s: %v\n%s", addr, err, logs())
		}
	}
}

// gitClient runs the git client of a test, in its environment.
type gitClient struct {
	t   *testing.T
	env []string
}

// run runs git in dir (the current directory if "") and returns its
// stdout and stderr; it fails the test if git does.
func (g gitClient) run(dir string, args ...string) (stdout, stderr string) {
	g.t.Helper()
	stdout, stderr, err := g.exec(dir, args...)
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout, stderr
}

// fails runs git in dir, which must fail, and returns its stderr.
func (g gitClient) fails(dir string, args ...string) string {
	g.t.Helper()
	_, stderr, err := g.exec(dir, args...)
	if err == nil {
		g.t.Fatalf("git %s succeeded, want a failure:\n%s", strings.Join(args, " "), stderr)
	}
	return stderr
}

func (g gitClient) exec(dir string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), g.env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// write writes a file, and the directories it is in.
func (g gitClient) write(path, data string) {
	g.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

const hookKptfile = `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: nginx
info:
  description: nginx, one replica
`

// hookDeployment is a Deployment with the replicas given, on line 6.
func hookDeployment(replicas string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: ` + replicas + `
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`
}
