package siv

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"

	"github.com/veilgw/veil/internal/testvectors"
)

// TestWycheproof holds the implementation to every Wycheproof
// AES-SIV-CMAC vector, all key sizes.
func TestWycheproof(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(testvectors.Dir(t, "wycheproof"), "aes_siv_cmac_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		NumberOfTests int
		TestGroups    []struct {
			Tests []struct {
				TcID                      int
				Key, Aad, Msg, Ct, Result string
			}
		}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	n := 0
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			n++
			c, err := New(h(tc.Key))
			if err != nil {
				if tc.Result == "valid" {
					t.Errorf("tc %d: %v", tc.TcID, err)
				}
				continue
			}
			pt, ok := c.Open(nil, h(tc.Ct), h(tc.Aad))
			if tc.Result == "valid" {
				if !ok || !bytes.Equal(pt, h(tc.Msg)) {
					t.Errorf("tc %d: open failed", tc.TcID)
				}
				if ct := c.Seal(nil, h(tc.Msg), h(tc.Aad)); !bytes.Equal(ct, h(tc.Ct)) {
					t.Errorf("tc %d: seal %x, want %s", tc.TcID, ct, tc.Ct)
				}
			} else if ok {
				t.Errorf("tc %d: invalid ciphertext opened", tc.TcID)
			}
		}
	}
	if n != f.NumberOfTests || n == 0 {
		t.Fatalf("ran %d of %d vectors", n, f.NumberOfTests)
	}
}

// TestAgainstTink cross-checks random inputs with tink's AES-SIV.
func TestAgainstTink(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, 64)
	for i := range key {
		key[i] = byte(r.IntN(256))
	}
	ours, _ := New(key)
	theirs, err := subtle.NewAESSIV(key)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		p := make([]byte, r.IntN(80))
		ad := make([]byte, r.IntN(40))
		for j := range p {
			p[j] = byte(r.IntN(256))
		}
		for j := range ad {
			ad[j] = byte(r.IntN(256))
		}
		want, err := theirs.EncryptDeterministically(p, ad)
		if err != nil {
			t.Fatal(err)
		}
		b := ours.Bind(ad)
		got := b.Seal([]byte("prefix"), p)
		if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
			t.Fatalf("len %d/%d: differs from tink", len(p), len(ad))
		}
		back, ok := b.Open(nil, want)
		if !ok || !bytes.Equal(back, p) {
			t.Fatalf("open of tink's ciphertext failed")
		}
		want[r.IntN(len(want))] ^= 1 << r.IntN(8)
		if _, ok := b.Open(nil, want); ok {
			t.Fatal("a tampered ciphertext opened")
		}
	}
}

func TestKeySizes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 65} {
		if _, err := New(make([]byte, n)); err != ErrKeySize {
			t.Errorf("key of %d bytes: %v", n, err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	c, _ := New(make([]byte, 64))
	bd := c.Bind([]byte("veil/tokenize|pii|v1"))
	p := []byte(`"customer123@example.com"`)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = bd.Seal(dst[:0], p)
	}
}

func BenchmarkTinkSeal(b *testing.B) {
	c, _ := subtle.NewAESSIV(make([]byte, 64))
	p := []byte(`"customer123@example.com"`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = c.EncryptDeterministically(p, []byte("veil/tokenize|pii|v1"))
	}
}
