package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pkgserver/pkgserver/internal/certs"
)

var hosts = []string{"localhost", "127.0.0.1", "::1", "pkg.example.com"}

// clock is a fixed time tests move by hand.
func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func ensure(t *testing.T, o certs.Options) *certs.Result {
	t.Helper()
	r, err := certs.Ensure(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// files reads every file of dir by name.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// caPool is what a client trusting ca.crt trusts.
func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", certs.CAFile)
	}
	return pool
}

func TestEnsureMakesCAAndServingCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tls")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := ensure(t, certs.Options{Dir: dir, Hosts: hosts, Now: clock(now)})
	if r.NewCA == "" || r.Issued == "" {
		t.Errorf("first use: NewCA %q, Issued %q; want both made", r.NewCA, r.Issued)
	}

	modes := map[string]os.FileMode{}
	for name := range files(t, dir) {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		modes[name] = info.Mode().Perm()
	}
	want := map[string]os.FileMode{certs.CAFile: 0o644, certs.CAKeyFile: 0o600, certs.CertFile: 0o644, certs.KeyFile: 0o600}
	if d := cmp.Diff(modes, want); d != "" {
		t.Errorf("files and modes (-got +want):\n%s", d)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, %v; want 0700", info.Mode().Perm(), err)
	}

	ca := r.CA
	if !ca.IsCA || !ca.BasicConstraintsValid || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v, constraints %v, max path 0 %v, usage %v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLenZero, ca.KeyUsage)
	}
	if got, want := ca.NotAfter.Sub(now), certs.CAValidity; got != want {
		t.Errorf("CA valid for %v after now, want %v", got, want)
	}
	leaf := r.Certificate.Leaf
	if got, want := leaf.NotAfter.Sub(now), certs.CertValidity; got != want {
		t.Errorf("serving certificate valid for %v after now, want %v", got, want)
	}
	for _, c := range []*x509.Certificate{ca, leaf} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
		}
	}
	if d := cmp.Diff(leaf.DNSNames, []string{"localhost", "pkg.example.com"}); d != "" {
		t.Errorf("DNS names (-got +want):\n%s", d)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if d := cmp.Diff(ips, []string{"127.0.0.1", "::1"}); d != "" {
		t.Errorf("IP addresses (-got +want):\n%s", d)
	}
	// Each name verifies against ca.crt as a client would check it.
	pool := caPool(t, dir)
	for _, h := range append(hosts, "other.example.com") {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: h, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if (err == nil) != (h != "other.example.com") {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
}

// TestEnsureServesTLS makes a real TLS connection with the files Ensure
// wrote: the server loads server.crt and server.key as a server given them
// would, the client trusts ca.crt only.
func TestEnsureServesTLS(t *testing.T) {
	dir := t.TempDir()
	r := ensure(t, certs.Options{Dir: dir, Hosts: []string{"localhost", "127.0.0.1"}})
	pair, err := tls.LoadX509KeyPair(r.CertPath, r.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello\n")
			c.Close()
		}
	}()
	for _, name := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: caPool(t, dir), ServerName: name})
		if err != nil {
			t.Fatalf("dial as %s: %v", name, err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hello\n" {
			t.Errorf("read as %s: %q, %v", name, b, err)
		}
	}
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Error("a client trusting only the system's roots connected")
	}
}

func TestEnsureReusesWhatIsKept(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ensure(t, certs.Options{Dir: dir, Hosts: hosts, Now: clock(now)})
	before := files(t, dir)
	// A later start, ten months on, in another order of names.
	r := ensure(t, certs.Options{Dir: dir, Hosts: []string{"::1", "PKG.example.com", "localhost", "127.0.0.1", "localhost"},
		Now: clock(now.Add(300 * 24 * time.Hour))})
	if r.NewCA != "" || r.Issued != "" {
		t.Errorf("NewCA %q, Issued %q; want both reused", r.NewCA, r.Issued)
	}
	if d := cmp.Diff(files(t, dir), before); d != "" {
		t.Errorf("files changed (-got +want):\n%s", d)
	}
}

