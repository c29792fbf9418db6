package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pkgserver/pkgserver/internal/store"
)

// tokenPrefix marks pkgserver tokens, so that secret scanners can find
// leaked ones.
const tokenPrefix = "pks_"

// NewToken returns a new random token and its hash.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Hash(token), nil
}

// Hash is the SHA-256 of a token, in hex: what the store keeps.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ParseRole reads a role name.
func ParseRole(s string) (store.Role, error) {
	switch r := store.Role(s); r {
	case store.RoleRead, store.RoleWrite, store.RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want read, write or admin", s)
}

func rank(r store.Role) int {
	switch r {
	case store.RoleRead:
		return 1
	case store.RoleWrite:
		return 2
	case store.RoleAdmin:
		return 3
	}
	return 0
}

// Allowed reports whether a token may act with a role in a namespace; ""
// stands for every namespace at once (a list across namespaces), which only
// tokens of all namespaces may do.
func Allowed(t *store.Token, namespace string, need store.Role) bool {
	return t != nil && granted(t.Namespace, t.Role, namespace, need)
}

// granted applies a grant of a role in a namespace (or in all) to an
// action: tokens' and users' grants mean the same. A role it does not know
// grants nothing.
func granted(grantNamespace string, grantRole store.Role, namespace string, need store.Role) bool {
	if rank(grantRole) == 0 || rank(grantRole) < rank(need) {
		return false
	}
	return grantNamespace == store.AllNamespaces || (namespace != "" && grantNamespace == namespace)
}

// ErrUnauthenticated is returned for a missing or unknown token.
var ErrUnauthenticated = errors.New("a valid token is required")

// tokenStore is what the authenticator needs of the index.
type tokenStore interface {
	TokenByHash(ctx context.Context, hash string) (*store.Token, error)
}

// Authenticator resolves tokens to their grants. It remembers answers for
// a few seconds so that a request does not cost a database read; a revoked
// token stops working within that time.
type Authenticator struct {
	store tokenStore
	ttl   time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	token   *store.Token // nil: unknown
	expires time.Time
}

// CacheTTL is how long an answer about a token is remembered.
const CacheTTL = 5 * time.Second

// NewAuthenticator returns an authenticator over the store's tokens.
func NewAuthenticator(st tokenStore) *Authenticator {
	return &Authenticator{store: st, ttl: CacheTTL, cache: map[string]cached{}}
}

// Authenticate returns the token a request presented.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*store.Token, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 256 {
		return nil, ErrUnauthenticated
	}
	h := Hash(token)
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[h]
	a.mu.Unlock()
	if !ok || now.After(c.expires) {
		t, err := a.store.TokenByHash(ctx, h)
		switch {
		case errors.Is(err, store.ErrNotFound):
			t = nil
		case err != nil:
			return nil, err
		}
		c = cached{token: t, expires: now.Add(a.ttl)}
		a.mu.Lock()
		if len(a.cache) > 10000 {
			clear(a.cache) // bounded: forged tokens cannot grow it without end
		}
		a.cache[h] = c
		a.mu.Unlock()
	}
	if c.token == nil || subtle.ConstantTimeCompare([]byte(c.token.Hash), []byte(h)) != 1 {
		return nil, ErrUnauthenticated
	}
	return c.token, nil
}
