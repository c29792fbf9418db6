package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pkgserver/pkgserver/internal/certs"
)

// TLSDir is where a self-signed CA and the serving certificate it signs are
// kept, in the data directory.
const TLSDir = "tls"

// CAPath is the CA certificate a server started with a self-signed
// certificate made in dataDir: what its clients trust.
func CAPath(dataDir string) string { return filepath.Join(dataDir, TLSDir, certs.CAFile) }

// TLSOptions say whether and how the HTTP listener serves TLS: with a
// certificate and key from files, or a certificate pkgserver makes itself.
type TLSOptions struct {
	// CertFile and KeyFile are a PEM certificate (chain) and its key.
	CertFile, KeyFile string
	// SelfSigned, without CertFile, makes a CA and a serving certificate
	// in <data>/tls.
	SelfSigned bool
	// SANs are names and addresses the self-signed certificate is valid
	// for besides localhost, 127.0.0.1, ::1 and the host of HTTPAddr.
	SANs []string
	// HTTPAddr is the address the HTTP listener listens on.
	HTTPAddr string
}

// Enabled reports whether o asks for TLS.
func (o TLSOptions) Enabled() bool { return o.CertFile != "" || o.KeyFile != "" || o.SelfSigned }

// Validate refuses a certificate without its key and names given for a
// certificate pkgserver does not make.
func (o TLSOptions) Validate() error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	if len(o.SANs) > 0 && (!o.SelfSigned || o.CertFile != "") {
		return errors.New("--tls-san names the hosts of a certificate made with --tls-self-signed, without --tls-cert-file")
	}
	for _, h := range o.SANs {
		if err := certs.CheckHost(h); err != nil {
			return fmt.Errorf("--tls-san: %w", err)
		}
	}
	return nil
}

// LoadTLS returns the TLS configuration of the HTTP listener that o asks
// for, nil for plain HTTP. A certificate from files must load with its key;
// a self-signed one is made in <dataDir>/tls, or reused from there.
func LoadTLS(o TLSOptions, dataDir string, log *slog.Logger) (*tls.Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// HTTP/2 as the Kubernetes API server offers it; http.Server sets
		// itself up for it when served a TLS listener.
		NextProtos: []string{"h2", "http/1.1"},
	}
	switch {
	case o.CertFile != "":
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-file %s and --tls-private-key-file %s: %w", o.CertFile, o.KeyFile, err)
		}
		if now := time.Now(); now.After(cert.Leaf.NotAfter) {
			log.Warn("the serving certificate has expired: clients will refuse it", "file", o.CertFile, "notAfter", cert.Leaf.NotAfter)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case o.SelfSigned:
		renewing, r, err := certs.NewRenewing(certs.Options{Dir: filepath.Join(dataDir, TLSDir), Hosts: selfSignedHosts(o)})
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		logMade(log, r)
		// A server running for a year renews its certificate as it would
		// at start.
		renewing.Renewed = func(r *certs.Result, err error) {
			if err != nil {
				log.Error("renew the serving certificate", "err", err)
				return
			}
			logMade(log, r)
		}
		cfg.GetCertificate = renewing.GetCertificate
	default:
		return nil, nil
	}
	return cfg, nil
}

// logMade logs the CA and the serving certificate certs.Ensure made, if it
// made them.
func logMade(log *slog.Logger, r *certs.Result) {
	if r.NewCA != "" {
		log.Info("made a CA for the self-signed certificate: clients trust its certificate", "reason", r.NewCA, "ca", r.CAPath, "notAfter", r.CA.NotAfter)
	}
	if r.Issued != "" {
		leaf := r.Certificate.Leaf
		log.Info("issued a serving certificate", "reason", r.Issued, "cert", r.CertPath,
			"names", slices.Concat(leaf.DNSNames, ipStrings(leaf.IPAddresses)), "notAfter", leaf.NotAfter)
	}
}

// selfSignedHosts are the names of a self-signed serving certificate: the
// loopback names, the host the listener is on (the machine's name for a
// wildcard address, as clone URLs advertise it) and the names asked for.
func selfSignedHosts(o TLSOptions) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	host, _, err := net.SplitHostPort(o.HTTPAddr)
	if err != nil {
		host = ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// A machine's name need not be one a certificate may carry.
		if name, err := os.Hostname(); err == nil && certs.CheckHost(name) == nil {
			hosts = append(hosts, name)
		}
	} else {
		hosts = append(hosts, host)
	}
	return append(hosts, o.SANs...)
}

func ipStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}

// LocalURL is the URL a client on this machine reaches a server listening
// on httpAddr at: a wildcard or missing host is 127.0.0.1.
func LocalURL(httpAddr string, https bool) string {
	scheme := "http://"
	if https {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return scheme + httpAddr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + net.JoinHostPort(host, port)
}
