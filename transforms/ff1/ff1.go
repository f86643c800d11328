// Package ff1 implements the FF1 format-preserving block cipher of NIST
// SP 800-38G Rev. 1 (Algorithms 7 and 8) on crypto/aes: it maps a string of
// numerals in [0, radix) to another string of the same length and radix,
// under an AES-128/192/256 key and an optional tweak.
//
// Domain rule (SP 800-38G Rev. 1): radix^len must be at least 1,000,000;
// shorter inputs are rejected with ErrDomainTooSmall, never encrypted.
//
// FF1 is a deterministic permutation: it has no integrity protection (a
// tampered ciphertext decrypts to some other valid plaintext, undetected)
// and the ciphertext carries no key version. Callers rotate by key name and
// must know which key a value was encrypted under.
//
// When radix^ceil(len/2) fits in 64 bits (9-digit SSNs, 16-digit card
// numbers, up to 38 decimal digits) or 128 bits (up to 76 decimal digits)
// the Feistel rounds run on fixed-width integers without allocating;
// longer inputs use math/big. All paths give identical results.
//
// The package owns only the cipher. It knows nothing about alphabets,
// JSON, keys' provenance (vault) or the transform actions built on it.
package ff1

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"sync"
)

// Limits.
const (
	// MinDomain is the smallest radix^len SP 800-38G Rev. 1 allows.
	MinDomain = 1_000_000
	// MaxLength is the longest input, in numerals, Encrypt and Decrypt
	// accept (SP 800-38G allows up to 2^32-1; longer values are not
	// identifiers and would be slow on the math/big path).
	MaxLength = 4096
	// MaxRadix is the largest radix New accepts (SP 800-38G: 2^16).
	MaxRadix = 1 << 16
)

// Errors. Messages never contain numerals, tweaks or key bytes.
var (
	// ErrKeySize: the key is not 16, 24 or 32 bytes long.
	ErrKeySize = errors.New("ff1: key must be 16, 24 or 32 bytes")
	// ErrRadix: radix outside [2, 65536].
	ErrRadix = errors.New("ff1: radix out of range")
	// ErrDomainTooSmall: radix^len < 1,000,000 (SP 800-38G Rev. 1).
	ErrDomainTooSmall = errors.New("ff1: domain too small")
	// ErrLength: fewer than 2 or more than MaxLength numerals.
	ErrLength = errors.New("ff1: invalid length")
	// ErrNumeral: a numeral is not in [0, radix).
	ErrNumeral = errors.New("ff1: numeral out of range")
	// ErrTweak: the tweak is longer than the cipher's tweakMax, or
	// tweakMax itself is invalid.
	ErrTweak = errors.New("ff1: tweak too long")
)

// maxFastDigits bounds the per-radix power table: radix 2 fits 63 digits in
// a uint64.
const maxFastDigits = 64

// Cipher is an FF1 instance for one key and radix. It is immutable after
// New and safe for concurrent use.
type Cipher struct {
	block    cipher.Block
	radix    int
	tweakMax int
	// minLen is the smallest accepted length (radix^minLen >= MinDomain,
	// minLen >= 2). Tests lower it to check legacy vectors.
	minLen int

	// Fast path: pow[k] = radix^k for k <= maxFast, the largest k with
	// radix^k < 2^64; byteLen[k] = b of Algorithm 7 step 3 for v = k.
	maxFast int
	pow     [maxFastDigits + 1]uint64
	byteLen [maxFastDigits + 1]int

	// Big path: chunk digits per uint64 word, chunkPow = radix^chunk.
	chunk    int
	chunkPow *big.Int
	bigRadix *big.Int

	// Wide path: the same for 128-bit integers (radix^k < 2^128).
	maxWide     int
	powWide     [2*maxFastDigits + 1]u128
	byteLenWide [2*maxFastDigits + 1]int

	// force routes calls to one path (tests only): forceWide uses the
	// 128-bit path wherever it fits, forceBig always uses math/big.
	force int
}

// Values of Cipher.force.
const (
	forceNone = iota
	forceWide
	forceBig
)

