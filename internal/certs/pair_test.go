package certs

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWritePairCrash stops the replacement of each pair after each of its
// steps, as a crash would, and starts again: Ensure settles what it finds
// into a pair that matches, the old one if the new certificate was not
// written whole yet, else the new one, and leaves nothing pending.
func TestWritePairCrash(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := func(dir string) Options {
		return Options{Dir: dir, Hosts: []string{"localhost", "127.0.0.1"}, Now: func() time.Time { return now }}
	}
	pairs := []struct {
		name, cert, key string
		// replacement makes the new pair, given the directory's CA.
		replacement func(t *testing.T, ca *tls.Certificate) *tls.Certificate
	}{
		{"CA", CAFile, CAKeyFile, func(t *testing.T, _ *tls.Certificate) *tls.Certificate {
			c, err := newCA(now)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"serving certificate", CertFile, KeyFile, func(t *testing.T, ca *tls.Certificate) *tls.Certificate {
			hosts, err := parseHosts([]string{"localhost", "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := issue(ca, hosts, now)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
	}
	for _, p := range pairs {
		steps := len(pairSteps("", "", "", nil))
		for done := 0; done <= steps; done++ {
			t.Run(fmt.Sprintf("%s/crash after %d steps", p.name, done), func(t *testing.T) {
				dir := t.TempDir()
				certPath, keyPath := filepath.Join(dir, p.cert), filepath.Join(dir, p.key)
				if _, err := Ensure(o(dir)); err != nil {
					t.Fatal(err)
				}
				old, err := readPair(certPath, keyPath)
				if err != nil {
					t.Fatal(err)
				}
				ca, err := readPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
				if err != nil {
					t.Fatal(err)
				}
				repl := p.replacement(t, ca)
				for _, step := range pairSteps(dir, certPath, keyPath, repl)[:done] {
					if err := step(); err != nil {
						t.Fatal(err)
					}
				}

				r, err := Ensure(o(dir))
				if err != nil {
					t.Fatalf("the start after a crash: %v", err)
				}
				pair, err := tls.LoadX509KeyPair(certPath, keyPath)
				if err != nil {
					t.Fatalf("the pair after the start: %v", err)
				}
				// The new certificate is written whole by the second step.
				want, which := old.Leaf.Raw, "old"
				if done >= 2 {
					want, which = repl.Leaf.Raw, "new"
				}
				if !bytes.Equal(pair.Certificate[0], want) {
					t.Errorf("after %d of %d steps, %s is not the %s certificate", done, steps, p.cert, which)
				}
				if p.cert == CertFile && r.Issued != "" {
					t.Errorf("after %d of %d steps, a serving certificate was issued again: %s", done, steps, r.Issued)
				}
				if r.NewCA != "" {
					t.Errorf("after %d of %d steps, a CA was made again: %s", done, steps, r.NewCA)
				}
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if strings.HasSuffix(e.Name(), pendingSuffix) {
						t.Errorf("after %d of %d steps, %s is left", done, steps, e.Name())
					}
				}
			})
		}
	}
}
