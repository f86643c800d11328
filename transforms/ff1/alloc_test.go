//go:build !race

package ff1

import "testing"

// TestFastPathAllocs proves the 64- and 128-bit paths allocate nothing once
// dst has capacity (the scratch pool is warm after the first call).
func TestFastPathAllocs(t *testing.T) {
	c, err := New(mustHex(t, nistSamples[6].key), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	tweak := []byte("tweak")
	for _, n := range []int{6, 9, 16, 38, 39, 60, 76} {
		x := decimal(n)
		dst := make([]uint16, 0, n)
		if _, err := c.Encrypt(dst, x, tweak); err != nil {
			t.Fatal(err)
		}
		enc := testing.AllocsPerRun(100, func() { dst, _ = c.Encrypt(dst[:0], x, tweak) })
		dec := testing.AllocsPerRun(100, func() { dst, _ = c.Decrypt(dst[:0], x, tweak) })
		if enc != 0 || dec != 0 {
			t.Errorf("%d digits: %.1f allocs/encrypt, %.1f allocs/decrypt; want 0", n, enc, dec)
		}
	}
}
