package abuse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flood holds connections to addr from the loopback address src until ctx
// ends: each connection either sends nothing or only SSH's version line,
// and is opened again as soon as the server closes it.
func flood(ctx context.Context, wg *sync.WaitGroup, src, addr string, versionOnly, reconnect bool, closed *atomic.Int64) {
	defer wg.Done()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			pause(ctx, 100*time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		if versionOnly {
			_, _ = io.WriteString(c, "SSH-2.0-flood\r\n")
		}
		// Read what the server sends (its version and key exchange
		// offer) until it closes the connection.
		_, _ = io.Copy(io.Discard, c)
		if stop() {
			closed.Add(1)
		}
		c.Close()
		if !reconnect {
			<-ctx.Done()
			return
		}
		pause(ctx, 100*time.Millisecond)
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// sshUser adds a user with a new key and returns the GIT_SSH_COMMAND that
// authenticates as it.
func sshUser(t *testing.T, s *server, name, role string) string {
	t.Helper()
	key := filepath.Join(s.Dir, name+"_ed25519")
	s.Must(t, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key)
	s.Must(t, "", "pkgserver", "user", "add", name, "--ssh-key", key+".pub", "--role", role)
	return "ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 -i " + key
}

// TestSSHHandshakeFlood: connections that never authenticate — bare TCP,
// and clients that stop after the version exchange — from eight addresses
// and from the user's own, more of them than the server's pool of
// handshakes and reconnecting as soon as they are closed, while a user
// clones over SSH with a real key and the real ssh client. The clones
// succeed; the server closes the flood's connections to make room.
func TestSSHHandshakeFlood(t *testing.T) {
	s := startServer(t)
	s.Hosted(t, "blueprints")
	sshCmd := sshUser(t, s, "reader", "read")
	cloneURL := "ssh://git@" + s.SSH + "/default/blueprints.git"

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var closed atomic.Int64
	defer func() { cancel(); wg.Wait() }()
	// 8 addresses × 8 connections, and 4 from the user's own address that
	// are not opened again: 68, more than the 64 handshakes the server
	// holds at once.
	for a := 2; a < 10; a++ {
		for i := range 8 {
			wg.Add(1)
			go flood(ctx, &wg, fmt.Sprintf("127.0.0.%d", a), s.SSH, i%2 == 1, true, &closed)
		}
	}
	for i := range 4 {
		wg.Add(1)
		go flood(ctx, &wg, "127.0.0.1", s.SSH, i%2 == 1, false, &closed)
	}
	// Wait until the flood has filled the server's handshake pool and
	// the server closes the flood's connections to make room (which it
	// does only to handshakes past their first seconds, or beyond their
	// address's share).
	for deadline := time.Now().Add(60 * time.Second); closed.Load() == 0 ||
		!strings.Contains(s.Log(), "closed a connection that had not authenticated to make room"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server closed %d of the flood's connections, none to make room", closed.Load())
		}
	}
	// The user's own address holds 4 of the flood's handshakes, its
	// share: the server refuses the user's connection until the oldest of
	// them is past its first 2 s, and then closes it to make room.
	time.Sleep(3 * time.Second)
	for i := range 3 {
		dir := fmt.Sprintf("clone%d", i)
		out, errOut, err := s.runEnv("", []string{"GIT_SSH_COMMAND=" + sshCmd}, "git", "clone", "-q", cloneURL, dir)
		if err != nil {
			t.Fatalf("clone %d during the flood: %v\n%s%s", i, err, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, dir, ".git")); err != nil {
			t.Fatalf("clone %d: %v", i, err)
		}
	}
}

// TestSSHOneUserCannotTakeTheHost: one read-only user, with the real ssh
// client, starts upload-packs that wait for their client, as many as one
// user may run (set to 2 here); its next clone is refused with a line
// saying why, while another user clones.
func TestSSHOneUserCannotTakeTheHost(t *testing.T) {
	s := startServer(t, "--ssh-per-user", "2")
	s.Hosted(t, "blueprints")
	greedyCmd := sshUser(t, s, "greedy", "read")
	otherCmd := sshUser(t, s, "other", "read")
	host, port, err := net.SplitHostPort(s.SSH)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		args := append(strings.Fields(greedyCmd)[1:], "-p", port, "git@"+host, "git-upload-pack '/default/blueprints.git'")
		cmd := exec.Command("ssh", args...)
		cmd.Env = s.Env
		stdin, err := cmd.StdinPipe() // kept open: git waits for its client
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			cmd.Process.Kill()
			cmd.Wait()
		})
		// The ref advertisement arrives: the upload-pack runs.
		if _, err := io.ReadFull(stdout, make([]byte, 4)); err != nil {
			t.Fatalf("upload-pack %d of the user's share: %v\n%s", i, err, stderr.String())
		}
	}
	cloneURL := "ssh://git@" + s.SSH + "/default/blueprints.git"
	out, errOut, err := s.runEnv("", []string{"GIT_SSH_COMMAND=" + greedyCmd}, "git", "clone", "-q", cloneURL, "greedy")
	if want := "user greedy holds 2 SSH connections, the most one user may have at once"; err == nil || !strings.Contains(errOut, want) {
		t.Errorf("the user's clone beyond its share: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := s.runEnv("", []string{"GIT_SSH_COMMAND=" + otherCmd}, "git", "clone", "-q", cloneURL, "other"); err != nil {
		t.Fatalf("another user's clone: %v\n%s%s", err, out, errOut)
	}
}

