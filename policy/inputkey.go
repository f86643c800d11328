package policy

import (
	"encoding/binary"
	"strings"
	"sync"
)

// The input key. A cached decision is found by a compact byte key built
// straight from the request's fields instead of by building the ast input
// document, hashing and comparing it: the hit path then costs a few
// hundred nanoseconds instead of microseconds. The key holds exactly the
// fields the revision can read (inputUse), each tagged and
// length-prefixed, so it is injective: two requests with one key have
// equal input documents, hence one decision. It is at least as fine as
// document equality (query and header pairs keep their order, which the
// document partly forgets), which only costs hits, never correctness.
// Credential headers are left out, as from the document, so no credential
// is ever part of a key kept in memory.
//
// Inputs the key cannot stand for go the document way (decisionCache by
// ast value): subject claims (arbitrary JSON), and a body or a body state
// that depends on decoding the body.

// maxCachedKeys bounds the key cache; keys are small (typically < 200 B).
const maxCachedKeys = 1 << 16

// keyable reports whether in's input document is determined by its key.
func keyable(in *Input, uses inputUse, readsBody bool) bool {
	if uses&useClaims != 0 && len(in.Subject.Claims) > 0 {
		return false
	}
	if readsBody && in.BodyState == BodyParsed && uses&(useBody|useBodyState) != 0 {
		return false
	}
	return true
}

const (
	tagMethod byte = 1 + iota
	tagHost
	tagPath
	tagSegments
	tagQuery
	tagHeaders
	tagBodyState
	tagClientIP
	tagRouteName
	tagRoutePrefix
	tagAuthenticated
	tagSubjectID
	tagRoles
	tagSubjectMethod
)

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendPairs(dst []byte, tag byte, pairs [][2]string, drop []string) []byte {
	dst = append(dst, tag)
	n := 0
	for _, p := range pairs {
		if !dropped(p[0], drop) {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, p := range pairs {
		if !dropped(p[0], drop) {
			dst = appendStr(appendStr(dst, p[0]), p[1])
		}
	}
	return dst
}

func dropped(name string, drop []string) bool {
	for _, d := range drop {
		if strings.EqualFold(name, d) {
			return true
		}
	}
	return false
}

// appendInputKey appends the key of in for a revision reading uses.
func (e *Engine) appendInputKey(dst []byte, in *Input, uses inputUse) []byte {
	str := func(tag byte, s string) { dst = appendStr(append(dst, tag), s) }
	list := func(tag byte, l []string) {
		dst = binary.AppendUvarint(append(dst, tag), uint64(len(l)))
		for _, s := range l {
			dst = appendStr(dst, s)
		}
	}
	if uses&useMethod != 0 {
		str(tagMethod, in.Method)
	}
	if uses&useHost != 0 {
		str(tagHost, in.Host)
	}
	if uses&usePath != 0 {
		str(tagPath, in.Path)
	}
	if uses&useSegments != 0 {
		list(tagSegments, in.Segments)
	}
	if uses&useQuery != 0 {
		dst = appendPairs(dst, tagQuery, in.Query, nil)
	}
	if uses&useHeaders != 0 {
		dst = appendPairs(dst, tagHeaders, in.Headers, e.creds)
	}
	if uses&useBodyState != 0 {
		state := in.BodyState
		if state == "" {
			state = BodyAbsent
		}
		str(tagBodyState, state)
	}
	if uses&useClientIP != 0 {
		str(tagClientIP, in.ClientIP)
	}
	if uses&useRouteName != 0 {
		str(tagRouteName, in.RouteName)
	}
	if uses&useRoutePrefix != 0 {
		str(tagRoutePrefix, in.RoutePrefix)
	}
	if uses&useAuthenticated != 0 {
		b := byte(0)
		if in.Subject.Authenticated {
			b = 1
		}
		dst = append(dst, tagAuthenticated, b)
	}
	if uses&useSubjectID != 0 {
		str(tagSubjectID, in.Subject.ID)
	}
	if uses&useRoles != 0 {
		list(tagRoles, in.Subject.Roles)
	}
	if uses&useSubjectMethod != 0 {
		str(tagSubjectMethod, in.Subject.Method)
	}
	return dst
}

// keyCache maps input keys to decisions; like decisionCache it belongs to
// one revision and starts over when full.
type keyCache struct {
	mu sync.RWMutex
	m  map[string]*Decision
}

func (c *keyCache) get(key []byte) *Decision {
	c.mu.RLock()
	d := c.m[string(key)]
	c.mu.RUnlock()
	return d
}

func (c *keyCache) put(key []byte, d *Decision) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[string]*Decision, 1024)
	}
	c.m[string(key)] = d
	c.mu.Unlock()
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}
