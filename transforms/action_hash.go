package transforms

import (
	"bytes"
	"crypto/sha256"
	"encoding"
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
	msg := raw // scalars without escapes are canonical already
	if c := raw[0]; c == '{' || c == '[' || rw.litEsc {
		rw.canon = appendCanonical(rw.canon[:0], raw, &rw.tmp)
		msg = rw.canon
	}
	rw.sum = mac.appendSum(rw.sum[:0], msg)
	dst = append(dst, '"')
	dst = append(dst, a.prefix...)
	dst = base64.RawURLEncoding.AppendEncode(dst, rw.sum[:a.length])
	return append(dst, '"'), true, nil
}

// hmacSHA256 computes HMAC-SHA-256 (RFC 2104) for one key from the
// precomputed compression states after the key's ipad and opad blocks,
// as FIPS 198-1 section 6 allows. It is what crypto/hmac does internally
// once its hash is marshalable, minus the per-call wrapper work (the
// service-indicator checks, type switches and Reset bookkeeping): about
// 25 ns of the ~180 ns one short value costs inside Rewrite (measured
// interleaved; the two SHA-256 compressions are the floor). The SHA-256 primitive is crypto/sha256's; only the
// standard construction H(K^opad || H(K^ipad || m)) is spelled out here.
// The marshalled states are key material: they live as long as the pooled
// rewriter, like crypto/hmac's own copies, and are never logged.
type hmacSHA256 struct {
	inner, outer   hash.Hash
	innerU, outerU encoding.BinaryUnmarshaler
	ipadSt, opadSt []byte // marshalled states after the ipad/opad block
}

func newHMACSHA256(key []byte) (*hmacSHA256, error) {
	if len(key) > sha256.BlockSize {
		k := sha256.Sum256(key)
		key = k[:]
	}
	var ipad, opad [sha256.BlockSize]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	h := &hmacSHA256{inner: sha256.New(), outer: sha256.New()}
	var err error
	h.inner.Write(ipad[:])
	h.outer.Write(opad[:])
	if h.ipadSt, err = h.inner.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return nil, err
	}
	if h.opadSt, err = h.outer.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return nil, err
	}
	h.innerU = h.inner.(encoding.BinaryUnmarshaler)
	h.outerU = h.outer.(encoding.BinaryUnmarshaler)
	return h, nil
}

// appendSum appends HMAC-SHA-256(key, msg) to dst.
func (h *hmacSHA256) appendSum(dst, msg []byte) []byte {
	// The states come from MarshalBinary of the same hash: restoring them
	// cannot fail.
	_ = h.innerU.UnmarshalBinary(h.ipadSt)
	h.inner.Write(msg)
	n := len(dst)
	dst = h.inner.Sum(dst)
	_ = h.outerU.UnmarshalBinary(h.opadSt)
	h.outer.Write(dst[n:])
	return h.outer.Sum(dst[:n])
}

// subkeys caches derived subkeys per key version for a Program, so the
// hot path runs no HKDF. An entry holds the material it was derived from
// and is used only while the keyring serves that same material: a key
// deleted and created again under the same name and version (vault kv
// metadata delete, then keys rotate) must not keep opening or producing
// values with the destroyed one.
type subkeys struct {
	m sync.Map // keyVersion -> *hashSubkey; sealerKey -> *sealer
}

// hashSubkey is a cached hash subkey and the material it comes from.
type hashSubkey struct {
	material []byte // a copy: the keyring may reuse or clear its own
	sub      []byte
}

type keyVersion struct {
	name    string
	version int
}

// macEntry is the HMAC state of one key name inside a pooled rewriter,
// or a crypto action's memo (name empty, see memo).
type macEntry struct {
	name     string
	sub      []byte
	mac      *hmacSHA256
	seal     *sealer // the memo's cipher, resolved in this Rewrite
	resolved bool    // the primary version was resolved in this Rewrite
}

// mac returns the HMAC for key name, resolving the primary key version
// once per Rewrite call.
func (rw *rewriter) mac(name string) (*hmacSHA256, error) {
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
	if v, ok := p.subkeys.m.Load(kv); ok && bytes.Equal(v.(*hashSubkey).material, k.Material) {
		sub = v.(*hashSubkey).sub
	} else {
		sub, err = k.Subkey(hashPurpose, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: hash key %q: %w", ErrKeyUnavailable, name, err)
		}
		p.subkeys.m.Store(kv, &hashSubkey{material: bytes.Clone(k.Material), sub: sub})
	}
	if e.mac == nil || len(e.sub) == 0 || &e.sub[0] != &sub[0] {
		mac, err := newHMACSHA256(sub)
		if err != nil {
			return nil, fmt.Errorf("%w: hash key %q: %w", ErrKeyUnavailable, name, err)
		}
		e.sub, e.mac = sub, mac
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