// New returns an FF1 cipher for an AES key (16, 24 or 32 bytes), a radix in
// [2, 65536] and tweaks of at most tweakMax bytes (0: no tweak allowed).
// The key is copied into the AES key schedule; the caller may zero it.
func New(key []byte, radix int, tweakMax int) (*Cipher, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("ff1: new: %d-byte key: %w", len(key), ErrKeySize)
	}
	if radix < 2 || radix > MaxRadix {
		return nil, fmt.Errorf("ff1: new: radix %d: %w", radix, ErrRadix)
	}
	if tweakMax < 0 || int64(tweakMax) > math.MaxUint32 {
		return nil, fmt.Errorf("ff1: new: tweakMax %d: %w", tweakMax, ErrTweak)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("ff1: new: %w", ErrKeySize)
	}
	c := &Cipher{block: block, radix: radix, tweakMax: tweakMax}

	r := uint64(radix)
	c.pow[0] = 1
	for k := 1; k <= maxFastDigits; k++ {
		hi, lo := bits.Mul64(c.pow[k-1], r)
		if hi != 0 {
			break
		}
		c.pow[k] = lo
		c.maxFast = k
		// b = ceil(ceil(k*log2(radix))/8); ceil(log2 N) = bitlen(N-1).
		c.byteLen[k] = (bits.Len64(lo-1) + 7) / 8
	}
	c.powWide[0] = u128{lo: 1}
	for k := 1; k <= 2*maxFastDigits; k++ {
		p, ok := c.powWide[k-1].mul64(r)
		if !ok {
			break
		}
		c.powWide[k] = p
		c.maxWide = k
		m1 := p.sub(u128{lo: 1})
		bl := bits.Len64(m1.lo)
		if m1.hi != 0 {
			bl = 64 + bits.Len64(m1.hi)
		}
		c.byteLenWide[k] = (bl + 7) / 8
	}
	c.chunk = c.maxFast
	c.chunkPow = new(big.Int).SetUint64(c.pow[c.chunk])
	c.bigRadix = big.NewInt(int64(radix))

	c.minLen = 2
	for d := uint64(r * r); d < MinDomain; d *= r {
		c.minLen++
	}
	return c, nil
}

// Radix returns the cipher's radix.
func (c *Cipher) Radix() int { return c.radix }

// MinLength returns the shortest input length the cipher accepts: the
// smallest n >= 2 with radix^n >= 1,000,000.
func (c *Cipher) MinLength() int { return c.minLen }

// Encrypt appends the FF1 encryption of numerals (each in [0, radix)) under
// tweak to dst and returns the extended slice. dst may be numerals[:0]
// (in-place). On error dst is returned unchanged.
func (c *Cipher) Encrypt(dst, numerals []uint16, tweak []byte) ([]uint16, error) {
	if err := c.check(numerals, tweak); err != nil {
		return dst, fmt.Errorf("ff1: encrypt: %w", err)
	}
	return c.crypt(dst, numerals, tweak, true), nil
}

// Decrypt appends the FF1 decryption of numerals under tweak to dst and
// returns the extended slice. dst may be numerals[:0] (in-place). On error
// dst is returned unchanged. A wrong key or tweak is not detected: it
// yields a different, valid-looking plaintext.
func (c *Cipher) Decrypt(dst, numerals []uint16, tweak []byte) ([]uint16, error) {
	if err := c.check(numerals, tweak); err != nil {
		return dst, fmt.Errorf("ff1: decrypt: %w", err)
	}
	return c.crypt(dst, numerals, tweak, false), nil
}

func (c *Cipher) check(x []uint16, tweak []byte) error {
	n := len(x)
	if n < 2 || n > MaxLength {
		return fmt.Errorf("%d numerals: %w", n, ErrLength)
	}
	if n < c.minLen {
		return fmt.Errorf("%d numerals of radix %d: %w", n, c.radix, ErrDomainTooSmall)
	}
	if len(tweak) > c.tweakMax {
		return fmt.Errorf("%d-byte tweak, max %d: %w", len(tweak), c.tweakMax, ErrTweak)
	}
	r := uint16(c.radix - 1) // radix 65536 wraps to 65535: all valid
	if c.radix < MaxRadix {
		for i, d := range x {
			if d > r {
				return fmt.Errorf("numeral at index %d: %w", i, ErrNumeral)
			}
		}
	}
	return nil
}

func (c *Cipher) crypt(dst, x []uint16, tweak []byte, enc bool) []uint16 {
	n := len(x)
	u := n / 2
	v := n - u
	switch {
	case c.force == forceBig:
	case v <= c.maxFast && c.force == forceNone:
		return c.cryptFast(dst, x, tweak, u, v, enc)
	case v <= c.maxWide:
		return c.cryptWide(dst, x, tweak, u, v, enc)
	}
	return c.cryptBig(dst, x, tweak, u, v, enc)
}

