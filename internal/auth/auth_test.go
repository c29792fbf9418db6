package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkgserver/pkgserver/internal/gitrepo"
	"github.com/pkgserver/pkgserver/internal/store"
)

type fakeTokens map[string]*store.Token

func (f fakeTokens) TokenByHash(_ context.Context, h string) (*store.Token, error) {
	if t, ok := f[h]; ok {
		return t, nil
	}
	return nil, store.ErrNotFound
}

func TestAuthenticate(t *testing.T) {
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "pks_") || len(tok) < 40 || hash != Hash(tok) {
		t.Fatalf("token %q hash %q", tok, hash)
	}
	tokens := fakeTokens{hash: {Name: "ci", Hash: hash, Namespace: "team", Role: store.RoleWrite}}
	a := NewAuthenticator(tokens)
	got, err := a.Authenticate(context.Background(), tok)
	if err != nil || got.Name != "ci" {
		t.Fatalf("Authenticate = %v, %v", got, err)
	}
	for _, bad := range []string{"", "pks_nope", tok + "x", "Bearer " + tok, strings.TrimPrefix(tok, "pks_")} {
		if _, err := a.Authenticate(context.Background(), bad); err != ErrUnauthenticated {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// Revocation takes effect once the cached answer expires.
	delete(tokens, hash)
	a.ttl = 0
	a.cache = map[string]cached{}
	if _, err := a.Authenticate(context.Background(), tok); err != ErrUnauthenticated {
		t.Errorf("revoked: %v", err)
	}
}

func TestAllowed(t *testing.T) {
	team := &store.Token{Namespace: "team", Role: store.RoleWrite}
	all := &store.Token{Namespace: store.AllNamespaces, Role: store.RoleRead}
	tests := []struct {
		tok  *store.Token
		ns   string
		need store.Role
		want bool
	}{
		{team, "team", store.RoleRead, true},
		{team, "team", store.RoleWrite, true},
		{team, "team", store.RoleAdmin, false},
		{team, "other", store.RoleRead, false},
		{team, "", store.RoleRead, false},
		{all, "", store.RoleRead, true},
		{all, "any", store.RoleRead, true},
		{all, "any", store.RoleWrite, false},
		{nil, "team", store.RoleRead, false},
	}
	for _, tt := range tests {
		if got := Allowed(tt.tok, tt.ns, tt.need); got != tt.want {
			t.Errorf("Allowed(%+v, %q, %s) = %v", tt.tok, tt.ns, tt.need, got)
		}
	}
	if _, err := ParseRole("owner"); err == nil {
		t.Error("unknown role accepted")
	}
}

func TestKeyring(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", info, err)
	}
	creds := gitrepo.Credentials{Token: "ghp_secret", SSHKey: []byte("key"), KnownHosts: []byte("hosts")}
	sealed, err := k.Seal("default", "git", creds)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "ghp_secret") {
		t.Error("the token is readable in the sealed secret")
	}
	k2, err := LoadKeyring(dir) // the same key, read back
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.Open("default", "git", sealed)
	if err != nil || got.Token != "ghp_secret" || string(got.KnownHosts) != "hosts" {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	if _, err := k.Open("default", "other", sealed); err == nil {
		t.Error("a secret opened under another name")
	}
	other, _ := LoadKeyring(t.TempDir())
	if _, err := other.Open("default", "git", sealed); err == nil {
		t.Error("a secret opened with another data directory's key")
	}
}

// TestKeyringFile: replicas given one key file seal and open each other's
// secrets; a key file that is missing or not 32 bytes is refused, never
// made.
func TestKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	if _, err := LoadKeyringFile(path); err == nil {
		t.Fatal("a missing key file was accepted")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a missing key file was made")
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyringFile(path); err == nil || !strings.Contains(err.Error(), "32-byte") {
		t.Fatalf("a short key: %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("k", 32)), 0o400); err != nil {
		t.Fatal(err)
	}
	a, err := LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Seal("default", "git", gitrepo.Credentials{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open("default", "git", sealed); err != nil || got.Token != "t" {
		t.Fatalf("another replica opens %+v, %v", got, err)
	}
}
