package auth

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/pkgserver/pkgserver/internal/store"
)

// MinRSABits is the smallest RSA key a user may register.
const MinRSABits = 2048

// ParseAuthorizedKeys reads the public keys of an authorized_keys file (or
// of one id_*.pub file), skipping blank lines and # comments. It refuses a
// file without keys, key options (command=, from=...: the git host grants
// by role, not by key), certificates, DSA keys and RSA keys shorter than
// MinRSABits. Errors name the line.
func ParseAuthorizedKeys(data []byte) ([]store.SSHKey, error) {
	var out []store.SSHKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no public key found")
	}
	return out, nil
}

func parseKeyLine(line string) (store.SSHKey, error) {
	if strings.Contains(line, "PRIVATE KEY") {
		return store.SSHKey{}, errors.New("a private key: give the public key (the .pub file)")
	}
	pub, comment, options, _, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return store.SSHKey{}, fmt.Errorf("not a public key in authorized_keys format: %w", err)
	}
	if len(options) > 0 {
		return store.SSHKey{}, fmt.Errorf("key options are not supported (%s): give the bare key", strings.Join(options, ","))
	}
	if _, ok := pub.(*gossh.Certificate); ok {
		return store.SSHKey{}, fmt.Errorf("%s: certificates are not supported: give the bare key", pub.Type())
	}
	if pub.Type() == keyAlgoDSA {
		return store.SSHKey{}, errors.New("ssh-dss: DSA keys are insecure and not accepted; use ed25519")
	}
	if ck, ok := pub.(gossh.CryptoPublicKey); ok {
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < MinRSABits {
			return store.SSHKey{}, fmt.Errorf("ssh-rsa: a %d-bit key is too short (at least %d bits); use ed25519", rk.N.BitLen(), MinRSABits)
		}
	}
	return store.SSHKey{
		Fingerprint:   gossh.FingerprintSHA256(pub),
		AuthorizedKey: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pub))),
		Comment:       comment,
	}, nil
}

// UserAllowed reports whether a user may act with a role in a namespace,
// as Allowed does for tokens.
func UserAllowed(u *store.User, namespace string, need store.Role) bool {
	return u != nil && granted(u.Namespace, u.Role, namespace, need)
}

// userStore is what the key authenticator needs of the index.
type userStore interface {
	UserByKey(ctx context.Context, fingerprint string) (*store.User, error)
}

// KeyAuthenticator resolves SSH public keys to their users. Like
// Authenticator, it remembers answers, unknown keys included, for
// CacheTTL: a removed user's keys stop working within that time.
type KeyAuthenticator struct {
	store userStore
	ttl   time.Duration

	mu    sync.Mutex
	cache map[string]cachedUser
}

type cachedUser struct {
	user *store.User // nil: unknown
	// wire is the stored key in SSH wire format, compared with the
	// presented key's: the fingerprint only found it.
	wire    []byte
	expires time.Time
}

// NewKeyAuthenticator returns an authenticator over the store's users.
func NewKeyAuthenticator(st userStore) *KeyAuthenticator {
	return &KeyAuthenticator{store: st, ttl: CacheTTL, cache: map[string]cachedUser{}}
}

// Authenticate returns the user a public key belongs to, ErrUnauthenticated
// if none.
func (a *KeyAuthenticator) Authenticate(ctx context.Context, key gossh.PublicKey) (*store.User, error) {
	if key == nil {
		return nil, ErrUnauthenticated
	}
	presented := key.Marshal()
	fp := gossh.FingerprintSHA256(key)
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[fp]
	a.mu.Unlock()
	if !ok || now.After(c.expires) {
		u, err := a.store.UserByKey(ctx, fp)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u = nil
		case err != nil:
			return nil, err
		}
		c = cachedUser{user: u, expires: now.Add(a.ttl)}
		if u != nil {
			if c.wire, err = storedKey(u, fp); err != nil {
				return nil, err
			}
		}
		a.mu.Lock()
		if len(a.cache) > 10000 {
			clear(a.cache) // bounded: random keys cannot grow it without end
		}
		a.cache[fp] = c
		a.mu.Unlock()
	}
	if c.user == nil || subtle.ConstantTimeCompare(c.wire, presented) != 1 {
		return nil, ErrUnauthenticated
	}
	return c.user, nil
}

// storedKey returns, in wire format, the key of a user with a fingerprint;
// nil if the user has no such key.
func storedKey(u *store.User, fp string) ([]byte, error) {
	for _, k := range u.Keys {
		if k.Fingerprint != fp {
			continue
		}
		pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
		if err != nil {
			return nil, fmt.Errorf("user %s: stored key %s: %w", u.Name, fp, err)
		}
		return pub.Marshal(), nil
	}
	return nil, nil
}

// keyAlgoDSA is the name of DSA keys (x/crypto's constant for it is
// deprecated, as is DSA itself).
const keyAlgoDSA = "ssh-dss"
