package gitserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gossh "golang.org/x/crypto/ssh"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/gitrepo/gittest"
	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/reconcile"
	"github.com/pkgserver/pkgserver/internal/store"
)

var metaType = metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "Repository"}

func objectMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

// sshRun runs a command over an SSH session as the given signers (offered
// in order) and returns its standard error and exit status.
func sshRun(t *testing.T, h *host, command string, env map[string]string, signers ...gossh.Signer) (string, int, error) {
	t.Helper()
	cfg := &gossh.ClientConfig{
		User:            "git",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signers...)},
		HostKeyCallback: gossh.FixedHostKey(h.hostKey),
		Timeout:         10 * time.Second,
	}
	c, err := gossh.Dial("tcp", h.sshAddr, cfg)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", 0, err
	}
	defer s.Close()
	for k, v := range env {
		if err := s.Setenv(k, v); err != nil {
			t.Fatalf("setenv %s: %v", k, err)
		}
	}
	var stderr bytes.Buffer
	s.Stderr = &stderr
	s.Stdin = strings.NewReader("0000") // a flush packet: git ends a session at once
	if command == "" {
		err = s.Shell()
		if err == nil {
			err = s.Wait()
		}
	} else {
		err = s.Run(command)
	}
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return stderr.String(), ee.ExitStatus(), nil
	}
	return stderr.String(), 0, err
}

// TestOfferedKeyIsNotIdentity guards against the CVE-2024-45337 pattern: a
// client offers an admin's public key, which the server accepts as a
// candidate, but does not sign with it, then authenticates with its own
// read-only key. The connection is the reader's, never the admin's. The
// client is OpenSSH's, with the admin key in an agent that refuses to sign
// (a key added with confirmation, and no way to confirm).
func TestOfferedKeyIsNotIdentity(t *testing.T) {
	h := startHost(t, options{})
	admin := h.addUser("victim", store.AllNamespaces, store.RoleAdmin)
	reader := h.addUser("attacker", "default", store.RoleRead)
	h.hosted("catalog")

	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agentEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SSH_AUTH_SOCK=" + sock, "SSH_ASKPASS=/bin/false", "SSH_ASKPASS_REQUIRE=force"}
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	agent.Env = agentEnv
	if err := agent.Start(); err != nil {
		t.Skipf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not start")
		}
	}
	add := exec.Command("ssh-add", "-c", admin.keyFile)
	add.Env = agentEnv
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	stolen := filepath.Join(dir, "victim.pub")
	writeFiles(t, dir, map[string]string{"victim.pub": string(gossh.MarshalAuthorizedKey(admin.signer.PublicKey()))})

	ssh := func(command ...string) (string, error) {
		host, port, _ := net.SplitHostPort(h.sshAddr)
		args := []string{"-F", "/dev/null", "-v", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile=" + h.known, "-i", stolen, "-i", reader.keyFile, "-p", port, "git@" + host}
		cmd := exec.Command("ssh", append(args, command...)...)
		cmd.Env = agentEnv
		cmd.Stdin = strings.NewReader("0000")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := ssh()
	if !strings.Contains(out, "Server accepts key: "+stolen) || !strings.Contains(out, "agent refused operation") {
		t.Fatalf("the admin's key was not offered, accepted and left unsigned first, so the test proves nothing:\n%s", out)
	}
	if err == nil || !strings.Contains(out, "hi attacker") {
		t.Errorf("session identity: %v\n%s", err, out)
	}
	out, err = ssh("git-receive-pack '/default/catalog.git'")
	if err == nil || !strings.Contains(out, "user attacker may not push") {
		t.Errorf("push with an offered admin key: %v\n%s", err, out)
	}
	// x/crypto's client, which signs every key it offers: the identity is
	// the key that signed.
	stderr, code, err := sshRun(t, h, "", nil, reader.signer, admin.signer)
	if err != nil || !strings.Contains(stderr, "hi attacker") || code == 0 {
		t.Errorf("first key signs: exit %d, %v, %q", code, err, stderr)
	}
}

// TestCommandsAndPaths: only git's two commands, only repositories that
// are hosted and registered, and no path pkgserver did not resolve itself
// (the CVE-2025-22130 pattern).
func TestCommandsAndPaths(t *testing.T) {
	h := startHost(t, options{})
	alice := h.addUser("alice", "default", store.RoleWrite)
	h.hosted("catalog")
	plain := gittest.New(t)
	plain.Write(gittest.Package("nginx", "1"))
	plain.Commit("nginx")
	code, body := h.api(http.MethodPost, reposPath, configv1alpha1.Repository{TypeMeta: metaType, ObjectMeta: objectMeta("plain"),
		Spec: configv1alpha1.RepositorySpec{Git: configv1alpha1.GitSpec{URL: plain.Dir}}})
	if code != http.StatusCreated {
		t.Fatalf("register plain repository: %d %s", code, body)
	}
	for _, tc := range []struct{ command, want string }{
		{"git-upload-pack '/default/catalog.git'", ""},
		{"git-upload-pack 'default/catalog'", ""},
		{"git-upload-archive '/default/catalog.git'", "git-upload-pack and git-receive-pack only"},
		{"ls -la", "git-upload-pack and git-receive-pack only"},
		{"git-upload-pack", "git-upload-pack and git-receive-pack only"},
		{"git-upload-pack '/default/../default/catalog.git'", "want <namespace>/<name>.git"},
		{"git-upload-pack '/default/..'", "not a valid name"},
		{"git-upload-pack '../../index.db'", "want <namespace>/<name>.git"},
		{"git-upload-pack '" + h.dir + "/repos/default/catalog.git'", "want <namespace>/<name>.git"},
		{"git-upload-pack '/default/catalog.git/../plain.git'", "want <namespace>/<name>.git"},
		{"git-upload-pack '/default/plain.git'", "repository default/plain not found"},
		{"git-upload-pack '/default/missing.git'", "repository default/missing not found"},
		{"git-upload-pack '/other/catalog.git'", "repository other/catalog not found"},
		{"git-upload-pack '/default/catalog.git'; touch /tmp/pwned'", "invalid repository path"},
		{"git-upload-pack \"/default/catalog.git\"", "invalid repository path"},
	} {
		stderr, code, err := sshRun(t, h, tc.command, nil, alice.signer)
		if err != nil {
			t.Fatalf("%s: %v", tc.command, err)
		}
		if tc.want == "" {
			if code != 0 {
				t.Errorf("%s: exit %d: %s", tc.command, code, stderr)
			}
			continue
		}
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %q; want an error saying %q", tc.command, code, stderr, tc.want)
		}
	}
}

