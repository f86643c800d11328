package ff1

import (
	"testing"
)

func benchCipher(b *testing.B, radix int) *Cipher {
	b.Helper()
	c, err := New(mustHex(b, nistSamples[6].key), radix, 16) // AES-256
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func decimal(n int) []uint16 {
	x := make([]uint16, n)
	for i := range x {
		x[i] = uint16((i*7 + 3) % 10)
	}
	return x
}

func BenchmarkEncrypt(b *testing.B) {
	tweak := []byte("customer.ssn")
	for _, bc := range []struct {
		name     string
		n        int
		forceBig bool
	}{
		{"SSN9", 9, false},
		{"Card16", 16, false},
		{"Digits30", 30, false},
		{"Digits30Big", 30, true},
		{"Digits60Wide", 60, false},
		{"Digits100Big", 100, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchCipher(b, 10)
			if bc.forceBig {
				c.force = forceBig
			}
			x := decimal(bc.n)
			dst := make([]uint16, 0, bc.n)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = c.Encrypt(dst[:0], x, tweak); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	tweak := []byte("customer.card")
	for _, n := range []int{9, 16} {
		b.Run(map[int]string{9: "SSN9", 16: "Card16"}[n], func(b *testing.B) {
			c := benchCipher(b, 10)
			x := decimal(n)
			dst := make([]uint16, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = c.Decrypt(dst[:0], x, tweak); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
