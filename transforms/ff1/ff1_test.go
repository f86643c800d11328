package ff1

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// NIST SP 800-38G FF1 samples 1-9 (csrc.nist.gov "FF1samples.pdf").
var nistSamples = []struct {
	name  string
	key   string
	radix int
	tweak string
	pt    string
	ct    string
}{
	{"sample1", "2b7e151628aed2a6abf7158809cf4f3c", 10, "", "0123456789", "2433477484"},
	{"sample2", "2b7e151628aed2a6abf7158809cf4f3c", 10, "39383736353433323130", "0123456789", "6124200773"},
	{"sample3", "2b7e151628aed2a6abf7158809cf4f3c", 36, "3737373770717273373737", "0123456789abcdefghi", "a9tv40mll9kdu509eum"},
	{"sample4", "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f", 10, "", "0123456789", "2830668132"},
	{"sample5", "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f", 10, "39383736353433323130", "0123456789", "2496655549"},
	{"sample6", "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f", 36, "3737373770717273373737", "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"},
	{"sample7", "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f7f036d6f04fc6a94", 10, "", "0123456789", "6657667009"},
	{"sample8", "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f7f036d6f04fc6a94", 10, "39383736353433323130", "0123456789", "1001623463"},
	{"sample9", "2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f7f036d6f04fc6a94", 36, "3737373770717273373737", "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"},
}

func TestNISTSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range nistSamples {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(mustHex(t, tc.key), tc.radix, 16)
			if err != nil {
				t.Fatal(err)
			}
			tweak := mustHex(t, tc.tweak)
			pt := toNumerals(t, tc.pt)
			for path, c := range paths(c) {
				ct, err := c.Encrypt(nil, pt, tweak)
				if err != nil {
					t.Fatalf("%s: encrypt: %v", path, err)
				}
				if got := fromNumerals(ct); got != tc.ct {
					t.Errorf("%s: encrypt = %s, want %s", path, got, tc.ct)
				}
				back, err := c.Decrypt(nil, ct, tweak)
				if err != nil {
					t.Fatalf("%s: decrypt: %v", path, err)
				}
				if got := fromNumerals(back); got != tc.pt {
					t.Errorf("%s: decrypt = %s, want %s", path, got, tc.pt)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keyLen   int
		radix    int
		tweakMax int
		want     error
		msg      string
	}{
		{"empty key", 0, 10, 8, ErrKeySize, "ff1: new: 0-byte key: ff1: key must be 16, 24 or 32 bytes"},
		{"20-byte key", 20, 10, 8, ErrKeySize, "ff1: new: 20-byte key: ff1: key must be 16, 24 or 32 bytes"},
		{"40-byte key", 40, 10, 8, ErrKeySize, "ff1: new: 40-byte key: ff1: key must be 16, 24 or 32 bytes"},
		{"radix 1", 16, 1, 8, ErrRadix, "ff1: new: radix 1: ff1: radix out of range"},
		{"radix 0", 16, 0, 8, ErrRadix, "ff1: new: radix 0: ff1: radix out of range"},
		{"radix 65537", 32, 65537, 8, ErrRadix, "ff1: new: radix 65537: ff1: radix out of range"},
		{"negative tweakMax", 16, 10, -1, ErrTweak, "ff1: new: tweakMax -1: ff1: tweak too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(make([]byte, tc.keyLen), tc.radix, tc.tweakMax)
			if c != nil || !errors.Is(err, tc.want) || err.Error() != tc.msg {
				t.Fatalf("New = %v, %v; want nil, %q", c, err, tc.msg)
			}
		})
	}
	for _, radix := range []int{2, 10, 36, 62, 65536} {
		for _, keyLen := range []int{16, 24, 32} {
			if _, err := New(make([]byte, keyLen), radix, 0); err != nil {
				t.Errorf("New(%d-byte key, radix %d): %v", keyLen, radix, err)
			}
		}
	}
}

func TestMinLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ radix, want int }{
		{2, 20}, {10, 6}, {26, 5}, {36, 4}, {62, 4}, {100, 3}, {1000, 2}, {1001, 2}, {65536, 2},
	} {
		c, err := New(make([]byte, 16), tc.radix, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.MinLength(); got != tc.want {
			t.Errorf("radix %d: MinLength = %d, want %d", tc.radix, got, tc.want)
		}
		if c.Radix() != tc.radix {
			t.Errorf("Radix = %d, want %d", c.Radix(), tc.radix)
		}
	}
}

func TestCryptErrors(t *testing.T) {
	t.Parallel()
	c10, err := New(make([]byte, 32), 10, 4)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := New(make([]byte, 16), 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	digits := func(n int) []uint16 { return make([]uint16, n) }
	tests := []struct {
		name  string
		c     *Cipher
		x     []uint16
		tweak []byte
		want  error
		msg   string // after "ff1: encrypt: " / "ff1: decrypt: "
	}{
		{"empty", c10, nil, nil, ErrLength, "0 numerals: ff1: invalid length"},
		{"one numeral", c10, digits(1), nil, ErrLength, "1 numerals: ff1: invalid length"},
		{"too long", c10, digits(MaxLength + 1), nil, ErrLength, "4097 numerals: ff1: invalid length"},
		{"5 decimal digits", c10, digits(5), nil, ErrDomainTooSmall, "5 numerals of radix 10: ff1: domain too small"},
		{"19 bits", c2, digits(19), nil, ErrDomainTooSmall, "19 numerals of radix 2: ff1: domain too small"},
		{"numeral = radix", c10, []uint16{1, 2, 3, 4, 5, 10}, nil, ErrNumeral, "numeral at index 5: ff1: numeral out of range"},
		{"binary numeral 2", c2, append(digits(19), 2), nil, ErrNumeral, "numeral at index 19: ff1: numeral out of range"},
		{"numeral 65535", c10, []uint16{65535, 0, 0, 0, 0, 0}, nil, ErrNumeral, "numeral at index 0: ff1: numeral out of range"},
		{"tweak too long", c10, digits(6), []byte("12345"), ErrTweak, "5-byte tweak, max 4: ff1: tweak too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := []uint16{7}
			for op, f := range map[string]func([]uint16, []uint16, []byte) ([]uint16, error){
				"encrypt": tc.c.Encrypt, "decrypt": tc.c.Decrypt,
			} {
				got, err := f(dst, tc.x, tc.tweak)
				if !errors.Is(err, tc.want) || err.Error() != "ff1: "+op+": "+tc.msg {
					t.Errorf("%s: err = %v, want %q", op, err, tc.msg)
				}
				if !slices.Equal(got, dst) {
					t.Errorf("%s: dst changed on error: %v", op, got)
				}
			}
		})
	}
}

