package ff1

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/veilgw/veil/internal/testvectors"
)

// wycheproofFile is the fpe_list_test_schema.json layout: numerals are
// JSON integers already in [0, radix) for valid tests (the radix-26/36/62
// files use the same list form, so no alphabet mapping is needed);
// InvalidPlaintext tests hold out-of-range integers such as -1.
type wycheproofFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		KeySize int `json:"keySize"`
		MsgSize int `json:"msgSize"`
		Radix   int `json:"radix"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Key     string   `json:"key"`
			Tweak   string   `json:"tweak"`
			Msg     []int    `json:"msg"`
			Ct      []int    `json:"ct"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// wycheNumerals converts JSON integers to numerals; values that cannot be
// numerals of any radix below 65536 become 65535 so Encrypt must reject them.
func wycheNumerals(in []int) []uint16 {
	out := make([]uint16, len(in))
	for i, v := range in {
		if v < 0 || v > 65535 {
			v = 65535
		}
		out[i] = uint16(v)
	}
	return out
}

func TestWycheproof(t *testing.T) {
	t.Parallel()
	dir := testvectors.Dir(t, "wycheproof")
	for _, radix := range []int{10, 26, 36, 62} {
		t.Run(fmt.Sprintf("radix%d", radix), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("aes_ff1_radix%d_test.json", radix)))
			if err != nil {
				t.Fatal(err)
			}
			var f wycheproofFile
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			if f.Algorithm != "AES-FF1" {
				t.Fatalf("algorithm %q", f.Algorithm)
			}
			ran := 0
			counts := map[string]int{}
			for _, g := range f.TestGroups {
				if g.Radix != radix {
					t.Fatalf("group radix %d in radix %d file", g.Radix, radix)
				}
				for _, tc := range g.Tests {
					ran++
					name := fmt.Sprintf("tcId %d (%s, %v)", tc.TcID, tc.Comment, tc.Flags)
					flag := ""
					if len(tc.Flags) == 1 {
						flag = tc.Flags[0]
					}
					counts[tc.Result+"/"+flag]++
					key := mustHex(t, tc.Key)
					tweak := mustHex(t, tc.Tweak)
					msg := wycheNumerals(tc.Msg)
					c, err := New(key, radix, len(tweak))
					if flag == "InvalidKeySize" {
						if tc.Result != "invalid" || !errors.Is(err, ErrKeySize) {
							t.Errorf("%s: New = %v, want ErrKeySize", name, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: New: %v", name, err)
					}
					switch {
					case flag == "InvalidMessageSize":
						want := ErrDomainTooSmall
						if len(msg) < 2 {
							want = ErrLength
						}
						if _, err := c.Encrypt(nil, msg, tweak); tc.Result != "invalid" || !errors.Is(err, want) {
							t.Errorf("%s: Encrypt err = %v, want %v", name, err, want)
						}
					case flag == "SmallMessageSize":
						// Valid under the original FF1 (radix^n >= 100),
						// rejected under Rev. 1; with the legacy bound the
						// arithmetic must still match.
						if _, err := c.Encrypt(nil, msg, tweak); !errors.Is(err, ErrDomainTooSmall) {
							t.Errorf("%s: Encrypt err = %v, want ErrDomainTooSmall", name, err)
						}
						if _, err := c.Decrypt(nil, wycheNumerals(tc.Ct), tweak); !errors.Is(err, ErrDomainTooSmall) {
							t.Errorf("%s: Decrypt err = %v, want ErrDomainTooSmall", name, err)
						}
						legacy := *c
						legacy.minLen = 2
						checkValid(t, name, &legacy, msg, wycheNumerals(tc.Ct), tweak)
					case flag == "InvalidPlaintext":
						if _, err := c.Encrypt(nil, msg, tweak); tc.Result != "invalid" || !errors.Is(err, ErrNumeral) {
							t.Errorf("%s: Encrypt err = %v, want ErrNumeral", name, err)
						}
					case tc.Result == "valid":
						checkValid(t, name, c, msg, wycheNumerals(tc.Ct), tweak)
					default:
						t.Errorf("%s: unhandled case %q", name, tc.Result)
					}
				}
			}
			if ran != f.NumberOfTests {
				t.Errorf("ran %d tests, file declares %d", ran, f.NumberOfTests)
			}
			t.Logf("radix %d: %d vectors %v", radix, ran, counts)
		})
	}
}

// checkValid asserts Encrypt(msg) == ct and Decrypt(ct) == msg on both the
// fast and the math/big paths.
func checkValid(t *testing.T, name string, c *Cipher, msg, ct []uint16, tweak []byte) {
	t.Helper()
	for path, c := range paths(c) {
		got, err := c.Encrypt(nil, msg, tweak)
		if err != nil || !slices.Equal(got, ct) {
			t.Errorf("%s: %s: Encrypt = %v, %v; want %v", name, path, got, err, ct)
		}
		back, err := c.Decrypt(nil, ct, tweak)
		if err != nil || !slices.Equal(back, msg) {
			t.Errorf("%s: %s: Decrypt = %v, %v; want %v", name, path, back, err, msg)
		}
	}
}
