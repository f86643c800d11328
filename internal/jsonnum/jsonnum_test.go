package jsonnum

import (
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exact is the reference: math/big's exact rational value of a literal
// (safe here: the tests keep exponents small).
func exact(t testing.TB, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot parse %q", s)
	}
	return r
}

func TestCompareCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		want int
	}{
		{"9007199254740992", "9007199254740993", -1}, // equal as float64
		{"9223372036854775807", "9223372036854775808", -1},
		{"-9223372036854775809", "-9223372036854775808", -1},
		{"123456789012345678901234567890", "123456789012345678901234567891", -1},
		{"1", "1.0", 0},
		{"1", "10e-1", 0},
		{"100", "1e2", 0},
		{"100", "1E+2", 0},
		{"0.001", "1e-3", 0},
		{"0", "-0", 0},
		{"0.000", "0e10", 0},
		{"-0.0", "0", 0},
		{"0", "1e-400", -1},
		{"-1e-400", "0", -1},
		{"1e400", "2e400", -1}, // both +Inf as float64
		{"-1e400", "-2e400", 1},
		{"0.1", "0.10000000000000001", -1}, // equal as float64
		{"12.5", "12.50", 0},
		{"12.5", "12.05", 1},
		{"-12.5", "-12.05", -1},
		{"1.5", "-2", 1},
		{"-1.5", "2", -1},
		{"99", "100", -1},
		{"0.99", "1", -1},
		{"1e999999999999999999999", "1", 1}, // clamped exponent
		{"1e-999999999999999999999", "0", 1},
	}
	for _, c := range cases {
		if got := Compare([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Compare([]byte(c.b), []byte(c.a)); got != -c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

// randomLiteral writes one value in one of its many spellings.
func randomLiteral(r *rand.Rand) string {
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	s := ""
	if r.IntN(2) == 0 {
		s = "-"
	}
	if r.IntN(4) == 0 {
		s += "0"
	} else {
		s += strconv.Itoa(1+r.IntN(9)) + digits(r.IntN(25))
	}
	if r.IntN(2) == 0 {
		s += "." + digits(1+r.IntN(20))
	}
	if r.IntN(2) == 0 {
		s += []string{"e", "E", "e+", "e-", "E-"}[r.IntN(5)] + strconv.Itoa(r.IntN(60))
	}
	return s
}

func TestCompareMatchesBigRat(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		a, b := randomLiteral(r), randomLiteral(r)
		if r.IntN(8) == 0 {
			b = a // equal values, often in different spellings below
		}
		if r.IntN(8) == 0 {
			b = respell(r, a)
		}
		want := exact(t, a).Cmp(exact(t, b))
		if got := Compare([]byte(a), []byte(b)); got != want {
			t.Fatalf("Compare(%s, %s) = %d, big.Rat says %d", a, b, got, want)
		}
	}
}

// respell writes the literal s as an equal integer-mantissa literal:
// "12.50e3" -> "125000e0"-style, with 0-3 extra trailing zeros moved into
// the exponent.
func respell(r *rand.Rand, s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, _ = strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		s = s[:i]
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		exp -= len(s) - i - 1
		s = s[:i] + s[i+1:]
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		s = "0"
	}
	k := r.IntN(4)
	s += strings.Repeat("0", k)
	exp -= k
	if neg {
		s = "-" + s
	}
	return s + "e" + strconv.Itoa(exp)
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$`)

// FuzzCompare checks Compare against big.Rat on any two JSON number
// literals with exponents of at most 3 digits.
func FuzzCompare(f *testing.F) {
	for _, s := range [][2]string{{"1", "1.0"}, {"9007199254740993", "9007199254740992"}, {"-0", "0e5"}, {"1e-3", "0.001"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !jsonNumber.MatchString(a) || !jsonNumber.MatchString(b) {
			return
		}
		want := exact(t, a).Cmp(exact(t, b))
		if got := Compare([]byte(a), []byte(b)); got != want {
			t.Fatalf("Compare(%s, %s) = %d, big.Rat says %d", a, b, got, want)
		}
	})
}

func BenchmarkCompareSmallInt(b *testing.B) {
	x, y := []byte("1234567"), []byte("1234568")
	for b.Loop() {
		Compare(x, y)
	}
}

func BenchmarkCompareDecimal(b *testing.B) {
	x, y := []byte("12345.678e2"), []byte("1234567.9")
	for b.Loop() {
		Compare(x, y)
	}
}
