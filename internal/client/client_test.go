package client_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/client"
)

// tlsServer answers an empty list of repositories over https, with a
// certificate of its own CA; caFile holds that CA.
func tlsServer(t *testing.T) (srv *httptest.Server, caFile string) {
	t.Helper()
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pks_test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"RepositoryList","apiVersion":"config.pkg.pkgserver.dev/v1alpha1","metadata":{},"items":[]}`))
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, caFile
}

func TestOpenTrustsCAFile(t *testing.T) {
	srv, caFile := tlsServer(t)
	c, err := client.Open(client.Options{Server: srv.URL, Token: "pks_test", CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRepositories(context.Background(), "default"); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	c, err = client.Open(client.Options{Server: srv.URL, Token: "pks_test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRepositories(context.Background(), "default"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v", err)
	}
}

func TestOpenSaysWhichScheme(t *testing.T) {
	srv, caFile := tlsServer(t)
	plain := "http://" + strings.TrimPrefix(srv.URL, "https://")
	c, err := client.Open(client.Options{Server: plain, Token: "pks_test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListRepositories(context.Background(), "default")
	if want := "serves https: use " + srv.URL; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("http to an https server: %v, want %q", err, want)
	}

	httpSrv := httptest.NewServer(http.NotFoundHandler())
	defer httpSrv.Close()
	secure := "https://" + strings.TrimPrefix(httpSrv.URL, "http://")
	if c, err = client.Open(client.Options{Server: secure, Token: "pks_test", CAFile: caFile}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListRepositories(context.Background(), "default")
	if want := "serves plain http: use " + httpSrv.URL; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("https to an http server: %v, want %q", err, want)
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Options{
		{Server: "127.0.0.1:7007"},
		{Server: "ftp://127.0.0.1:7007"},
		{Server: "https://"},
		{Server: "https://127.0.0.1:7007", CAFile: filepath.Join(dir, "missing.crt")},
		{Server: "https://127.0.0.1:7007", CAFile: notPEM},
	} {
		if _, err := client.Open(o); err == nil {
			t.Errorf("Open(%+v) = nil error", o)
		}
	}
}