// TestClientEnvironmentIsNotGits: what a client sends with SSH env
// requests never reaches git (the CVE-2024-41956 pattern): a
// GIT_CONFIG_PARAMETERS pointing hooks at the client's own script does not
// run it, and pkgserver's hooks still decide.
func TestClientEnvironmentIsNotGits(t *testing.T) {
	h := startHost(t, options{})
	alice := h.addUser("alice", "default", store.RoleWrite)
	h.hosted("catalog")
	evil := t.TempDir()
	marker := filepath.Join(evil, "ran")
	writeFiles(t, evil, map[string]string{"pre-receive": "#!/bin/sh\ntouch " + marker + "\nexit 0\n"})
	if err := os.Chmod(filepath.Join(evil, "pre-receive"), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	h.mustGit(alice, work, "clone", "-q", h.sshURL("catalog"), "w")
	w := filepath.Join(work, "w")
	writeFiles(t, w, map[string]string{"bad/Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: bad\n",
		"bad/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: three\n"})
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "bad")
	cmd := fmt.Sprintf("%s -o SetEnv=GIT_CONFIG_PARAMETERS=\"'core.hookspath'='%s'\" -o SetEnv=LD_PRELOAD=/nonexistent.so", h.sshCommand(alice), evil)
	out, err := h.gitWithSSH(cmd, w, "push", "origin", "HEAD:refs/heads/drafts/bad/ws")
	if err == nil {
		t.Fatalf("a push of an invalid package went through:\n%s", out)
	}
	if !strings.Contains(out, "pkgserver: refused") {
		t.Errorf("pkgserver's hook did not decide:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the client's hook ran on the server")
	}
	// The protocol version is the one thing passed on, checked.
	stderr, code, err := sshRun(t, h, "git-upload-pack '/default/catalog.git'", map[string]string{"GIT_PROTOCOL": "version=2"}, alice.signer)
	if err != nil || code != 0 {
		t.Errorf("protocol v2: exit %d, %v, %s", code, err, stderr)
	}
}

