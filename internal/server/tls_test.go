package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/certs"
	"github.com/pkgserver/pkgserver/internal/server"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// names are the names of the certificate c serves.
func names(c *tls.Config) []string {
	var leaf *x509.Certificate
	if c.GetCertificate != nil {
		cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			panic(err)
		}
		leaf = cert.Leaf
	} else {
		leaf = c.Certificates[0].Leaf
	}
	out := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func TestLoadTLSSelfSigned(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		name     string
		opts     server.TLSOptions
		want     []string
		wantNot  []string
		hostname bool
	}{
		{name: "loopback", opts: server.TLSOptions{SelfSigned: true, HTTPAddr: "127.0.0.1:7007"},
			want: []string{"localhost", "127.0.0.1", "::1"}},
		{name: "a name and more", opts: server.TLSOptions{SelfSigned: true, HTTPAddr: "pkg.internal:7007", SANs: []string{"pkg.example.com", "10.1.2.3"}},
			want: []string{"localhost", "127.0.0.1", "::1", "pkg.internal", "pkg.example.com", "10.1.2.3"}},
		{name: "an address", opts: server.TLSOptions{SelfSigned: true, HTTPAddr: "192.0.2.10:443"},
			want: []string{"192.0.2.10"}},
		{name: "wildcard", opts: server.TLSOptions{SelfSigned: true, HTTPAddr: ":7007"},
			want: []string{"localhost"}, wantNot: []string{"0.0.0.0", "::"}, hostname: true},
		{name: "IPv6 wildcard", opts: server.TLSOptions{SelfSigned: true, HTTPAddr: "[::]:7007"},
			want: []string{"::1"}, wantNot: []string{"::"}, hostname: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			cfg, err := server.LoadTLS(tt.opts, data, discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %x", cfg.MinVersion)
			}
			got := names(cfg)
			for _, n := range tt.want {
				if !slices.Contains(got, n) {
					t.Errorf("names %v lack %s", got, n)
				}
			}
			for _, n := range tt.wantNot {
				if slices.Contains(got, n) {
					t.Errorf("names %v hold %s", got, n)
				}
			}
			if tt.hostname && certs.CheckHost(host) == nil && !slices.Contains(got, strings.ToLower(host)) {
				t.Errorf("names %v lack the machine's name %s", got, host)
			}
			if _, err := os.Stat(server.CAPath(data)); err != nil {
				t.Errorf("CA: %v", err)
			}
		})
	}
}

func TestLoadTLSFiles(t *testing.T) {
	// A certificate and key as an operator would be given them.
	made := t.TempDir()
	r, err := certs.Ensure(certs.Options{Dir: made, Hosts: []string{"pkg.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cfg, err := server.LoadTLS(server.TLSOptions{CertFile: r.CertPath, KeyFile: r.KeyPath, HTTPAddr: ":443"}, data, discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(cfg); !slices.Equal(got, []string{"pkg.example.com"}) {
		t.Errorf("names = %v", got)
	}
	if _, err := os.Stat(filepath.Join(data, server.TLSDir)); !os.IsNotExist(err) {
		t.Errorf("a certificate from files made %s: %v", server.TLSDir, err)
	}
	// --tls-self-signed beside files: the files are served.
	cfg, err = server.LoadTLS(server.TLSOptions{CertFile: r.CertPath, KeyFile: r.KeyPath, SelfSigned: true}, data, discard)
	if err != nil || !slices.Equal(names(cfg), []string{"pkg.example.com"}) {
		t.Errorf("files with --tls-self-signed: %v", err)
	}

	cfg, err = server.LoadTLS(server.TLSOptions{HTTPAddr: ":7007"}, data, discard)
	if cfg != nil || err != nil {
		t.Errorf("no TLS asked: %v, %v", cfg, err)
	}
}

func TestLoadTLSRefuses(t *testing.T) {
	made := t.TempDir()
	r, err := certs.Ensure(certs.Options{Dir: made, Hosts: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(made, "unreadable.key")
	if err := os.WriteFile(unreadable, []byte("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caKey := filepath.Join(made, certs.CAKeyFile)
	tests := []struct {
		name    string
		opts    server.TLSOptions
		wantErr string
	}{
		{name: "certificate without key", opts: server.TLSOptions{CertFile: r.CertPath}, wantErr: "go together"},
		{name: "key without certificate", opts: server.TLSOptions{KeyFile: r.KeyPath}, wantErr: "go together"},
		{name: "missing certificate", opts: server.TLSOptions{CertFile: filepath.Join(made, "none.crt"), KeyFile: r.KeyPath},
			wantErr: "none.crt: no such file"},
		{name: "key of another certificate", opts: server.TLSOptions{CertFile: r.CertPath, KeyFile: caKey},
			wantErr: "private key does not match public key"},
		{name: "unreadable key", opts: server.TLSOptions{CertFile: r.CertPath, KeyFile: unreadable},
			wantErr: "--tls-private-key-file " + unreadable},
		{name: "names for a certificate from files", opts: server.TLSOptions{CertFile: r.CertPath, KeyFile: r.KeyPath, SANs: []string{"x.example.com"}},
			wantErr: "--tls-san names the hosts of a certificate made with --tls-self-signed"},
		{name: "names without self-signed", opts: server.TLSOptions{SANs: []string{"x.example.com"}},
			wantErr: "--tls-san"},
		{name: "a name with a port", opts: server.TLSOptions{SelfSigned: true, SANs: []string{"x.example.com:443"}},
			wantErr: `--tls-san: "x.example.com:443" is neither a host name nor an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			cfg, err := server.LoadTLS(tt.opts, data, discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadTLS = %v, %v; want an error saying %q", cfg, err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(data, server.TLSDir)); !os.IsNotExist(err) {
				t.Errorf("a refused configuration made %s: %v", server.TLSDir, err)
			}
		})
	}
}

func TestLocalURL(t *testing.T) {
	for _, tt := range []struct {
		addr  string
		https bool
		want  string
	}{
		{"127.0.0.1:7007", true, "https://127.0.0.1:7007"},
		{":7007", true, "https://127.0.0.1:7007"},
		{"0.0.0.0:7007", false, "http://127.0.0.1:7007"},
		{"[::]:7007", true, "https://127.0.0.1:7007"},
		{"[::1]:7007", true, "https://[::1]:7007"},
		{"pkg.example.com:443", true, "https://pkg.example.com:443"},
	} {
		if got := server.LocalURL(tt.addr, tt.https); got != tt.want {
			t.Errorf("LocalURL(%q, %v) = %q, want %q", tt.addr, tt.https, got, tt.want)
		}
	}
}
