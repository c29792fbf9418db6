package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/pkgserver/pkgserver/internal/store"
)

func newEd25519(t *testing.T) (gossh.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv
}

func newECDSA(t *testing.T) gossh.PublicKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// authorizedLine is a key as ssh-keygen writes it, with a comment.
func authorizedLine(k gossh.PublicKey, comment string) string {
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

func sshKeyOf(k gossh.PublicKey, comment string) store.SSHKey {
	return store.SSHKey{Fingerprint: gossh.FingerprintSHA256(k), AuthorizedKey: authorizedLine(k, ""), Comment: comment}
}

func TestParseAuthorizedKeys(t *testing.T) {
	ed, _ := newEd25519(t)
	ec := newECDSA(t)
	file := "# alice's keys\n\n" + authorizedLine(ed, "alice@laptop") + "\r\n  " + authorizedLine(ec, "") + "\n"
	got, err := ParseAuthorizedKeys([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.SSHKey{sshKeyOf(ed, "alice@laptop"), sshKeyOf(ec, "")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got[0].Fingerprint, "SHA256:") || !strings.HasPrefix(got[0].AuthorizedKey, "ssh-ed25519 AAAA") {
		t.Errorf("key %+v", got[0])
	}
}

func TestParseAuthorizedKeysRefused(t *testing.T) {
	ed, signer := newEd25519(t)
	good := authorizedLine(ed, "alice@laptop")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	shortRSA, err := gossh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	// A DSA key: ssh only checks the sizes of its parameters.
	one := big.NewInt(1)
	dsa := gossh.Marshal(struct {
		Name       string
		P, Q, G, Y *big.Int
	}{"ssh-dss", new(big.Int).Add(new(big.Int).Lsh(one, 1023), one),
		new(big.Int).Add(new(big.Int).Lsh(one, 159), one), big.NewInt(2), big.NewInt(3)})

	cert := &gossh.Certificate{Key: ed, CertType: gossh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: gossh.CertTimeInfinity}
	certSigner, err := gossh.NewSignerFromKey(signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.SignCert(rand.Reader, certSigner); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, file, want string
	}{
		{"empty", "", "no public key"},
		{"comments only", "# nothing\n\n", "no public key"},
		{"malformed line named", good + "\n# next\nssh-ed25519 not-base64 x\n", "line 3: not a public key"},
		{"options", `command="git-shell" ` + good, "line 1: key options are not supported (command=\"git-shell\")"},
		{"options after a good key", good + "\nno-pty,from=\"10.0.0.1\" " + good, "line 2: key options are not supported"},
		{"short rsa", authorizedLine(shortRSA, "old"), "line 1: ssh-rsa: a 1024-bit key is too short (at least 2048 bits)"},
		{"dsa", "ssh-dss " + base64.StdEncoding.EncodeToString(dsa) + " older", "line 1: ssh-dss: DSA keys are insecure"},
		{"certificate", authorizedLine(cert, ""), "certificates are not supported"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "line 1: a private key: give the public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorizedKeys([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseAuthorizedKeys = %v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
}

func TestUserAllowed(t *testing.T) {
	team := &store.User{Namespace: "team", Role: store.RoleWrite}
	all := &store.User{Namespace: store.AllNamespaces, Role: store.RoleRead}
	admin := &store.User{Namespace: "team", Role: store.RoleAdmin}
	noRole := &store.User{Namespace: store.AllNamespaces}
	tests := []struct {
		user *store.User
		ns   string
		need store.Role
		want bool
	}{
		{team, "team", store.RoleRead, true},
		{team, "team", store.RoleWrite, true},
		{team, "team", store.RoleAdmin, false},
		{team, "other", store.RoleRead, false},
		{team, "", store.RoleRead, false},
		{admin, "team", store.RoleAdmin, true},
		{admin, "other", store.RoleRead, false},
		{all, "", store.RoleRead, true},
		{all, "any", store.RoleRead, true},
		{all, "any", store.RoleWrite, false},
		{noRole, "any", store.RoleRead, false},
		{nil, "team", store.RoleRead, false},
	}
	for _, tt := range tests {
		if got := UserAllowed(tt.user, tt.ns, tt.need); got != tt.want {
			t.Errorf("UserAllowed(%+v, %q, %s) = %v", tt.user, tt.ns, tt.need, got)
		}
		// Users' grants mean what tokens' do.
		if tt.user != nil {
			tok := &store.Token{Namespace: tt.user.Namespace, Role: tt.user.Role}
			if got := Allowed(tok, tt.ns, tt.need); got != tt.want {
				t.Errorf("Allowed(%+v, %q, %s) = %v", tok, tt.ns, tt.need, got)
			}
		}
	}
}

// fakeUsers is a store of users by key fingerprint that counts lookups.
type fakeUsers struct {
	users   map[string]*store.User
	lookups int
}

func (f *fakeUsers) UserByKey(_ context.Context, fp string) (*store.User, error) {
	f.lookups++
	if u, ok := f.users[fp]; ok {
		return u, nil
	}
	return nil, store.ErrNotFound
}

func TestKeyAuthenticator(t *testing.T) {
	ctx := context.Background()
	alice, _ := newEd25519(t)
	ec := newECDSA(t)
	stranger, _ := newEd25519(t)
	u := &store.User{Name: "alice", Namespace: "team", Role: store.RoleWrite,
		Keys: []store.SSHKey{sshKeyOf(alice, "laptop"), sshKeyOf(ec, "")}}
	users := &fakeUsers{users: map[string]*store.User{
		gossh.FingerprintSHA256(alice): u,
		gossh.FingerprintSHA256(ec):    u,
	}}
	a := NewKeyAuthenticator(users)

	for _, k := range []gossh.PublicKey{alice, ec} {
		got, err := a.Authenticate(ctx, k)
		if err != nil || got.Name != "alice" {
			t.Fatalf("Authenticate(%s) = %v, %v", k.Type(), got, err)
		}
	}
	if _, err := a.Authenticate(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if users.lookups != 2 {
		t.Errorf("%d lookups for two keys, one presented twice: want 2", users.lookups)
	}

	// Unknown keys are refused, and remembered too.
	for range 3 {
		if _, err := a.Authenticate(ctx, stranger); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("unknown key: %v", err)
		}
	}
	if users.lookups != 3 {
		t.Errorf("%d lookups after an unknown key presented three times: want 3", users.lookups)
	}
	if _, err := a.Authenticate(ctx, nil); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("no key: %v", err)
	}

	// A store answering for a fingerprint with another key (it cannot
	// happen but by a corrupt index) authenticates no one.
	users.users[gossh.FingerprintSHA256(stranger)] = &store.User{Name: "mallory", Role: store.RoleAdmin,
		Keys: []store.SSHKey{{Fingerprint: gossh.FingerprintSHA256(stranger), AuthorizedKey: authorizedLine(alice, "")}}}
	a.ttl = 0
	a.cache = map[string]cachedUser{}
	if got, err := a.Authenticate(ctx, stranger); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("key not the stored one: %v, %v", got, err)
	}

	// A removed user's keys stop working once the cached answer expires.
	delete(users.users, gossh.FingerprintSHA256(alice))
	if _, err := a.Authenticate(ctx, alice); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("removed user: %v", err)
	}

	// Errors of the store are not remembered as answers.
	failing := NewKeyAuthenticator(errStore{})
	if _, err := failing.Authenticate(ctx, alice); err == nil || errors.Is(err, ErrUnauthenticated) {
		t.Errorf("store failure: %v", err)
	}
	if len(failing.cache) != 0 {
		t.Errorf("a store failure was cached: %v", failing.cache)
	}
}

type errStore struct{}

func (errStore) UserByKey(context.Context, string) (*store.User, error) {
	return nil, errors.New("database is locked")
}
