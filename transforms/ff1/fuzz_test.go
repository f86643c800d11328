package ff1

import (
	"slices"
	"testing"
)

var fuzzKeys = [3][]byte{
	[]byte("0123456789abcdef"),
	[]byte("0123456789abcdef01234567"),
	[]byte("0123456789abcdef0123456789abcdef"),
}

// FuzzRoundTrip checks, for any key choice, radix, numerals and tweak the
// cipher accepts: Decrypt(Encrypt(x)) == x, the ciphertext has the same
// length with every numeral below radix, and the 64-bit, 128-bit and
// math/big paths agree. Inputs the cipher rejects must be rejected by both directions.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(2), uint16(10), []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"), []byte("9876543210"))
	f.Add(uint8(0), uint16(36), []byte("0123456789abcdefghi"), []byte("777pqr777"))
	f.Add(uint8(1), uint16(65535), []byte("\xff\xff\x00\x00\x12\x34"), []byte{})
	f.Fuzz(func(t *testing.T, keySel uint8, radixIn uint16, data, tweak []byte) {
		radix := int(radixIn) + 1 // 1..65536; 1 must be rejected
		c, err := New(fuzzKeys[int(keySel)%len(fuzzKeys)], radix, 64)
		if radix < 2 {
			if err == nil {
				t.Fatal("radix 1 accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 400 {
			data = data[:400]
		}
		// Two bytes per numeral for wide radixes, one otherwise.
		var x []uint16
		if radix > 256 {
			for i := 0; i+1 < len(data); i += 2 {
				x = append(x, uint16((int(data[i])<<8|int(data[i+1]))%radix))
			}
		} else {
			for _, b := range data {
				x = append(x, uint16(int(b)%radix))
			}
		}
		ct, err := c.Encrypt(nil, x, tweak)
		if err != nil {
			if _, derr := c.Decrypt(nil, x, tweak); derr == nil {
				t.Fatalf("Encrypt rejected (%v) what Decrypt accepted", err)
			}
			if len(x) >= c.MinLength() && len(tweak) <= 64 {
				t.Fatalf("valid input rejected: %v", err)
			}
			return
		}
		if len(ct) != len(x) {
			t.Fatalf("length %d -> %d", len(x), len(ct))
		}
		for _, d := range ct {
			if int(d) >= radix {
				t.Fatalf("numeral %d out of radix %d", d, radix)
			}
		}
		pt, err := c.Decrypt(nil, ct, tweak)
		if err != nil || !slices.Equal(pt, x) {
			t.Fatalf("round trip failed: %v", err)
		}
		for path, v := range paths(c) {
			other, err := v.Encrypt(nil, x, tweak)
			if err != nil || !slices.Equal(other, ct) {
				t.Fatalf("%s path disagrees: %v", path, err)
			}
		}
	})
}