func (h *host) gitWithSSH(sshCommand, dir string, args ...string) (string, error) {
	cmd := execGit(dir, args...)
	cmd.Env = append(gitEnv(dir), "GIT_SSH_COMMAND="+sshCommand)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestLimits: authenticated connections over the limit are closed at once,
// connections that do not authenticate neither count against it nor stay
// beyond the handshake timeout, and a push over the size limit is refused.
func TestLimits(t *testing.T) {
	h := startHost(t, options{
		limits: gitserver.Limits{MaxPushBytes: 64 << 10, IdleSeconds: 10},
		ssh: gitserver.SSHConfig{MaxConnections: 2, HandshakeTimeout: 500 * time.Millisecond,
			LoginTimeout: 5 * time.Second, SessionsPerConnection: 4},
	})
	alice := h.addUser("alice", "default", store.RoleWrite)
	h.hosted("catalog")

	// Two idle connections that never authenticate take no slot.
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", h.sshAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// Two authenticated connections take the slots; a third is closed.
	for range 2 {
		c, err := gossh.Dial("tcp", h.sshAddr, &gossh.ClientConfig{User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice.signer)},
			HostKeyCallback: gossh.FixedHostKey(h.hostKey), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if _, _, err := sshRun(t, h, "", nil, alice.signer); err == nil {
		t.Error("a connection over the limit was served")
	}
	// The idle ones never authenticated: they are closed within the
	// handshake timeout.
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("an idle connection was not closed by the server: %v", err)
		}
	}
	// The authenticated ones never started a command: closed after the
	// login timeout, their slots free again.
	var served error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, _, served = sshRun(t, h, "git-upload-pack '/default/catalog.git'", nil, alice.signer); served == nil {
			break
		}
	}
	if served != nil {
		t.Errorf("after the idle connections were closed: %v", served)
	}

	// Sessions on one connection are bounded too: four upload-packs wait
	// for their client, the fifth is refused.
	client, err := gossh.Dial("tcp", h.sshAddr, &gossh.ClientConfig{User: "git", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice.signer)},
		HostKeyCallback: gossh.FixedHostKey(h.hostKey), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for i := range 5 {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		var stderr bytes.Buffer
		sess.Stderr = &stderr
		stdout, _ := sess.StdoutPipe()
		if _, err := sess.StdinPipe(); err != nil { // kept open: git waits
			t.Fatal(err)
		}
		if err := sess.Start("git-upload-pack '/default/catalog.git'"); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			// The ref advertisement arrives: the session runs.
			if _, err := stdout.Read(make([]byte, 4)); err != nil {
				t.Fatalf("session %d: %v %s", i, err, stderr.String())
			}
			continue
		}
		if err := sess.Wait(); err == nil || !strings.Contains(stderr.String(), "at most 4 sessions at once on one connection") {
			t.Errorf("fifth session: %v %q", err, stderr.String())
		}
	}
	client.Close()

	// A pack over 64 KiB is refused by git itself; nothing changes.
	work := t.TempDir()
	h.mustGit(alice, work, "clone", "-q", h.sshURL("catalog"), "w")
	w := filepath.Join(work, "w")
	big := make([]byte, 256<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, w, map[string]string{"blob.bin": hex.EncodeToString(big)})
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "big")
	before := h.mustGit(alice, w, "ls-remote", "origin")
	out, err := h.git(alice, w, "push", "origin", "HEAD:refs/heads/big")
	if err == nil || !strings.Contains(out, "pack exceeds maximum allowed size") {
		t.Errorf("a push over the limit: %v\n%s", err, out)
	}
	if after := h.mustGit(alice, w, "ls-remote", "origin"); after != before {
		t.Errorf("refs changed:\n%s\nthen\n%s", before, after)
	}
}

