// Package e2e runs the real kubectl against a real pkgserver over TLS: every
// command a user reaches for, with kubectl's default settings, and after each
// write what git and the index hold. It is a module of its own so that
// kubectl's dependencies stay out of pkgserver's; `make e2e-kubectl` runs it.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The API paths the test checks the server's answers at.
const (
	reposPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"
	revsPath  = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
)

// bins holds the programs under test, built once by TestMain: pkgserver from
// this checkout, kubectl from the k8s.io/kubectl module this module pins.
var bins struct{ pkgserver, kubectl string }

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pkgserver-kubectl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins.pkgserver = filepath.Join(dir, "pkgserver")
	bins.kubectl = filepath.Join(dir, "kubectl")
	ldflags, err := kubectlVersionFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// pkgserver is built in the main module (a path outside this module
	// cannot be built from here); kubectl in this one.
	for _, b := range []struct{ dir, out, pkg, ldflags string }{
		{"../..", bins.pkgserver, "./cmd/pkgserver", ""},
		{".", bins.kubectl, "./cmd/kubectl", ldflags},
	} {
		build := exec.Command("go", "build", "-ldflags", b.ldflags, "-o", b.out, b.pkg)
		build.Dir = b.dir
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b.pkg, err)
			return 1
		}
	}
	return m.Run()
}

// kubectlVersionFlags are the linker flags that give kubectl its version, as
// Kubernetes' release build does: v1.N.P for the k8s.io/kubectl module's
// v0.N.P. kubectl shows it and sends it in its User-Agent.
func kubectlVersionFlags() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "k8s.io/kubectl").Output()
	if err != nil {
		return "", fmt.Errorf("the version of k8s.io/kubectl: %v %s", err, exitStderr(err))
	}
	var minor, patch int
	mod := strings.TrimSpace(string(out))
	if _, err := fmt.Sscanf(mod, "v0.%d.%d", &minor, &patch); err != nil {
		return "", fmt.Errorf("the version of k8s.io/kubectl, %q: %v", mod, err)
	}
	var flags []string
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		flags = append(flags, fmt.Sprintf("-X %s.gitVersion=v1.%d.%d -X %s.gitMajor=1 -X %s.gitMinor=%d -X %s.gitTreeState=clean",
			pkg, minor, patch, pkg, pkg, minor, pkg))
	}
	return strings.Join(flags, " "), nil
}

// server is a running `pkgserver serve` over TLS with its own data
// directory, and what kubectl needs to reach it.
type server struct {
	data       string
	url        string // https://127.0.0.1:PORT
	kubeconfig string
	home       string       // kubectl's HOME: its discovery cache is the test's own
	client     *http.Client // the kubeconfig's credentials, for checking the API's answers
}

// startServer starts pkgserver with a self-signed certificate and writes the
// kubeconfig `pkgserver kubeconfig` prints for it.
func startServer(t *testing.T) *server {
	t.Helper()
	root := t.TempDir()
	s := &server{data: filepath.Join(root, "data"), home: filepath.Join(root, "home")}
	if err := os.MkdirAll(s.home, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s.url = "https://" + addr

	logPath := filepath.Join(root, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.pkgserver, "serve", "--data", s.data, "--http", addr, "--ssh", "", "--tls-self-signed")
	cmd.Env = pkgserverEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("server log (last lines):\n%s", lastLines(string(b), 40))
		}
	})
	serverLog := func() string {
		b, _ := os.ReadFile(logPath)
		return lastLines(string(b), 20)
	}

	// Ready when /readyz answers over TLS with a certificate the generated
	// CA signed.
	caFile := filepath.Join(s.data, "tls", "ca.crt")
	var last error
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("pkgserver serve exited: %v\n%s", err, serverLog())
		default:
		}
		if last = readyz(s.url, caFile); last == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pkgserver not ready over TLS with %s after 60s: %v\n%s", caFile, last, serverLog())
		}
	}

	out, err := s.pkgserver("kubeconfig", "--data", s.data, "--server", s.url)
	if err != nil {
		t.Fatalf("pkgserver kubeconfig: %v\n%s", err, exitStderr(err))
	}
	s.kubeconfig = filepath.Join(root, "kubeconfig")
	if err := os.WriteFile(s.kubeconfig, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatalf("the kubeconfig pkgserver printed: %v\n%s", err, out)
	}
	if cfg.Host != s.url {
		t.Fatalf("the kubeconfig's server is %q, want %q", cfg.Host, s.url)
	}
	if s.client, err = rest.HTTPClientFor(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// adminToken is the token serve made at its first start.
func (s *server) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// pkgserverEnv is the environment pkgserver runs in: the caller's without
// PKGSERVER_* settings (a database, a token), which would make the server
// or its commands other than the test's.
func pkgserverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PKGSERVER_") {
			env = append(env, kv)
		}
	}
	return env
}

