package identity

import (
	"crypto/sha256"
	"sync"
	"time"
)

// defaultTokenCacheSize bounds the verified-token cache.
const defaultTokenCacheSize = 4096

// tokenCache remembers verified tokens so a client sending the same token
// again costs a SHA-256 and a map lookup instead of a signature
// verification. Only tokens that passed every check are stored, keyed by
// the SHA-256 of the token (the token itself is never kept); an entry is
// used only while the token is unexpired (with the leeway) and while the
// key generation it was verified under is current, so a JWKS refresh that
// removes a key also stops the tokens it signed. Issuer, audience and the
// HS256 secret are fixed for the Verifier's life.
type tokenCache struct {
	mu     sync.RWMutex
	m      map[[sha256.Size]byte]cachedToken
	max    int
	leeway time.Duration
}

type cachedToken struct {
	s   Subject
	exp time.Time
	gen uint64
}

// newTokenCache returns a cache of size entries (0: the default; negative:
// no cache, which get and put on a nil *tokenCache accept).
func newTokenCache(size int, leeway time.Duration) *tokenCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = defaultTokenCacheSize
	}
	return &tokenCache{m: make(map[[sha256.Size]byte]cachedToken, size), max: size, leeway: leeway}
}

// get returns the cached subject of the token with hash h.
func (c *tokenCache) get(h *[sha256.Size]byte, gen uint64, now time.Time) (Subject, bool) {
	if c == nil {
		return Subject{}, false
	}
	c.mu.RLock()
	e, ok := c.m[*h]
	c.mu.RUnlock()
	if !ok || e.gen != gen || !now.Before(e.exp.Add(c.leeway)) {
		return Subject{}, false
	}
	return e.s, true
}

// put stores a verified token, evicting an arbitrary entry when full.
func (c *tokenCache) put(h *[sha256.Size]byte, s Subject, exp time.Time, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*h]; !ok && len(c.m) >= c.max {
		for k := range c.m { // map order is random: a random victim
			delete(c.m, k)
			break
		}
	}
	c.m[*h] = cachedToken{s: s, exp: exp, gen: gen}
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
