package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Files of the directory Ensure keeps.
const (
	CAFile    = "ca.crt"
	CAKeyFile = "ca.key"
	CertFile  = "server.crt"
	KeyFile   = "server.key"
)

// Lifetimes of what Ensure makes.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 365 * 24 * time.Hour
	// RenewBefore is how long before its expiry a certificate is made
	// again.
	RenewBefore = 30 * 24 * time.Hour
	// skew lets a certificate be valid for clients whose clocks are a
	// little behind.
	skew = time.Hour
)

// Options say where the certificates are kept and what they are for.
type Options struct {
	// Dir holds the CA and the serving certificate with their keys. It is
	// created, readable by its owner only, if missing.
	Dir string
	// Hosts are the DNS names and IP addresses the serving certificate is
	// valid for: at least one.
	Hosts []string
	// Now is the current time (default time.Now).
	Now func() time.Time
}

// dnsName is a host name a certificate may name, a leading wildcard label
// allowed.
var dnsName = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// names are the subject alternative names of a serving certificate,
// normalized and sorted so that two sets compare equal.
type names struct {
	dns []string
	ips []string
}

func (n names) String() string { return strings.Join(append(slices.Clone(n.dns), n.ips...), ", ") }

func (n names) equal(o names) bool { return slices.Equal(n.dns, o.dns) && slices.Equal(n.ips, o.ips) }

// CheckHost reports whether h is a DNS name or an IP address a certificate
// may name.
func CheckHost(h string) error {
	_, err := parseHosts([]string{h})
	return err
}

// parseHosts splits hosts into DNS names and IP addresses and refuses what
// is neither (a URL, an address with a port).
func parseHosts(hosts []string) (names, error) {
	var n names
	for _, h := range hosts {
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
			n.ips = append(n.ips, ip.String())
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(h, "."))
		if len(name) > 253 || !dnsName.MatchString(name) {
			return names{}, fmt.Errorf("%q is neither a host name nor an IP address", h)
		}
		n.dns = append(n.dns, name)
	}
	slices.Sort(n.dns)
	slices.Sort(n.ips)
	n.dns, n.ips = slices.Compact(n.dns), slices.Compact(n.ips)
	if len(n.dns)+len(n.ips) == 0 {
		return names{}, errors.New("no host name or IP address to serve")
	}
	return n, nil
}

func namesOf(c *x509.Certificate) names {
	var n names
	for _, d := range c.DNSNames {
		n.dns = append(n.dns, strings.ToLower(d))
	}
	for _, ip := range c.IPAddresses {
		n.ips = append(n.ips, ip.String())
	}
	slices.Sort(n.dns)
	slices.Sort(n.ips)
	return n
}

// Result is the serving certificate Ensure found or made, and what it did.
type Result struct {
	// Certificate is the serving certificate and its key, Leaf set.
	Certificate tls.Certificate
	// CA is the certificate authority's certificate, which clients trust.
	CA *x509.Certificate
	// CAPath, CertPath and KeyPath are the files of the CA's certificate
	// and of the serving certificate and its key.
	CAPath, CertPath, KeyPath string
	// NewCA is why a CA was made now ("" if the one kept was reused):
	// clients must be given the new one.
	NewCA string
	// Issued is why the serving certificate was issued now ("" if the one
	// kept was reused).
	Issued string
}

// Ensure returns the serving certificate kept in o.Dir, after making what
// is missing: a CA on first use (or when the CA nears its expiry) and a
// serving certificate signed by it whenever the kept one is missing,
// unreadable, signed by another CA, names other hosts than o.Hosts or nears
// its expiry. A CA that cannot be read is an error, not replaced: clients
// trust it.
func Ensure(o Options) (*Result, error) {
	want, err := parseHosts(o.Hosts)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now()
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	// The directory holds keys: nobody else may list or read it, even if
	// it was made before with a wider mode.
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return nil, err
	}
	r := &Result{
		CAPath:   filepath.Join(o.Dir, CAFile),
		CertPath: filepath.Join(o.Dir, CertFile),
		KeyPath:  filepath.Join(o.Dir, KeyFile),
	}
	caKeyPath := filepath.Join(o.Dir, CAKeyFile)
	// A replacement a crash interrupted is settled first.
	if err := finishPair(o.Dir, r.CAPath, caKeyPath); err != nil {
		return nil, fmt.Errorf("the CA in %s: %w", o.Dir, err)
	}
	if err := finishPair(o.Dir, r.CertPath, r.KeyPath); err != nil {
		return nil, fmt.Errorf("the serving certificate in %s: %w", o.Dir, err)
	}

	ca, err := readPair(r.CAPath, caKeyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.NewCA = "no CA yet"
	case err != nil:
		return nil, fmt.Errorf("the CA in %s: %w (remove the directory to make a new CA)", o.Dir, err)
	case !ca.Leaf.IsCA:
		return nil, fmt.Errorf("the CA in %s: %s is not a CA certificate", o.Dir, r.CAPath)
	case ca.Leaf.NotAfter.Sub(t) < RenewBefore:
		r.NewCA = "the CA expires on " + ca.Leaf.NotAfter.UTC().Format(time.DateOnly)
	}
	if r.NewCA != "" {
		if ca, err = newCA(t); err != nil {
			return nil, err
		}
		if err := writePair(o.Dir, r.CAPath, caKeyPath, ca); err != nil {
			return nil, err
		}
	}
	r.CA = ca.Leaf

	cert, err := readPair(r.CertPath, r.KeyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Issued = "no serving certificate yet"
	case err != nil:
		// The serving certificate is only derived from the CA: one that
		// cannot be read is replaced.
		r.Issued = "the serving certificate could not be read: " + err.Error()
	case cert.Leaf.CheckSignatureFrom(ca.Leaf) != nil:
		r.Issued = "the serving certificate is signed by another CA"
	case !namesOf(cert.Leaf).equal(want):
		r.Issued = fmt.Sprintf("the serving certificate is for %s, not %s", namesOf(cert.Leaf), want)
	case cert.Leaf.NotAfter.Sub(t) < RenewBefore:
		r.Issued = "the serving certificate expires on " + cert.Leaf.NotAfter.UTC().Format(time.DateOnly)
	case t.Before(cert.Leaf.NotBefore):
		r.Issued = "the serving certificate is not valid yet"
	}
	if r.Issued != "" {
		if cert, err = issue(ca, want, t); err != nil {
			return nil, err
		}
		if err := writePair(o.Dir, r.CertPath, r.KeyPath, cert); err != nil {
			return nil, err
		}
	}
	r.Certificate = *cert
	return r, nil
}

