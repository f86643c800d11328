package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Bounds of a revision's caches. A policy whose decisions embed request
// values (a subject id in a where condition) has one decision per distinct
// value, and inputs are as many as the distinct requests the policy can
// tell apart; when a bound is reached the cache starts over, so memory
// stays bounded whatever the traffic.
const (
	maxCachedDecisions = 4096
	maxCachedInputs    = 4096
)

// decisionCache maps ast values to validated decisions: decision values,
// as the policy produced them, to their decoding, or policy inputs to
// their decision. It belongs to one revision, so a reload starts with an
// empty cache. It is safe for concurrent use; the cached decisions are
// shared and never mutated.
type decisionCache struct {
	max int
	mu  sync.RWMutex
	m   map[int][]cachedDecision // by ast hash; equal values share a bucket
	n   int
}

type cachedDecision struct {
	v ast.Value
	d *Decision
}

// get returns the decision recorded for a value equal to v, or nil.
func (c *decisionCache) get(v ast.Value) *Decision {
	h := v.Hash()
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.m[h] {
		if e.v.Compare(v) == 0 {
			return e.d
		}
	}
	return nil
}

// put records d for v. Neither evaluation nor the engine mutates a value
// once built, so v can be kept.
func (c *decisionCache) put(v ast.Value, d *Decision) {
	h := v.Hash()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.n >= c.max {
		c.m, c.n = make(map[int][]cachedDecision), 0
	}
	for _, e := range c.m[h] {
		if e.v.Compare(v) == 0 {
			return // another request decoded it meanwhile
		}
	}
	c.m[h] = append(c.m[h], cachedDecision{v, d})
	c.n++
}

// len returns the number of entries.
func (c *decisionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.n
}
