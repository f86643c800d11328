// Package siv implements AES-SIV (RFC 5297) deterministic authenticated
// encryption with one associated-data component, on crypto/aes.
//
// It exists for speed, not novelty: the construction is exactly RFC 5297
// (S2V over AES-CMAC, RFC 4493, then AES-CTR), held to the RFC vectors and
// every Wycheproof AES-SIV-CMAC vector, and cross-checked against tink's
// implementation. Unlike a general-purpose library it expands the AES keys
// once and precomputes the associated data's part of S2V (Bind), because
// Veil seals many small values under one fixed associated data: a token
// then costs a few AES block operations and no key schedule.
package siv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"sync"
)

const blockSize = 16

// ErrKeySize: the key is not 32, 48 or 64 bytes (AES-128/192/256-SIV).
var ErrKeySize = errors.New("siv: key must be 32, 48 or 64 bytes")

// Cipher is AES-SIV under one key. It is safe for concurrent use.
type Cipher struct {
	mac, ctr cipher.Block    // K1 (S2V/CMAC) and K2 (CTR)
	k1, k2   [blockSize]byte // CMAC subkeys
	d0       [blockSize]byte // CMAC(K1, 0^128)
	pool     sync.Pool       // *scratch
}

type scratch struct {
	x, y, q [blockSize]byte
	v, t    [blockSize]byte // S2V output and the short-plaintext T
	buf     []byte          // T of S2V for plaintexts of a block or more
}

// New returns the cipher for a 32, 48 or 64-byte key: the first half keys
// S2V, the second half CTR.
func New(key []byte) (*Cipher, error) {
	switch len(key) {
	case 32, 48, 64:
	default:
		return nil, ErrKeySize
	}
	h := len(key) / 2
	mac, err := aes.NewCipher(key[:h])
	if err != nil {
		return nil, err
	}
	ctr, err := aes.NewCipher(key[h:])
	if err != nil {
		return nil, err
	}
	c := &Cipher{mac: mac, ctr: ctr}
	c.pool.New = func() any { return new(scratch) }
	var l [blockSize]byte
	mac.Encrypt(l[:], l[:])
	dbl(&c.k1, &l)
	dbl(&c.k2, &c.k1)
	var zero [blockSize]byte
	c.cmac(&c.d0, zero[:], new(scratch))
	return c, nil
}

// dbl sets d to s doubled in GF(2^128) (RFC 5297 2.3).
func dbl(d, s *[blockSize]byte) {
	carry := s[0] >> 7
	for i := 0; i < blockSize-1; i++ {
		d[i] = s[i]<<1 | s[i+1]>>7
	}
	d[blockSize-1] = s[blockSize-1]<<1 ^ carry*0x87
}

// cmac sets t to AES-CMAC(K1, m) (RFC 4493).
func (c *Cipher) cmac(t *[blockSize]byte, m []byte, s *scratch) {
	x := &s.x
	*x = [blockSize]byte{}
	for len(m) > blockSize {
		subtle.XORBytes(x[:], x[:], m[:blockSize])
		c.mac.Encrypt(x[:], x[:])
		m = m[blockSize:]
	}
	if len(m) == blockSize {
		subtle.XORBytes(x[:], x[:], m)
		subtle.XORBytes(x[:], x[:], c.k1[:])
	} else {
		var last [blockSize]byte
		copy(last[:], m)
		last[len(m)] = 0x80
		subtle.XORBytes(x[:], x[:], last[:])
		subtle.XORBytes(x[:], x[:], c.k2[:])
	}
	c.mac.Encrypt(t[:], x[:])
}

// Bound is the cipher with one associated data bound: the AD's part of
// S2V is computed once.
type Bound struct {
	c *Cipher
	d [blockSize]byte // dbl(CMAC(0)) xor CMAC(AD)
}

