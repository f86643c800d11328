package ff1

import (
	"encoding/hex"
	"os"
	"path/filepath"
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

// projectRoot walks up from the package directory to the one holding go.mod.
func projectRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// wycheproofDir returns ../shared/testvectors/wycheproof relative to the
// project root, skipping the test when it is absent (failing under CI=true).
func wycheproofDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(projectRoot(t), "..", "shared", "testvectors", "wycheproof")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Wycheproof vectors %s missing under CI=true: %v", dir, err)
		}
		t.Skipf("SKIP: Wycheproof vectors %s not found; FF1 is checked against NIST samples only", dir)
	}
	return dir
}