// TestRoundTrip checks Decrypt(Encrypt(x)) == x, output range, appending to
// dst and agreement of the fast and big paths across radixes and lengths on
// both sides of the 64-bit boundary.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, radix := range []int{2, 3, 10, 26, 36, 62, 255, 256, 1000, 65535, 65536} {
		key := make([]byte, 16+8*rng.IntN(3))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		c, err := New(key, radix, 40)
		if err != nil {
			t.Fatal(err)
		}
		variants := paths(c)
		for n := c.MinLength(); n <= 2*c.maxWide+4; n++ {
			x := make([]uint16, n)
			for i := range x {
				x[i] = uint16(rng.IntN(radix))
			}
			tweak := make([]byte, rng.IntN(40))
			for i := range tweak {
				tweak[i] = byte(rng.Uint32())
			}
			prefix := []uint16{1, 2, 3}
			ct, err := c.Encrypt(slices.Clone(prefix), x, tweak)
			if err != nil {
				t.Fatalf("radix %d n %d: %v", radix, n, err)
			}
			if len(ct) != len(prefix)+n || !slices.Equal(ct[:3], prefix) {
				t.Fatalf("radix %d n %d: bad append: %d numerals", radix, n, len(ct))
			}
			ct = ct[3:]
			for _, d := range ct {
				if int(d) >= radix {
					t.Fatalf("radix %d n %d: output numeral %d out of range", radix, n, d)
				}
			}
			for path, v := range variants {
				other, err := v.Encrypt(nil, x, tweak)
				if err != nil || !slices.Equal(ct, other) {
					t.Fatalf("radix %d n %d: %s path disagrees (%v)", radix, n, path, err)
				}
				pt, err := v.Decrypt(nil, ct, tweak)
				if err != nil || !slices.Equal(pt, x) {
					t.Fatalf("radix %d n %d: %s round trip failed (%v)", radix, n, path, err)
				}
			}
			// The tweak matters: a different tweak gives a different
			// ciphertext (overwhelmingly likely for domains >= 10^6).
			other, err := c.Encrypt(nil, x, append(slices.Clone(tweak), 0))
			if err != nil || slices.Equal(other, ct) {
				t.Fatalf("radix %d n %d: tweak ignored (%v)", radix, n, err)
			}
		}
	}
}

func TestInPlace(t *testing.T) {
	t.Parallel()
	c, err := New(mustHex(t, nistSamples[8].key), 36, 16)
	if err != nil {
		t.Fatal(err)
	}
	for path, c := range paths(c) {
		x := toNumerals(t, nistSamples[8].pt)
		tweak := mustHex(t, nistSamples[8].tweak)
		ct, err := c.Encrypt(x[:0], x, tweak)
		if err != nil || fromNumerals(ct) != nistSamples[8].ct || &ct[0] != &x[0] {
			t.Fatalf("%s: in-place encrypt = %s, %v", path, fromNumerals(ct), err)
		}
		pt, err := c.Decrypt(ct[:0], ct, tweak)
		if err != nil || fromNumerals(pt) != nistSamples[8].pt {
			t.Fatalf("%s: in-place decrypt = %s, %v", path, fromNumerals(pt), err)
		}
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	c, err := New(mustHex(t, nistSamples[6].key), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := nistSamples[7].ct
	tweak := mustHex(t, nistSamples[7].tweak)
	long := make([]uint16, 60) // big path
	longCT, err := c.Encrypt(nil, long, tweak)
	if err != nil {
		t.Fatal(err)
	}
	pt := toNumerals(t, "0123456789")
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var dst []uint16
			var err error
			for i := 0; i < 200; i++ {
				dst, err = c.Encrypt(dst[:0], pt, tweak)
				if err != nil || fromNumerals(dst) != want {
					errs <- errors.New("fast path: wrong result under concurrency")
					return
				}
				dst, err = c.Encrypt(dst[:0], long, tweak)
				if err != nil || !slices.Equal(dst, longCT) {
					errs <- errors.New("big path: wrong result under concurrency")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestErrorsCarryNoValues(t *testing.T) {
	t.Parallel()
	c, err := New(mustHex(t, nistSamples[0].key), 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Encrypt(nil, []uint16{9, 8, 7, 6, 5, 4, 3, 2, 1, 11}, []byte("zz"))
	if err == nil || strings.ContainsAny(err.Error(), "87") || strings.Contains(err.Error(), "zz") {
		t.Fatalf("error leaks input: %v", err)
	}
}