// Bind precomputes the associated data ad.
func (c *Cipher) Bind(ad []byte) *Bound {
	b := &Bound{c: c}
	var t [blockSize]byte
	c.cmac(&t, ad, new(scratch))
	dbl(&b.d, &c.d0)
	subtle.XORBytes(b.d[:], b.d[:], t[:])
	return b
}

// s2v sets v to S2V(K1, AD, p) given the AD state d (RFC 5297 2.4).
func (c *Cipher) s2v(v *[blockSize]byte, d *[blockSize]byte, p []byte, s *scratch) {
	if len(p) >= blockSize {
		// T = P xorend D.
		t := append(s.buf[:0], p...)
		subtle.XORBytes(t[len(t)-blockSize:], t[len(t)-blockSize:], d[:])
		c.cmac(v, t, s)
		if cap(t) <= 64<<10 {
			s.buf = t
		}
		return
	}
	t := &s.y
	dbl(t, d)
	var pad [blockSize]byte
	copy(pad[:], p)
	pad[len(p)] = 0x80
	subtle.XORBytes(t[:], t[:], pad[:])
	c.cmacBlock(v, t, s)
}

// cmacBlock is cmac of exactly one complete block.
func (c *Cipher) cmacBlock(t, m *[blockSize]byte, s *scratch) {
	subtle.XORBytes(s.x[:], m[:], c.k1[:])
	c.mac.Encrypt(t[:], s.x[:])
}

// ctrXOR appends in XOR the AES-CTR keystream from counter iv (128-bit
// big-endian increment, as RFC 5297 specifies) to dst.
func (c *Cipher) ctrXOR(dst, in []byte, iv *[blockSize]byte, s *scratch) []byte {
	ctr := &s.q
	*ctr = *iv
	ks := &s.y
	for len(in) > 0 {
		c.ctr.Encrypt(ks[:], ctr[:])
		n := min(len(in), blockSize)
		start := len(dst)
		dst = append(dst, in[:n]...)
		subtle.XORBytes(dst[start:], dst[start:], ks[:n])
		in = in[n:]
		for i := blockSize - 1; i >= 0; i-- {
			ctr[i]++
			if ctr[i] != 0 {
				break
			}
		}
	}
	return dst
}

// Seal appends V || C, the deterministic encryption of p, to dst.
func (b *Bound) Seal(dst, p []byte) []byte {
	c := b.c
	s := c.pool.Get().(*scratch)
	defer c.pool.Put(s)
	v := &s.v
	c.s2v(v, &b.d, p, s)
	dst = append(dst, v[:]...)
	v[8] &= 0x7f // v becomes Q, the first counter block
	v[12] &= 0x7f
	return c.ctrXOR(dst, p, v, s)
}

// Open appends the plaintext of ct (V || C) to dst and reports whether it
// is authentic; on false dst is returned unextended.
func (b *Bound) Open(dst, ct []byte) ([]byte, bool) {
	if len(ct) < blockSize {
		return dst, false
	}
	c := b.c
	s := c.pool.Get().(*scratch)
	defer c.pool.Put(s)
	q := &s.v
	copy(q[:], ct[:blockSize])
	q[8] &= 0x7f
	q[12] &= 0x7f
	start := len(dst)
	dst = c.ctrXOR(dst, ct[blockSize:], q, s)
	t := &s.t
	c.s2v(t, &b.d, dst[start:], s)
	if subtle.ConstantTimeCompare(t[:], ct[:blockSize]) != 1 {
		clear(dst[start:])
		return dst[:start], false
	}
	return dst, true
}

// Seal encrypts p under associated data ad (Bind(ad).Seal).
func (c *Cipher) Seal(dst, p, ad []byte) []byte { return c.Bind(ad).Seal(dst, p) }

// Open decrypts ct under associated data ad (Bind(ad).Open).
func (c *Cipher) Open(dst, ct, ad []byte) ([]byte, bool) { return c.Bind(ad).Open(dst, ct) }