// runEnv runs a command as Run does, with env added.
func (s *server) runEnv(dir string, env []string, name string, args ...string) (stdout, stderr string, err error) {
	saved := s.Env
	s.Env = append(append([]string{}, saved...), env...)
	defer func() { s.Env = saved }()
	return s.Run(dir, name, args...)
}

// slowGitRequest starts a smart HTTP POST whose body never arrives in full,
// and returns the connection: the request holds a slot until answered.
func slowGitRequest(t *testing.T, s *server, token string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.HTTP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("git:" + token))
	fmt.Fprintf(c, "POST /git/default/blueprints.git/git-upload-pack HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 100000\r\n\r\n0032want ", s.HTTP, auth)
	return c
}

// TestHTTPSlowRequestsOfOneToken: one read token opens as many slow
// git-over-HTTP requests as the server has slots in all (64). It is given
// its own share (set to 12 here), the rest answer 429, and another token
// still clones.
func TestHTTPSlowRequestsOfOneToken(t *testing.T) {
	const share = 12
	s := startServer(t, "--git-http-requests-per-token", fmt.Sprint(share))
	s.Hosted(t, "blueprints")
	greedy := strings.TrimSpace(s.Must(t, "", "pkgserver", "token", "create", "greedy", "--role", "read"))
	other := strings.TrimSpace(s.Must(t, "", "pkgserver", "token", "create", "other", "--role", "read"))

	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	answers := make(chan answer, 64)
	var conns []net.Conn
	for range 64 {
		c := slowGitRequest(t, s, greedy)
		defer c.Close()
		conns = append(conns, c)
		// However loaded the machine, the requests over the token's
		// share are answered well within this; those within it wait
		// for their body (the server's idle limit is 2 min).
		c.SetReadDeadline(time.Now().Add(90 * time.Second))
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
	// Exactly the requests beyond the share are answered, 429.
	for range 64 - share {
		a := <-answers
		switch {
		case a.err != nil:
			t.Fatalf("a slow request beyond the token's share was not answered: %v", a.err)
		case a.resp.StatusCode != http.StatusTooManyRequests:
			t.Fatalf("a slow request answered %s %q", a.resp.Status, a.body)
		case !strings.Contains(a.body, fmt.Sprintf("%d git requests under way", share)):
			t.Errorf("the 429 does not say the token's share: %q", a.body)
		}
	}
	s.Must(t, "", "git", "clone", "-q", s.GitURL("blueprints", other), "clone")
	// The greedy token itself is told to wait, not served.
	out, errOut, err := s.Run("", "git", "clone", "-q", s.GitURL("blueprints", greedy), "greedy")
	if err == nil || !strings.Contains(out+errOut, "429") {
		t.Errorf("the greedy token's clone beyond its share: %v\n%s%s", err, out, errOut)
	}
	// Those within the share are still waiting for their body: none has
	// been answered when they are cut off here.
	for _, c := range conns {
		c.SetReadDeadline(time.Now())
	}
	for range share {
		if a := <-answers; a.err == nil {
			t.Errorf("a slow request within the token's share answered %s %q", a.resp.Status, a.body)
		} else if !os.IsTimeout(a.err) {
			t.Errorf("a slow request within the token's share: %v", a.err)
		}
	}
}

// leftovers lists the temporary directories of pushes and of pkgserver's
// own work below roots: git's quarantines (objects/tmp_objdir-incoming-*),
// packs being received (tmp_pack_*), and pkgserver's scratch, upgrade and
// repository-creation directories.
func leftovers(t *testing.T, roots ...string) []string {
	t.Helper()
	var found []string
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, "tmp_objdir-incoming-") || strings.HasPrefix(name, "tmp_pack_") || strings.HasPrefix(name, "incoming-") ||
				strings.HasPrefix(name, "pkgserver-scratch-") || strings.HasPrefix(name, "pkgserver-upgrade-") || strings.Contains(name, ".git.tmp-") {
				found = append(found, path)
				if d.IsDir() {
					return filepath.SkipDir
				}
			}
			return nil
		})
	}
	return found
}

