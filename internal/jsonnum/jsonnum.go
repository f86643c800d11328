// Package jsonnum compares JSON number literals by their exact decimal
// value.
//
// Conditions and filters compare numbers of a body with numbers of a
// policy. As float64 (what encoding/json and strconv give), distinct
// integers above 2^53 collapse into one value, so an id like
// 9007199254740993 would equal 9007199254740992 and a "not this owner"
// condition would fail open. Compare works on the literal's digits
// instead, without allocating.
package jsonnum

// maxExp bounds the decimal exponent. Exponents beyond it (a literal such
// as 1e999999999999999999) are clamped, so two such numbers whose
// exponents both exceed it compare by sign and digits alone; float64
// clamps far earlier, at about 1e308.
const maxExp = 1 << 40

// decimal is a number literal split into sign, significant digits and
// exponent: value = ±0.d1d2d3… × 10^exp, with d1 != 0 unless zero.
type decimal struct {
	neg  bool
	zero bool
	// mant is the literal's mantissa: the digits with at most one '.', the
	// first significant digit at mant[first].
	mant  []byte
	first int
	exp   int64
}

// parse splits a JSON number literal (RFC 8259 grammar: -?int frac? exp?).
// It does not validate: on other text it yields some decimal without
// panicking.
func parse(b []byte) decimal {
	var d decimal
	i := 0
	if i < len(b) && b[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '.') {
		i++
	}
	d.mant = b[start:i]
	// Integer digits (before '.'), leading zeros of the whole mantissa.
	intDigits, lead, seenPoint, nonzero := int64(0), int64(0), false, false
	d.first = -1
	for j, c := range d.mant {
		if c == '.' {
			seenPoint = true
			continue
		}
		if !seenPoint {
			intDigits++
		}
		if !nonzero {
			if c == '0' {
				lead++
				continue
			}
			nonzero = true
			d.first = j
		}
	}
	if !nonzero {
		d.zero = true
		return d
	}
	var e int64
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < maxExp {
				e = e*10 + int64(b[i]-'0')
			}
		}
		e = min(e, maxExp)
		if eneg {
			e = -e
		}
	}
	// 0.d1d2… × 10^exp: the first significant digit sits at position
	// intDigits-lead relative to the point (negative for 0.00d).
	d.exp = intDigits - lead + e
	return d
}

// Compare returns -1, 0 or +1 as the number literal a is less than, equal
// to or greater than b, by exact decimal value (1.0 == 1 == 10e-1,
// -0 == 0). Both must be JSON number literals.
func Compare(a, b []byte) int {
	if x, ok := smallInt(a); ok {
		if y, ok := smallInt(b); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	da, db := parse(a), parse(b)
	sa, sb := da.sign(), db.sign()
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if sa == 0 {
		return 0
	}
	m := compareMagnitude(&da, &db)
	if da.neg {
		return -m
	}
	return m
}

// Equal reports whether a and b are the same number.
func Equal(a, b []byte) bool { return Compare(a, b) == 0 }

func (d *decimal) sign() int {
	switch {
	case d.zero:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// compareMagnitude compares |a| and |b|, both non-zero.
func compareMagnitude(a, b *decimal) int {
	switch {
	case a.exp < b.exp:
		return -1
	case a.exp > b.exp:
		return 1
	}
	// Same exponent: the significant digits decide, the shorter padded
	// with zeros.
	i, j := a.first, b.first
	for {
		i, j = skipPoint(a.mant, i), skipPoint(b.mant, j)
		ca, cb := byte('0'), byte('0')
		if i < len(a.mant) {
			ca = a.mant[i]
		}
		if j < len(b.mant) {
			cb = b.mant[j]
		}
		if i >= len(a.mant) && j >= len(b.mant) {
			return 0
		}
		switch {
		case ca < cb:
			return -1
		case ca > cb:
			return 1
		}
		i++
		j++
	}
}

func skipPoint(m []byte, i int) int {
	if i < len(m) && m[i] == '.' {
		return i + 1
	}
	return i
}

// smallInt parses an integer literal of at most 18 digits (the common
// case: ids, counts), which int64 holds exactly.
func smallInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