// scratch holds the per-call buffers handed to the cipher.Block interface
// (which would otherwise make them escape to the heap on every call).
type scratch struct {
	state [16]byte // CBC-MAC state after P and the constant part of Q
	r     [16]byte // R of the current round
	tmp   [16]byte
	tail  []byte   // last blocks of Q: tweak residue || i || NUM(B)
	s     []byte   // S for d > 16 (big path)
	sw    [32]byte // S for the wide path (d <= 20)
}

var scratchPool = sync.Pool{New: func() any { return &scratch{tail: make([]byte, 0, 64)} }}

// prfSetup runs the CBC-MAC over P and over the blocks of Q that do not
// depend on the round (Algorithm 7 steps 5 and 6.i), leaving the state in
// sc.state and the constant residue at the start of sc.tail. It returns the
// offset of the round byte i in sc.tail; sc.tail has room for i and b bytes
// of NUM after it.
func (c *Cipher) prfSetup(sc *scratch, tweak []byte, n, u, b int) int {
	t := len(tweak)
	var p [16]byte
	p[0], p[1], p[2] = 1, 2, 1
	p[3], p[4], p[5] = byte(c.radix>>16), byte(c.radix>>8), byte(c.radix)
	p[6] = 10
	p[7] = byte(u)
	binary.BigEndian.PutUint32(p[8:], uint32(n))
	binary.BigEndian.PutUint32(p[12:], uint32(t))
	sc.state = p
	c.block.Encrypt(sc.state[:], sc.state[:])

	pad := (16 - (t+b+1)%16) % 16
	cons := t + pad // T || 0^pad
	full := cons / 16
	for j := 0; j < full; j++ {
		for k := 0; k < 16; k++ {
			if idx := j*16 + k; idx < t {
				sc.state[k] ^= tweak[idx]
			}
		}
		c.block.Encrypt(sc.state[:], sc.state[:])
	}
	res := cons - full*16
	size := res + 1 + b
	if cap(sc.tail) < size {
		sc.tail = make([]byte, size)
	}
	sc.tail = sc.tail[:size]
	for k := 0; k < res; k++ {
		idx := full*16 + k
		if idx < t {
			sc.tail[k] = tweak[idx]
		} else {
			sc.tail[k] = 0
		}
	}
	return res
}

// prf finishes R = PRF(P || Q) for round i once NUM(B) is in sc.tail.
func (c *Cipher) prf(sc *scratch, off int, i byte) {
	sc.tail[off] = i
	sc.r = sc.state
	for j := 0; j < len(sc.tail); j += 16 {
		for k := 0; k < 16; k++ {
			sc.r[k] ^= sc.tail[j+k]
		}
		c.block.Encrypt(sc.r[:], sc.r[:])
	}
}

// cryptFast runs Algorithms 7/8 with A and B held as uint64 (radix^v <
// 2^64). Between rounds only NUM_radix of the halves matters, so numerals
// are converted once on entry and once on exit.
func (c *Cipher) cryptFast(dst, x []uint16, tweak []byte, u, v int, enc bool) []uint16 {
	n := u + v
	r := uint64(c.radix)
	var a, bb uint64
	for _, d := range x[:u] {
		a = a*r + uint64(d)
	}
	for _, d := range x[u:] {
		bb = bb*r + uint64(d)
	}
	b := c.byteLen[v]
	d := 4*((b+3)/4) + 4 // <= 12: S is the first d bytes of R
	powU, powV := c.pow[u], c.pow[v]

	sc := scratchPool.Get().(*scratch)
	off := c.prfSetup(sc, tweak, n, u, b)
	num := sc.tail[off+1:]

	for k := 0; k < 10; k++ {
		i := k
		if !enc {
			i = 9 - k
		}
		m := powU
		if i&1 == 1 {
			m = powV
		}
		// Encrypt feeds B into the PRF, Decrypt feeds A.
		in := bb
		if !enc {
			in = a
		}
		for j := b - 1; j >= 0; j-- {
			num[j] = byte(in)
			in >>= 8
		}
		c.prf(sc, off, byte(i))
		// y = NUM(S), S = R[:d], d in {8, 12}; y mod m.
		lo := binary.BigEndian.Uint64(sc.r[d-8 : d])
		var hi uint64
		if d == 12 {
			hi = uint64(binary.BigEndian.Uint32(sc.r[:4])) % m
		}
		_, y := bits.Div64(hi, lo, m)
		if enc {
			cv, carry := bits.Add64(a, y, 0)
			if carry != 0 || cv >= m {
				cv -= m
			}
			a, bb = bb, cv
		} else {
			var cv uint64
			if bb >= y {
				cv = bb - y
			} else {
				cv = bb + (m - y)
			}
			a, bb = cv, a
		}
	}
	scratchPool.Put(sc)

	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	for j := u - 1; j >= 0; j-- {
		out[j] = uint16(a % r)
		a /= r
	}
	for j := n - 1; j >= u; j-- {
		out[j] = uint16(bb % r)
		bb /= r
	}
	return dst[:len(dst)+n]
}