// TestConcurrentPushes: writers push to one repository at once, two of them
// the same new tag from different commits. Each push is accepted or cleanly
// refused, no tag takes two numbers, and the index ends equal to what git
// holds.
func TestConcurrentPushes(t *testing.T) {
	h := startHost(t, options{})
	alice := h.addUser("alice", "default", store.RoleWrite)
	h.hosted("catalog")
	seed := t.TempDir()
	h.mustGit(alice, seed, "clone", "-q", h.sshURL("catalog"), "w")
	w := filepath.Join(seed, "w")
	files := map[string]string{}
	for i := range 4 {
		for p, c := range gittest.Package(fmt.Sprintf("app%d", i), "1") {
			files[p] = c
		}
	}
	writeFiles(t, w, files)
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "four packages")
	h.mustGit(alice, w, "push", "-q", "origin", "main")

	const writers = 6
	var wg sync.WaitGroup
	results := make([]error, writers)
	outs := make([]string, writers)
	for i := range writers {
		dir := t.TempDir()
		h.mustGit(alice, dir, "clone", "-q", h.sshURL("catalog"), "w")
		wd := filepath.Join(dir, "w")
		var refspecs []string
		switch {
		case i < 2:
			// Both publish app0/v1 from their own main commit.
			writeFiles(t, wd, gittest.Package("app0", fmt.Sprintf("writer-%d", i)))
			h.mustGit(nil, wd, "commit", "-qam", fmt.Sprintf("app0 by %d", i))
			h.mustGit(nil, wd, "tag", "app0/v1")
			refspecs = []string{"--atomic", "origin", "main", "app0/v1"}
		default:
			pkg := fmt.Sprintf("app%d", i-2)
			writeFiles(t, wd, gittest.Package(pkg, fmt.Sprintf("draft-%d", i)))
			h.mustGit(nil, wd, "commit", "-qam", "draft")
			refspecs = []string{"origin", fmt.Sprintf("HEAD:refs/heads/drafts/%s/w%d", pkg, i)}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], results[i] = h.git(alice, wd, append([]string{"push"}, refspecs...)...)
		}()
	}
	wg.Wait()
	published := 0
	for i, err := range results {
		switch {
		case i < 2 && err == nil:
			published++
		case i < 2:
			if !strings.Contains(outs[i], "rejected") && !strings.Contains(outs[i], "failed") && !strings.Contains(outs[i], "refused") {
				t.Errorf("writer %d was refused without a reason:\n%s", i, outs[i])
			}
		case err != nil:
			t.Errorf("draft push %d failed: %v\n%s", i, err, outs[i])
		}
	}
	if published != 1 {
		t.Errorf("%d writers published app0/v1, want exactly 1:\n%s\n%s", published, outs[0], outs[1])
	}

	// The index equals what git holds: compare with a derivation from git.
	g, err := gitrepo.Open(filepath.Join(h.dir, "repos", "default", "catalog.git"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := h.store.GetRepository(context.Background(), "default", "catalog")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := reconcile.Preview(context.Background(), g, repo.Config())
	if err != nil {
		t.Fatal(err)
	}
	list, err := h.store.ListRevisions(context.Background(), store.ListOptions{Namespace: "default", Repository: "catalog"})
	if err != nil {
		t.Fatal(err)
	}
	var gotNames, wantNames []string
	for _, r := range list.Items {
		gotNames = append(gotNames, r.Name+"@"+r.Commit)
	}
	for _, r := range want {
		wantNames = append(wantNames, r.Name+"@"+r.Commit)
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("index:\n%v\ngit:\n%v", gotNames, wantNames)
	}
}

// TestSmartHTTP: basic authentication with a token as the password, roles,
// and only the smart protocol's endpoints.
func TestSmartHTTP(t *testing.T) {
	h := startHost(t, options{})
	h.hosted("catalog")
	reader := h.token("reader", "default", store.RoleRead)
	writer := h.token("writer", "default", store.RoleWrite)
	other := h.token("other", "other", store.RoleWrite)
	base := "http://" + h.httpAddr + gitserver.HTTPPrefix + "default/catalog.git"
	get := func(path, token string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.SetBasicAuth("x", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/info/refs?service=git-upload-pack", "", 401},
		{"/info/refs?service=git-upload-pack", "pks_forged", 401},
		{"/info/refs?service=git-upload-pack", reader, 200},
		{"/info/refs?service=git-receive-pack", reader, 403},
		{"/info/refs?service=git-receive-pack", writer, 200},
		{"/info/refs?service=git-upload-pack", other, 403},
		{"/info/refs", reader, 404},          // the dumb protocol
		{"/HEAD", reader, 404},               // the dumb protocol
		{"/objects/info/packs", reader, 404}, // the dumb protocol
		{"/../../index.db", reader, 404},
	} {
		code, hdr, body := get(tc.path, tc.token)
		if code != tc.want {
			t.Errorf("GET %s: %d %q, want %d", tc.path, code, body, tc.want)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("GET %s: 401 without a Basic challenge", tc.path)
		}
	}
	// A push over HTTP runs the same hooks as one over SSH.
	work := t.TempDir()
	url := strings.Replace(base, "http://", "http://writer:"+writer+"@", 1)
	h.mustGit(nil, work, "clone", "-q", url, "w")
	w := filepath.Join(work, "w")
	writeFiles(t, w, gittest.Package("nginx", "1"))
	// An image without a tag: a warning of the default policies.
	writeFiles(t, w, map[string]string{"nginx/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: nginx\n"})
	h.mustGit(nil, w, "add", ".")
	h.mustGit(nil, w, "commit", "-qm", "nginx")
	out := h.mustGit(nil, w, "push", "origin", "HEAD:refs/heads/drafts/nginx/first")
	if !strings.Contains(out, "pkgserver: indexed default/catalog") {
		t.Errorf("push over HTTP:\n%s", out)
	}
	r, err := h.store.GetRevision(context.Background(), "default", "catalog.nginx.first")
	if err != nil {
		t.Fatalf("the draft pushed over HTTP is not in the index: %v", err)
	}
	// The hook's validation of the package is kept for its revision.
	if r.Validation == nil || r.Validation.Errors != 0 || r.Validation.Warnings != 1 {
		t.Fatalf("validation of the pushed draft: %+v\n%s", r.Validation, out)
	}
	repo, _ := h.store.GetRepository(context.Background(), "default", "catalog")
	v, err := h.store.Validation(context.Background(), repo.ID, r.Tree)
	if err != nil || !strings.Contains(string(v.Results), "nginx/pod.yaml") {
		t.Errorf("findings kept: %s, %v", v.Results, err)
	}
}
