package transforms

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"sync"
	"unicode/utf8"
)

// hashPurpose is the HKDF purpose of the hash subkey.
const hashPurpose = "veil/hash"

// hashAction replaces the selected node by a keyed pseudonym: prefix +
// base64url (no padding) of the HMAC-SHA-256 of the node's canonical JSON
// text (see appendCanonical), truncated to length bytes. The HMAC key is
// derived from the primary version of the named key with
// Key.Subkey("veil/hash", 32). The pseudonym does not carry the key
// version: it is stable for one key version, and a rotation of the key
// changes every pseudonym (joins across a rotation need the old version).
//
// Parameters: key (keyring key name, required), prefix (default "h_"),
// length (HMAC bytes kept, 8..32, default 16).
//
// Per type: the canonical JSON text is hashed, so 42 and "42" give
// different pseudonyms; strings, numbers, booleans and null are hashed as
// they are; objects and arrays are hashed as a whole (one pseudonym for
// the node). The result is always a string.
type hashAction struct {
	key    string
	prefix []byte // escaped for the inside of a JSON string
	length int
}

func compileHash(p *params) (action, error) {
	key, ok, err := p.str("key")
	if !ok || err != nil || key == "" {
		return nil, paramError("key is required (the name of a keyring key)")
	}
	if p.opts.Keys == nil {
		return nil, paramError("hash needs a keyring (Options.Keys is nil)")
	}
	prefix, ok, err := p.str("prefix")
	if err != nil || !utf8.ValidString(prefix) {
		return nil, paramError("prefix must be a string")
	}
	if !ok {
		prefix = "h_"
	}
	n, err := p.intRange("length", 16, 8, 32, "an integer from 8 to 32")
	if err != nil {
		return nil, err
	}
	return &hashAction{key: key, prefix: appendEscaped(nil, []byte(prefix)), length: n}, nil
}

func (a *hashAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	mac, err := rw.mac(a.key)
	if err != nil {
		return dst, false, err
	}
	mac.Reset()
	if c := raw[0]; c == '{' || c == '[' || (c == '"' && bytes.IndexByte(raw, '\\') >= 0) {
		rw.canon = appendCanonical(rw.canon[:0], raw, &rw.tmp)
		mac.Write(rw.canon)
	} else {
		mac.Write(raw) // scalars without escapes are canonical already
	}
	rw.sum = mac.Sum(rw.sum[:0])
	dst = append(dst, '"')
	dst = append(dst, a.prefix...)
	dst = base64.RawURLEncoding.AppendEncode(dst, rw.sum[:a.length])
	return append(dst, '"'), true, nil
}

// subkeys caches derived hash subkeys per key version for a Program, so
// the hot path runs no HKDF.
type subkeys struct {
	m sync.Map // keyVersion -> []byte
}

type keyVersion struct {
	name    string
	version int
}

// macEntry is the HMAC state of one key name inside a pooled rewriter.
type macEntry struct {
	name     string
	sub      []byte
	mac      hash.Hash
	resolved bool // the primary version was resolved in this Rewrite
}

// mac returns the HMAC for key name, resolving the primary key version
// once per Rewrite call.
func (rw *rewriter) mac(name string) (hash.Hash, error) {
	var e *macEntry
	for i := range rw.macs {
		if rw.macs[i].name == name {
			e = &rw.macs[i]
			break
		}
	}
	if e == nil {
		rw.macs = append(rw.macs, macEntry{name: name})
		e = &rw.macs[len(rw.macs)-1]
	}
	if e.resolved {
		return e.mac, nil
	}
	p := rw.p
	k, err := p.opts.Keys.Primary(name, Now())
	if err != nil {
		return nil, fmt.Errorf("%w: hash key %q: %w", ErrKeyUnavailable, name, err)
	}
	kv := keyVersion{name: name, version: k.Version}
	var sub []byte
	if v, ok := p.subkeys.m.Load(kv); ok {
		sub = v.([]byte)
	} else {
		sub, err = k.Subkey(hashPurpose, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: hash key %q: %w", ErrKeyUnavailable, name, err)
		}
		v, _ := p.subkeys.m.LoadOrStore(kv, sub)
		sub = v.([]byte)
	}
	if e.mac == nil || len(e.sub) == 0 || &e.sub[0] != &sub[0] {
		e.sub = sub
		e.mac = hmac.New(sha256.New, sub)
	}
	e.resolved = true
	return e.mac, nil
}

// appendCanonical appends the canonical JSON text of the valid value raw:
// no insignificant whitespace; strings decoded and re-encoded with the
// minimal escaping of appendQuoted (so "\u0061" and "a" are the same);
// numbers, literals and the order of object members (duplicates included)
// exactly as in the original. Members are not sorted: the canonical text
// identifies the value as the upstream sent it.
func appendCanonical(dst, raw []byte, tmp *[]byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case isWS(c):
			i++
		case c == '"':
			end, esc := scanString(raw, i)
			if esc {
				*tmp = appendUnescaped((*tmp)[:0], raw[i:end])
				dst = appendQuoted(dst, *tmp)
			} else {
				dst = append(dst, raw[i:end]...) // already canonical
			}
			i = end
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}