// pkgserver runs a command of pkgserver's and returns its standard output.
func (s *server) pkgserver(args ...string) ([]byte, error) {
	cmd := exec.Command(bins.pkgserver, args...)
	cmd.Env = pkgserverEnv()
	return cmd.Output()
}

func readyz(url, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", caFile)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(url + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// result is what one kubectl run did.
type result struct {
	args           []string
	stdout, stderr string
	code           int // exit code; -1 if it did not run to an exit
}

func (r result) String() string {
	return fmt.Sprintf("$ kubectl %s  (exit %d)\nstdout:\n%sstderr:\n%s", strings.Join(r.args, " "),
		r.code, firstLines(r.stdout, 30), firstLines(r.stderr, 30))
}

// env is the environment kubectl runs in: the server's kubeconfig, a HOME of
// its own, and extra (NAME=value) on top.
func (s *server) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KUBECONFIG", "HOME", "EDITOR", "KUBE_EDITOR":
			continue
		}
		if strings.HasPrefix(name, "KUBECTL_") || strings.HasPrefix(name, "KUBE_FEATURE_") {
			continue // kubectl's defaults, not whatever the caller's shell sets
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"KUBECONFIG=" + s.kubeconfig, "HOME=" + s.home}, extra...)...)
}

// run runs kubectl with args, with extra environment, and returns what it
// did, logging it.
func (s *server) run(t *testing.T, extra []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.kubectl, args...)
	cmd.Env = s.env(extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		r.code = exit.ExitCode()
	default:
		r.code = -1
		r.stderr += "\n(run: " + err.Error() + ")"
	}
	t.Log(r)
	return r
}

// kubectl runs kubectl and fails the test unless it exits 0.
func (s *server) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := s.run(t, nil, "", args...)
	if r.code != 0 {
		t.Fatalf("kubectl %s: exit %d: %s", strings.Join(args, " "), r.code, firstLines(r.stderr, 5))
	}
	return r.stdout
}

// kubectlFails runs kubectl and fails the test unless it exits non-zero
// with stdout and stderr together matching every one of want.
func (s *server) kubectlFails(t *testing.T, want []string, args ...string) result {
	t.Helper()
	r := s.run(t, nil, "", args...)
	if r.code <= 0 {
		t.Fatalf("kubectl %s: exit %d, want a failure", strings.Join(args, " "), r.code)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("kubectl %s: the output lacks %q", strings.Join(args, " "), w)
		}
	}
	return r
}

// do sends a request to the API with the kubeconfig's credentials and
// returns the answer's status code and body, decoded.
func (s *server) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatalf("%s %s: %s: not JSON: %v\n%s", method, path, resp.Status, err, b)
		}
	}
	return resp.StatusCode, obj
}

// mustDo is do, failing the test unless the answer's code is want.
func (s *server) mustDo(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	code, obj := s.do(t, method, path, body)
	if code != want {
		b, _ := json.Marshal(obj)
		t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	return obj
}

// field returns the value at path in obj (nil if any step is missing).
func field(obj any, path ...string) any {
	for _, p := range path {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil
		}
		obj = m[p]
	}
	return obj
}

// str is field as a string ("" if it is not one).
func str(obj any, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

// durationOf reads a duration the API shows ("60s", "1m0s").
func durationOf(t *testing.T, obj any, path ...string) time.Duration {
	t.Helper()
	s := str(obj, path...)
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s is %q, not a duration", strings.Join(path, "."), s)
	}
	return d
}

// fromYAML decodes kubectl's YAML output.
func fromYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(s), &obj); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, s)
	}
	return obj
}

// writeFile writes content into a new file of the test's and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n") + "\n"
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("[%d more lines]", len(lines)-n))
	}
	return strings.Join(lines, "\n") + "\n"
}

func exitStderr(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return ""
}
