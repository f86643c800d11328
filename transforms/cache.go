package transforms

import "sync"

// Cache is a bounded, concurrency-safe cache of compiled Programs keyed by
// the canonical text of (rules, record id path), so the gateway compiles
// each distinct rule set once. Compile errors are cached too. When full,
// the oldest entry is evicted.
type Cache struct {
	opts Options
	max  int

	mu    sync.Mutex
	m     map[string]*cacheEntry
	order []string // insertion order, for eviction
}

type cacheEntry struct {
	once sync.Once
	p    *Program
	err  error
}

// NewCache returns a cache of at most max Programs (0 means 1024), all
// compiled with opts (opts.RecordIDs is replaced per Get).
func NewCache(max int, opts Options) *Cache {
	if max <= 0 {
		max = 1024
	}
	return &Cache{opts: opts, max: max, m: make(map[string]*cacheEntry)}
}

// Get returns the Program for rules with record id path recordIDs,
// compiling it on first use. Concurrent callers for the same rule set
// share one compilation.
func (c *Cache) Get(rules []Rule, recordIDs string) (*Program, error) {
	key, err := canonicalKey(rules, recordIDs)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = append(c.order[:0], c.order[1:]...)
		}
		e = &cacheEntry{}
		c.m[key] = e
		c.order = append(c.order, key)
	}
	c.mu.Unlock()
	e.once.Do(func() {
		opts := c.opts
		opts.RecordIDs = recordIDs
		e.p, e.err = Compile(rules, opts)
	})
	return e.p, e.err
}

// Len returns the number of cached entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