func TestEnsureRenews(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		now        time.Time
		hosts      []string
		newCA      bool
		issuedWant string
	}{
		{name: "serving certificate within 30 days of expiry", now: t0.Add(certs.CertValidity - certs.RenewBefore + time.Hour),
			hosts: hosts, issuedWant: "expires on 2027-03-01"},
		{name: "serving certificate expired", now: t0.Add(2 * certs.CertValidity),
			hosts: hosts, issuedWant: "expires on 2027-03-01"},
		{name: "a name added", now: t0.Add(time.Hour),
			hosts: append(hosts, "10.0.0.7"), issuedWant: "pkg.example.com, 10.0.0.7, 127.0.0.1"},
		{name: "a name dropped", now: t0.Add(time.Hour),
			hosts: []string{"localhost"}, issuedWant: "::1, not localhost"},
		{name: "CA within 30 days of expiry", now: t0.Add(certs.CAValidity - certs.RenewBefore + time.Hour),
			hosts: hosts, newCA: true, issuedWant: "signed by another CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := ensure(t, certs.Options{Dir: dir, Hosts: hosts, Now: clock(t0)})
			oldCA := files(t, dir)[certs.CAFile]
			r := ensure(t, certs.Options{Dir: dir, Hosts: tt.hosts, Now: clock(tt.now)})
			if (r.NewCA != "") != tt.newCA {
				t.Errorf("NewCA = %q, want a new CA: %v", r.NewCA, tt.newCA)
			}
			if !strings.Contains(r.Issued, tt.issuedWant) {
				t.Errorf("Issued = %q, want it to say %q", r.Issued, tt.issuedWant)
			}
			if caChanged := files(t, dir)[certs.CAFile] != oldCA; caChanged != tt.newCA {
				t.Errorf("ca.crt changed: %v, want %v", caChanged, tt.newCA)
			}
			leaf := r.Certificate.Leaf
			if leaf.SerialNumber.Cmp(first.Certificate.Leaf.SerialNumber) == 0 {
				t.Fatal("the serving certificate was not issued again")
			}
			if got := leaf.NotAfter; !got.After(tt.now.Add(certs.RenewBefore)) {
				t.Errorf("the new serving certificate expires %v, too soon after %v", got, tt.now)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: caPool(t, dir), DNSName: tt.hosts[0], CurrentTime: tt.now}); err != nil {
				t.Errorf("the new serving certificate against ca.crt: %v", err)
			}
			// What was written is what is reused next.
			again := ensure(t, certs.Options{Dir: dir, Hosts: tt.hosts, Now: clock(tt.now)})
			if again.Issued != "" || again.NewCA != "" || !again.Certificate.Leaf.Equal(leaf) {
				t.Errorf("next start: NewCA %q, Issued %q, same certificate %v", again.NewCA, again.Issued, again.Certificate.Leaf.Equal(leaf))
			}
		})
	}
}

func TestEnsureServingCertificateNotPastCA(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := ensure(t, certs.Options{Dir: dir, Hosts: hosts, Now: clock(t0)})
	// 40 days before the CA expires the CA is kept; the certificate a
	// change of names makes must not outlive it.
	later := r.CA.NotAfter.Add(-40 * 24 * time.Hour)
	r = ensure(t, certs.Options{Dir: dir, Hosts: []string{"localhost"}, Now: clock(later)})
	if r.NewCA != "" || r.Issued == "" {
		t.Fatalf("NewCA %q, Issued %q", r.NewCA, r.Issued)
	}
	if !r.Certificate.Leaf.NotAfter.Equal(r.CA.NotAfter) {
		t.Errorf("serving certificate expires %v, the CA %v", r.Certificate.Leaf.NotAfter, r.CA.NotAfter)
	}
}

func TestEnsureReplacesUnreadableServingCertificate(t *testing.T) {
	dir := t.TempDir()
	ensure(t, certs.Options{Dir: dir, Hosts: hosts})
	caBefore := files(t, dir)[certs.CAFile]
	if err := os.WriteFile(filepath.Join(dir, certs.KeyFile), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := ensure(t, certs.Options{Dir: dir, Hosts: hosts})
	if !strings.Contains(r.Issued, "could not be read") || r.NewCA != "" {
		t.Errorf("NewCA %q, Issued %q", r.NewCA, r.Issued)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, certs.CertFile), filepath.Join(dir, certs.KeyFile)); err != nil {
		t.Errorf("the pair written: %v", err)
	}
	if files(t, dir)[certs.CAFile] != caBefore {
		t.Error("the CA changed")
	}
}

func TestEnsureRefuses(t *testing.T) {
	tests := []struct {
		name    string
		hosts   []string
		prepare func(t *testing.T, dir string) // after a first Ensure
		wantErr string
	}{
		{name: "address with a port", hosts: []string{"localhost:7007"}, wantErr: `"localhost:7007" is neither a host name nor an IP address`},
		{name: "URL", hosts: []string{"https://pkg.example.com"}, wantErr: "is neither"},
		{name: "empty name", hosts: []string{"localhost", ""}, wantErr: `"" is neither`},
		{name: "no names", hosts: nil, wantErr: "no host name or IP address"},
		{name: "CA key missing", hosts: hosts, prepare: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, certs.CAKeyFile)); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "ca.key is missing, "},
		{name: "CA key of another certificate", hosts: hosts, prepare: func(t *testing.T, dir string) {
			other := t.TempDir()
			ensure(t, certs.Options{Dir: other, Hosts: hosts})
			b, err := os.ReadFile(filepath.Join(other, certs.CAKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, certs.CAKeyFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "private key does not match public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tls")
			if tt.prepare != nil {
				ensure(t, certs.Options{Dir: dir, Hosts: hosts})
				tt.prepare(t, dir)
			}
			var before map[string]string
			if _, err := os.Stat(dir); err == nil {
				before = files(t, dir)
			}
			_, err := certs.Ensure(certs.Options{Dir: dir, Hosts: tt.hosts})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if before == nil {
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("directory made for a refused call: %v", err)
				}
			} else if d := cmp.Diff(files(t, dir), before); d != "" {
				t.Errorf("files changed (-got +want):\n%s", d)
			}
		})
	}
}

func TestEnsureTightensDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ensure(t, certs.Options{Dir: dir, Hosts: hosts})
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, %v; want 0700", info.Mode().Perm(), err)
	}
}

// The IP form a client dials must be in the certificate as an IP address,
// not a DNS name: Go and OpenSSL match IPs only against IP SANs.
func TestEnsureIPsAreIPAddresses(t *testing.T) {
	r := ensure(t, certs.Options{Dir: t.TempDir(), Hosts: []string{"[::1]", "192.0.2.1"}})
	if len(r.Certificate.Leaf.DNSNames) != 0 || len(r.Certificate.Leaf.IPAddresses) != 2 {
		t.Fatalf("DNS %v, IPs %v", r.Certificate.Leaf.DNSNames, r.Certificate.Leaf.IPAddresses)
	}
	if !r.Certificate.Leaf.IPAddresses[0].Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("IPs %v", r.Certificate.Leaf.IPAddresses)
	}
}

// TestRenewingWhileServing moves a server's clock past the renewal point
// of its certificate: the next handshake gets a new certificate, signed by
// the same CA, and written for the next start.
func TestRenewingWhileServing(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := certs.Options{Dir: dir, Hosts: hosts, Now: func() time.Time { return now }}
	r, first, err := certs.NewRenewing(o)
	if err != nil {
		t.Fatal(err)
	}
	var renewed []string
	r.Renewed = func(res *certs.Result, err error) {
		if err != nil {
			renewed = append(renewed, "error: "+err.Error())
			return
		}
		renewed = append(renewed, res.Issued)
	}
	got, err := r.GetCertificate(nil)
	if err != nil || !got.Leaf.Equal(first.Certificate.Leaf) || len(renewed) != 0 {
		t.Fatalf("before renewal: %v, same %v, renewed %v", err, got.Leaf.Equal(first.Certificate.Leaf), renewed)
	}
	caBefore := files(t, dir)[certs.CAFile]

	now = now.Add(certs.CertValidity - certs.RenewBefore + time.Hour)
	got, err = r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Leaf.Equal(first.Certificate.Leaf) || len(renewed) != 1 || !strings.Contains(renewed[0], "expires on") {
		t.Fatalf("after the renewal point: renewed %v", renewed)
	}
	if _, err := got.Leaf.Verify(x509.VerifyOptions{Roots: caPool(t, dir), DNSName: "localhost", CurrentTime: now.Add(certs.RenewBefore)}); err != nil {
		t.Errorf("the renewed certificate: %v", err)
	}
	if files(t, dir)[certs.CAFile] != caBefore {
		t.Error("the CA changed")
	}
	if again, _ := r.GetCertificate(nil); !again.Leaf.Equal(got.Leaf) || len(renewed) != 1 {
		t.Errorf("the next handshake renewed again: %v", renewed)
	}
	if next := ensure(t, o); next.Issued != "" || !next.Certificate.Leaf.Equal(got.Leaf) {
		t.Errorf("the next start: Issued %q", next.Issued)
	}
}

// A renewal that fails keeps the certificate served, and is not tried on
// every handshake.
func TestRenewingKeepsServingOnFailure(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := certs.Options{Dir: dir, Hosts: hosts, Now: func() time.Time { return now }}
	r, first, err := certs.NewRenewing(o)
	if err != nil {
		t.Fatal(err)
	}
	var failures int
	r.Renewed = func(_ *certs.Result, err error) {
		if err != nil {
			failures++
		}
	}
	// The CA cannot be read any more: Ensure refuses to replace it.
	if err := os.WriteFile(filepath.Join(dir, certs.CAKeyFile), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(certs.CertValidity - certs.RenewBefore + time.Hour)
	for range 3 {
		got, err := r.GetCertificate(nil)
		if err != nil || !got.Leaf.Equal(first.Certificate.Leaf) {
			t.Fatalf("on failure: %v, same certificate %v", err, got.Leaf.Equal(first.Certificate.Leaf))
		}
	}
	if failures != 1 {
		t.Errorf("%d attempts within the hour, want 1", failures)
	}
	now = now.Add(2 * time.Hour)
	r.GetCertificate(nil)
	if failures != 2 {
		t.Errorf("%d attempts after the hour, want 2", failures)
	}
}