// cryptBig is cryptFast on math/big for domains beyond 64 bits.
func (c *Cipher) cryptBig(dst, x []uint16, tweak []byte, u, v int, enc bool) []uint16 {
	n := u + v
	a := c.num(x[:u])
	bb := c.num(x[u:])
	powU := new(big.Int).Exp(c.bigRadix, big.NewInt(int64(u)), nil)
	powV := new(big.Int).Exp(c.bigRadix, big.NewInt(int64(v)), nil)
	b := (new(big.Int).Sub(powV, big.NewInt(1)).BitLen() + 7) / 8
	d := 4*((b+3)/4) + 4
	blocks := (d + 15) / 16

	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	off := c.prfSetup(sc, tweak, n, u, b)
	num := sc.tail[off+1:]
	if cap(sc.s) < blocks*16 {
		sc.s = make([]byte, blocks*16)
	}
	s := sc.s[:blocks*16]
	y, spare, q := new(big.Int), new(big.Int), new(big.Int)

	for k := 0; k < 10; k++ {
		i := k
		if !enc {
			i = 9 - k
		}
		m := powU
		if i&1 == 1 {
			m = powV
		}
		in := bb
		if !enc {
			in = a
		}
		in.FillBytes(num)
		c.prf(sc, off, byte(i))
		copy(s, sc.r[:])
		for j := 1; j < blocks; j++ {
			sc.tmp = sc.r
			binary.BigEndian.PutUint64(sc.tmp[8:], binary.BigEndian.Uint64(sc.tmp[8:])^uint64(j))
			c.block.Encrypt(s[j*16:], sc.tmp[:])
		}
		y.SetBytes(s[:d])
		// c is computed into the spare buffer; the halves then rotate
		// through the three big.Ints without allocating.
		cv := spare
		if enc {
			cv.Add(a, y)
			q.QuoRem(cv, m, cv) // cv >= 0: remainder in [0, m)
			a, bb, spare = bb, cv, a
		} else {
			cv.Sub(bb, y)
			q.QuoRem(cv, m, cv) // truncated: remainder in (-m, m)
			if cv.Sign() < 0 {
				cv.Add(cv, m)
			}
			a, bb, spare = cv, a, bb
		}
	}

	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	c.str(out[:u], a)
	c.str(out[u:], bb)
	return dst[:len(dst)+n]
}

// num is NUM_radix(x), c.chunk numerals at a time.
func (c *Cipher) num(x []uint16) *big.Int {
	r := uint64(c.radix)
	z := new(big.Int)
	w := new(big.Int)
	first := len(x) % c.chunk
	if first == 0 {
		first = c.chunk
	}
	for len(x) > 0 {
		k := min(first, len(x))
		first = c.chunk
		var acc uint64
		for _, d := range x[:k] {
			acc = acc*r + uint64(d)
		}
		if k == c.chunk {
			z.Mul(z, c.chunkPow)
		} else {
			z.Mul(z, w.SetUint64(c.pow[k]))
		}
		z.Add(z, w.SetUint64(acc))
		x = x[k:]
	}
	return z
}

// str writes STR^len(out)_radix(z) into out; z < radix^len(out) and is
// consumed.
func (c *Cipher) str(out []uint16, z *big.Int) {
	r := uint64(c.radix)
	rem, div := new(big.Int), new(big.Int)
	for end := len(out); end > 0; {
		k := min(c.chunk, end)
		if k == c.chunk {
			z.QuoRem(z, c.chunkPow, rem)
		} else {
			z.QuoRem(z, div.SetUint64(c.pow[k]), rem)
		}
		acc := rem.Uint64()
		for j := end - 1; j >= end-k; j-- {
			out[j] = uint16(acc % r)
			acc /= r
		}
		end -= k
	}
}
