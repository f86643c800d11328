package swar

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// special is the byte-at-a-time definition Special must agree with.
func special(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }

// Every byte value at every position, after printable bytes and before
// any bytes: the lowest flag is exactly the first special byte, and a word
// of printable bytes has no flag.
func TestSpecialLowestFlagIsExact(t *testing.T) {
	t.Parallel()
	var w [8]byte
	for k := range 8 {
		for c := range 256 {
			for _, after := range []byte{'a', 0x00, '"', 0xff, '\\', 0x1f} {
				for j := range w {
					switch {
					case j < k:
						w[j] = 'a' + byte(j)
					case j == k:
						w[j] = byte(c)
					default:
						w[j] = after
					}
				}
				m := Special(binary.LittleEndian.Uint64(w[:]))
				first := bits.TrailingZeros64(m) >> 3 // 8 when no flag
				want := 8
				for j, b := range w {
					if special(b) {
						want = j
						break
					}
				}
				if first != want {
					t.Fatalf("word %q: first flag at %d, want %d", w, first, want)
				}
			}
		}
	}
}