// descendants returns the processes below pid (Linux: /proc).
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var p, ppid int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		var state string
		if _, err := fmt.Sscan(string(stat[i+1:]), &state, &ppid); err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	var all []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			all = append(all, c)
			queue = append(queue, c)
		}
	}
	return all
}

// TestKillDuringPushesLeavesNoTemporaryDirectories: the server and the git
// processes it runs are killed (SIGKILL) while pushes are received; the
// quarantines they leave are gone once it has started again, and a push
// then works.
func TestKillDuringPushesLeavesNoTemporaryDirectories(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s := startServer(t)
	remote := s.Hosted(t, "blueprints")
	s.Must(t, "", "git", "clone", "-q", remote, "work")
	// Eight branches, each adding a package of enough files that git
	// receives a pack into a quarantine, pushed at once.
	const n = 8
	for i := range n {
		pkg := fmt.Sprintf("p%d", i)
		s.Must(t, "work", "git", "checkout", "-q", "-b", "drafts/"+pkg+"/v1", "origin/main")
		s.writeFile(t, "work/"+pkg+"/Kptfile", kptfile(pkg))
		for j := range 100 {
			s.writeFile(t, fmt.Sprintf("work/%s/cm%03d.yaml", pkg, j),
				fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%d-%d\ndata:\n  a: %q\n", i, j, strings.Repeat("x", 2000+i+j)))
		}
		s.Must(t, "work", "git", "add", pkg)
		s.Must(t, "work", "git", "commit", "-qm", "Add "+pkg)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ref := fmt.Sprintf("drafts/p%d/v1", i)
			s.Run("work", "git", "push", "-q", "origin", ref+":refs/heads/"+ref)
		})
	}
	// Once pushes are being received, the server and every process it
	// started are killed at once, as when its service is killed.
	for deadline := time.Now().Add(20 * time.Second); len(leftovers(t, s.Data)) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	s.Kill(t)
	wg.Wait()
	left := leftovers(t, s.Data, tmp)
	if len(left) == 0 {
		t.Fatal("the kill left no temporary directory: the case shows nothing")
	}
	t.Logf("after the kill: %d temporary directories: %v", len(left), left)
	s.Restart(t)
	if left := leftovers(t, s.Data, tmp); len(left) > 0 {
		t.Errorf("after a restart, temporary directories are left: %v", left)
	}
	s.Must(t, "work", "git", "push", "-q", "origin", "drafts/p0/v1:refs/heads/drafts/p0/v1")
}
