package ff1

import (
	"encoding/hex"
	"strings"
	"testing"
)

// alphabet36 maps numerals to the characters NIST SP 800-38G samples use.
const alphabet36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// paths returns the cipher three times: as built (64-bit, 128-bit or
// math/big path by domain size), forced onto the 128-bit path wherever the
// domain fits in 128 bits, and forced onto the math/big path.
func paths(c *Cipher) map[string]*Cipher {
	wide, big := *c, *c
	wide.force = forceWide
	big.force = forceBig
	return map[string]*Cipher{"fast": c, "wide": &wide, "big": &big}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func toNumerals(t testing.TB, s string) []uint16 {
	t.Helper()
	out := make([]uint16, len(s))
	for i := range len(s) {
		k := strings.IndexByte(alphabet36, s[i])
		if k < 0 {
			t.Fatalf("character %q not in alphabet", s[i])
		}
		out[i] = uint16(k)
	}
	return out
}

func fromNumerals(x []uint16) string {
	var sb strings.Builder
	for _, d := range x {
		sb.WriteByte(alphabet36[d])
	}
	return sb.String()
}
