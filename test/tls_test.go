package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pkgserver/pkgserver/internal/certs"
	"github.com/pkgserver/pkgserver/internal/gitserver"
)

// tlsEnv is the environment of the commands a TLS test runs: nothing of the
// caller's pkgserver or git settings (GIT_SSL_CAINFO would override the CA
// a clone is given), git's identity, and serve's address, which the client
// commands derive the server's URL from.
func tlsEnv(home, httpAddr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PKGSERVER_") || strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "PKGSERVER_HTTP="+httpAddr,
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// run runs a command in dir with env and returns its standard output; it
// fails the test if the command fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func runErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// startTLSServer starts `pkgserver serve --tls-self-signed` in dir and waits
// until it answers /readyz over https, trusting the CA it made.
func startTLSServer(t *testing.T, dir string, env []string) (caFile string) {
	t.Helper()
	serve := exec.Command(filepath.Join(binDir, "pkgserver"), "serve", "--tls-self-signed", "--ssh", "")
	serve.Dir, serve.Env = dir, env
	var log bytes.Buffer
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			serve.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
		// A token never reaches the log.
		for _, name := range []string{"admin.token"} {
			if tok, err := os.ReadFile(filepath.Join(dir, ".pkgserver", name)); err == nil && bytes.Contains(log.Bytes(), bytes.TrimSpace(tok)) {
				t.Errorf("the server log holds %s", name)
			}
		}
	})
	caFile = filepath.Join(dir, ".pkgserver", "tls", "ca.crt")
	httpAddr := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PKGSERVER_HTTP="); ok {
			httpAddr = v
		}
	}
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("serve exited: %v\n%s", err, log.String())
		default:
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			last = err
			continue
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get("https://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return caFile
			}
			err = errors.New(resp.Status)
		}
		last = err
	}
	t.Fatalf("not ready after 30 s: %v\n%s", last, log.String())
	return ""
}