// readPair reads a certificate and its key; fs.ErrNotExist if neither
// file exists.
func readPair(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	switch {
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
		return nil, fs.ErrNotExist
	case errors.Is(cerr, fs.ErrNotExist):
		return nil, fmt.Errorf("%s is missing, %s is not", certPath, keyPath)
	case errors.Is(kerr, fs.ErrNotExist):
		return nil, fmt.Errorf("%s is missing, %s is not", keyPath, certPath)
	case cerr != nil:
		return nil, cerr
	case kerr != nil:
		return nil, kerr
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certPath, keyPath, err)
	}
	return &pair, nil
}

// pendingSuffix marks a file of a pair being replaced: written whole
// beside the file it replaces, before either file of the pair is.
const pendingSuffix = ".new"

// writePair replaces a certificate and its key. Two renames cannot be one,
// so a crash between them must not leave the new key beside the old
// certificate (Ensure would refuse the CA, and the server would not start).
// Both new files are first written whole beside the old ones, the
// certificate last; then they take the old ones' places, the key first. A
// certificate pending beside its file therefore says that the new pair is
// whole, and finishPair completes it.
func writePair(dir, certPath, keyPath string, c *tls.Certificate) error {
	for _, step := range pairSteps(dir, certPath, keyPath, c) {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// pairSteps are the steps of writePair, in order: a crash may stop them
// after any one.
func pairSteps(dir, certPath, keyPath string, c *tls.Certificate) []func() error {
	syncDir := func() error { return syncDir(dir) }
	return []func() error{
		func() error {
			der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
			if err != nil {
				return err
			}
			return writeFile(dir, keyPath+pendingSuffix, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		},
		func() error {
			return writeFile(dir, certPath+pendingSuffix, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw}), 0o644)
		},
		syncDir,
		func() error { return os.Rename(keyPath+pendingSuffix, keyPath) },
		func() error { return os.Rename(certPath+pendingSuffix, certPath) },
		syncDir,
	}
}

// finishPair settles a replacement of a pair that writePair did not finish:
// completed if its certificate was written (the new pair is whole), else
// undone (the old pair was not touched).
func finishPair(dir, certPath, keyPath string) error {
	_, err := os.Stat(certPath + pendingSuffix)
	switch {
	case err == nil:
		if err := os.Rename(keyPath+pendingSuffix, keyPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Rename(certPath+pendingSuffix, certPath); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Remove(keyPath + pendingSuffix); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing pending
			}
			return err
		}
	default:
		return err
	}
	return syncDir(dir)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeFile(dir, path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func serial() (*big.Int, error) { return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)) }

// newCA makes a self-signed CA that may sign serving certificates only.
func newCA(now time.Time) (*tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		// The serial in the name tells the CAs of two servers apart in a
		// trust store.
		Subject:               pkix.Name{CommonName: fmt.Sprintf("pkgserver CA %x", sn.Bytes()[:4])},
		NotBefore:             now.Add(-skew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, tmpl, key, key)
}

// issue makes a serving certificate for hosts, signed by ca, valid for a
// year or until the CA expires, whichever is first.
func issue(ca *tls.Certificate, hosts names, now time.Time) (*tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(CertValidity)
	if ca.Leaf.NotAfter.Before(notAfter) {
		notAfter = ca.Leaf.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "pkgserver"},
		NotBefore:    now.Add(-skew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts.dns,
	}
	for _, ip := range hosts.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	signer, ok := ca.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the CA's key (%T) cannot sign", ca.PrivateKey)
	}
	return sign(tmpl, ca.Leaf, key, signer)
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (*tls.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
