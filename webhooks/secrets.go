package webhooks

import (
	"context"
	"sync"
	"time"
)

// secretTTL is how long a receiver verifies a repository's deliveries
// with the webhook secret it read, without reading the repository and its
// secret again: a burst of deliveries costs the database one read, not two
// per delivery. A delivery the cached secret does not verify is verified
// again with the secret read afresh, so a new secret is taken at once; an
// old secret, or a repository deleted through another replica, is
// honoured at most this long after (docs/webhooks.md).
const secretTTL = time.Second

// secretCache holds the webhook secrets of repositories that have one.
// Only secrets are cached, never an unknown name: the entries are bounded
// by the repositories registered.
type secretCache struct {
	mu sync.Mutex
	m  map[string]cachedSecret
}

type cachedSecret struct {
	secret string
	until  time.Time
}

// get returns the cached secret of key, if it is still fresh at now.
func (c *secretCache) get(key string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.secret, true
}

// put caches the secret of key from now, dropping the entries that
// expired.
func (c *secretCache) put(key, secret string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedSecret{}
	}
	if len(c.m) >= 64 {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = cachedSecret{secret: secret, until: now.Add(secretTTL)}
}

// drop forgets the secret of key.
func (c *secretCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// cachedSecretOf is secretOf through the cache; cached tells whether the
// secret came from it, and may be stale.
func (rc *Receiver) cachedSecretOf(ctx context.Context, in incoming, now time.Time) (secret string, cached bool, err error) {
	key := in.forge + "/" + in.ns + "/" + in.name
	if s, ok := rc.secrets.get(key, now); ok {
		return s, true, nil
	}
	s, err := rc.secretOf(ctx, in.forge, in.ns, in.name)
	if err == nil && s != "" {
		rc.secrets.put(key, s, now)
	}
	return s, false, err
}