// TestTLSKubeconfig serves https with a self-signed certificate and reaches
// the server as its users do: the pkgserver CLI, git over https, and
// client-go with the kubeconfig `pkgserver kubeconfig` prints.
func TestTLSKubeconfig(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	env := tlsEnv(dir, httpAddr)
	caFile := startTLSServer(t, dir, env)
	pkgserver := filepath.Join(binDir, "pkgserver")
	url := "https://" + httpAddr

	// Plain HTTP on the TLS port is refused, and the CLI says why.
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain http to the TLS port: %s", resp.Status)
	}
	if _, err := runErr(dir, env, pkgserver, "repo", "list", "--server", "http://"+httpAddr); err == nil ||
		!strings.Contains(err.Error(), "serves https: use "+url) {
		t.Errorf("repo list over http: %v", err)
	}

	// The CLI finds the server over https and trusts its CA: no flags.
	out := run(t, dir, env, pkgserver, "repo", "add", "blueprints", "--hosted")
	if !strings.Contains(out, "clone: git clone "+url+"/git/default/blueprints.git") {
		t.Errorf("repo add: the https clone URL is missing:\n%s", out)
	}

	// git over https with the CA and a token: clone, and push a draft
	// (its hooks reach the server while it serves TLS).
	admin, err := os.ReadFile(filepath.Join(dir, ".pkgserver", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	remote := "https://x:" + strings.TrimSpace(string(admin)) + "@" + httpAddr + "/git/default/blueprints.git"
	run(t, dir, env, "git", "-c", "http.sslCAInfo="+caFile, "clone", "-q", remote, "blueprints")
	if _, err := runErr(dir, env, "git", "clone", "-q", remote, "untrusted"); err == nil {
		t.Error("a clone that does not trust the CA succeeded")
	}
	work := filepath.Join(dir, "blueprints")
	if err := os.MkdirAll(filepath.Join(work, "nginx"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"Kptfile":        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: nginx\n",
		"configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nginx\ndata:\n  replicas: \"1\"\n",
	} {
		if err := os.WriteFile(filepath.Join(work, "nginx", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, work, env, "git", "checkout", "-q", "-b", "drafts/nginx/first")
	run(t, work, env, "git", "add", ".")
	run(t, work, env, "git", "commit", "-qm", "Add nginx")
	run(t, work, env, "git", "-c", "http.sslCAInfo="+caFile, "push", "-q", "origin", "drafts/nginx/first")

	// The hooks run over TLS: pre-receive refuses a broken package and
	// says why. They reach the server on a loopback listener of their own;
	// the public listener does not answer them.
	run(t, work, env, "git", "checkout", "-q", "-b", "drafts/nginx/broken")
	if err := os.WriteFile(filepath.Join(work, "nginx", "broken.yaml"), []byte("apiVersion: v1\nmetadata:\n  name: broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, env, "git", "add", ".")
	run(t, work, env, "git", "commit", "-qm", "Break nginx")
	if _, err := runErr(work, env, "git", "-c", "http.sslCAInfo="+caFile, "push", "-q", "origin", "drafts/nginx/broken"); err == nil ||
		!strings.Contains(err.Error(), "resource has no kind") {
		t.Errorf("push of a broken package over https: %v", err)
	}
	run(t, work, env, "git", "checkout", "-q", "drafts/nginx/first")
	caPool := x509.NewCertPool()
	if pem, err := os.ReadFile(caFile); err != nil || !caPool.AppendCertsFromPEM(pem) {
		t.Fatalf("read the CA: %v", err)
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	for _, hook := range []string{"pre-receive", "post-receive"} {
		resp, err := trusting.Post(url+gitserver.HookPrefix+hook, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s%s%s on the TLS listener: %s, want 404 Not Found", url, gitserver.HookPrefix, hook, resp.Status)
		}
	}

	// The kubeconfig: the server's URL from serve's address, its CA, the
	// admin token.
	kubeconfig := run(t, dir, env, pkgserver, "kubeconfig")
	raw, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cluster := raw.Clusters["pkgserver"]
	if raw.CurrentContext != "pkgserver" || cluster == nil || cluster.Server != url || !bytes.Equal(cluster.CertificateAuthorityData, caPEM) {
		t.Fatalf("kubeconfig:\n%s", kubeconfig)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BearerToken != strings.TrimSpace(string(admin)) {
		t.Error("the kubeconfig does not carry the admin token")
	}
	revisions := schema.GroupVersionResource{Group: "pkg.pkgserver.dev", Version: "v1alpha1", Resource: "packagerevisions"}
	repositories := schema.GroupVersionResource{Group: "config.pkg.pkgserver.dev", Version: "v1alpha1", Resource: "repositories"}
	names := func(cfg *rest.Config) ([]string, error) {
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		list, err := dyn.Resource(revisions).Namespace("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, it := range list.Items {
			names = append(names, it.GetName())
		}
		return names, nil
	}
	got, err := names(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "blueprints.nginx.first") {
		t.Errorf("package revisions through the kubeconfig: %v", got)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := dyn.Resource(repositories).Namespace("default").Get(context.Background(), "blueprints", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if clone, _, _ := unstructured.NestedString(repo.Object, "status", "cloneURLs", "http"); clone != url+"/git/default/blueprints.git" {
		t.Errorf("status.cloneURLs.http = %q", clone)
	}

	// A watch over TLS (HTTP/2, as client-go negotiates it) sees a push.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := dyn.Resource(revisions).Namespace("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run(t, work, env, "git", "checkout", "-q", "-b", "drafts/nginx/second")
	run(t, work, env, "git", "-c", "http.sslCAInfo="+caFile, "push", "-q", "origin", "drafts/nginx/second")
	for seen := false; !seen; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended before the push was seen")
			}
			if u, isObj := ev.Object.(*unstructured.Unstructured); isObj && u.GetName() == "blueprints.nginx.second" {
				seen = true
			}
		case <-ctx.Done():
			t.Fatal("no event for the pushed draft within a minute")
		}
	}

	// Without the CA, client-go refuses the server.
	noCA := rest.CopyConfig(cfg)
	noCA.CAData = nil
	if _, err := names(noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("client-go without the CA: %v", err)
	}

	// A read token's kubeconfig reads, and carries that token only.
	tok := strings.TrimSpace(run(t, dir, env, pkgserver, "token", "create", "ci", "--role", "read"))
	tokFile := filepath.Join(dir, "ci.token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig = run(t, dir, env, pkgserver, "kubeconfig", "--token-file", tokFile, "--server", url, "-n", "default")
	if strings.Contains(kubeconfig, strings.TrimSpace(string(admin))) {
		t.Error("the read token's kubeconfig holds the admin token")
	}
	if cfg, err = clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig)); err != nil {
		t.Fatal(err)
	}
	if got, err := names(cfg); err != nil || !slices.Contains(got, "blueprints.nginx.first") {
		t.Errorf("package revisions with the read token: %v, %v", got, err)
	}
}

// TestTLSRefusesBadPair starts serve with a certificate and another's key,
// and with a certificate file that is missing: it stops at once, says why,
// and starts nothing.
func TestTLSRefusesBadPair(t *testing.T) {
	dir := t.TempDir()
	env := tlsEnv(dir, freeAddr(t))
	// A CA and a serving certificate as an operator might have them.
	certDir := filepath.Join(dir, "certs")
	if _, err := certs.Ensure(certs.Options{Dir: certDir, Hosts: []string{"localhost"}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, cert, key, wantErr string
	}{
		{"key of another certificate", certs.CertFile, certs.CAKeyFile, "private key does not match public key"},
		{"missing certificate", "missing.crt", certs.KeyFile, "missing.crt: no such file or directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			cmd := exec.Command(filepath.Join(binDir, "pkgserver"), "serve", "--data", data, "--ssh", "",
				"--tls-cert-file", filepath.Join(certDir, tt.cert), "--tls-private-key-file", filepath.Join(certDir, tt.key))
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), tt.wantErr) {
				t.Fatalf("serve: %v\n%s", err, out)
			}
			if _, err := os.Stat(filepath.Join(data, "admin.token")); !os.IsNotExist(err) {
				t.Errorf("a refused start made an admin token: %v", err)
			}
		})
	}
}
