package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkgserver/pkgserver/internal/gitserver"
	"github.com/pkgserver/pkgserver/internal/server"
	"github.com/pkgserver/pkgserver/internal/store/sqlstore"
)

// TestHooksOnPublicListener: without TLS, hooks post to the API's own
// listener (on loopback) and it answers them; with TLS, they have a loopback
// listener of their own and the public listener does not know their paths.
func TestHooksOnPublicListener(t *testing.T) {
	for _, tt := range []struct {
		name     string
		tls      bool
		wantCode int
	}{
		{"plain http", false, http.StatusUnauthorized}, // the hook handler: no push has this token
		{"tls", true, http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, client := startServer(t, tt.tls)
			for _, hook := range []string{"pre-receive", "post-receive"} {
				req, err := http.NewRequest(http.MethodPost, base+gitserver.HookPrefix+hook, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer not-a-push-token")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.wantCode {
					t.Errorf("POST %s%s: %s, want %d", gitserver.HookPrefix, hook, resp.Status, tt.wantCode)
				}
			}
		})
	}
}

// startServer serves a new server on a loopback port until the test ends
// and returns its URL and a client that trusts it.
func startServer(t *testing.T, withTLS bool) (string, *http.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	data := t.TempDir()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(data, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{DataDir: data, Store: st, Log: discard, HookCommand: []string{"false"}, ShutdownTimeout: 5 * time.Second}
	client, scheme := &http.Client{Timeout: 10 * time.Second}, "http"
	if withTLS {
		if cfg.TLS, err = server.LoadTLS(server.TLSOptions{SelfSigned: true, HTTPAddr: "127.0.0.1:0"}, data, discard); err != nil {
			t.Fatal(err)
		}
		pem, err := os.ReadFile(server.CAPath(data))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		client.Transport, scheme = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, "https"
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	base := scheme + "://" + ln.Addr().String()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, client
			}
			err = errors.New(resp.Status)
		}
		last = err
	}
	t.Fatalf("not ready: %v", last)
	return "", nil
}
