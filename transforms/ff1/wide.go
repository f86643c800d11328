package ff1

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// u128 is an unsigned 128-bit integer for the wide path.
type u128 struct{ hi, lo uint64 }

// mul64 returns x*r and whether it fits in 128 bits.
func (x u128) mul64(r uint64) (u128, bool) {
	h, l := bits.Mul64(x.lo, r)
	hh, hl := bits.Mul64(x.hi, r)
	hi, carry := bits.Add64(hl, h, 0)
	return u128{hi, l}, hh == 0 && carry == 0
}

// mulAdd returns x*r + d, which the caller knows fits in 128 bits.
func (x u128) mulAdd(r, d uint64) u128 {
	h, l := bits.Mul64(x.lo, r)
	l, carry := bits.Add64(l, d, 0)
	return u128{x.hi*r + h + carry, l}
}

// add and sub wrap modulo 2^128; add also reports the carry out.
func (x u128) add(y u128) (u128, uint64) {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	return u128{hi, lo}, c
}

func (x u128) sub(y u128) u128 {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, _ := bits.Sub64(x.hi, y.hi, b)
	return u128{hi, lo}
}

func (x u128) less(y u128) bool {
	return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo)
}

// divmod64 returns x / r and x % r.
func (x u128) divmod64(r uint64) (u128, uint64) {
	qhi, rem := x.hi/r, x.hi%r
	qlo, rem := bits.Div64(rem, x.lo, r)
	return u128{qhi, qlo}, rem
}

// modStep returns (rem*2^64 + limb) mod m for rem < m.
func modStep(rem u128, limb uint64, m u128) u128 {
	if m.hi == 0 {
		_, r := bits.Div64(rem.lo, limb, m.lo)
		return u128{lo: r}
	}
	// One step of Knuth's algorithm D: a 3-limb dividend N < D*2^64
	// over the normalized 2-limb divisor D has a one-limb quotient, and
	// the estimate from the top limbs is at most 2 too large.
	s := uint(bits.LeadingZeros64(m.hi))
	d1 := m.hi<<s | m.lo>>(64-s)
	d0 := m.lo << s
	n2 := rem.hi<<s | rem.lo>>(64-s)
	n1 := rem.lo<<s | limb>>(64-s)
	n0 := limb << s
	qhat := ^uint64(0)
	if n2 < d1 {
		qhat, _ = bits.Div64(n2, n1, d1)
	}
	a1, p0 := bits.Mul64(qhat, d0)
	b1, b0 := bits.Mul64(qhat, d1)
	p1, c := bits.Add64(b0, a1, 0)
	p2 := b1 + c
	for k := 0; k < 2 && greater3(p2, p1, p0, n2, n1, n0); k++ {
		var bw uint64
		p0, bw = bits.Sub64(p0, d0, 0)
		p1, bw = bits.Sub64(p1, d1, bw)
		p2 -= bw
	}
	r0, bw := bits.Sub64(n0, p0, 0)
	r1, _ := bits.Sub64(n1, p1, bw)
	// The remainder is below D, so its top limb is zero; undo the shift.
	return u128{r1 >> s, r0>>s | r1<<(64-s)}
}

func greater3(a2, a1, a0, b2, b1, b0 uint64) bool {
	if a2 != b2 {
		return a2 > b2
	}
	if a1 != b1 {
		return a1 > b1
	}
	return a0 > b0
}

// cryptWide is cryptFast for radix^v < 2^128: b <= 16, d <= 20, so S is R
// plus at most one extra block.
func (c *Cipher) cryptWide(dst, x []uint16, tweak []byte, u, v int, enc bool) []uint16 {
	n := u + v
	r := uint64(c.radix)
	var a, bb u128
	for _, d := range x[:u] {
		a = a.mulAdd(r, uint64(d))
	}
	for _, d := range x[u:] {
		bb = bb.mulAdd(r, uint64(d))
	}
	b := c.byteLenWide[v]
	d := 4*((b+3)/4) + 4
	powU, powV := c.powWide[u], c.powWide[v]

	sc := scratchPool.Get().(*scratch)
	off := c.prfSetup(sc, tweak, n, u, b)
	num := sc.tail[off+1:]
	var tmp [16]byte

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
		binary.BigEndian.PutUint64(tmp[:8], in.hi)
		binary.BigEndian.PutUint64(tmp[8:], in.lo)
		copy(num, tmp[16-b:])
		c.prf(sc, off, byte(i))
		copy(sc.sw[:16], sc.r[:])
		if d > 16 {
			sc.tmp = sc.r
			sc.tmp[15] ^= 1
			c.block.Encrypt(sc.sw[16:], sc.tmp[:])
		}
		// y mod m, 64-bit limbs from the most significant; the first
		// may be partial.
		var y u128
		S := sc.sw[:d]
		if p := d % 8; p != 0 {
			var top uint64
			for _, by := range S[:p] {
				top = top<<8 | uint64(by)
			}
			y = modStep(y, top, m)
			S = S[p:]
		}
		for ; len(S) > 0; S = S[8:] {
			y = modStep(y, binary.BigEndian.Uint64(S), m)
		}
		if enc {
			cv, carry := a.add(y)
			if carry != 0 || !cv.less(m) {
				cv = cv.sub(m)
			}
			a, bb = bb, cv
		} else {
			cv := bb.sub(y)
			if bb.less(y) {
				cv, _ = cv.add(m)
			}
			a, bb = cv, a
		}
	}
	scratchPool.Put(sc)

	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	var rem uint64
	for j := u - 1; j >= 0; j-- {
		a, rem = a.divmod64(r)
		out[j] = uint16(rem)
	}
	for j := n - 1; j >= u; j-- {
		bb, rem = bb.divmod64(r)
		out[j] = uint16(rem)
	}
	return dst[:len(dst)+n]
}
