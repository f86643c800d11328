package audit

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// refString is appendString without its fast paths: every byte through
// appendEscaped (which TestAppendStringMatchesZap holds to zap).
func refString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// isVerbatim is verbatimString's byte-at-a-time definition.
func isVerbatim(s string) bool {
	for i := 0; i < len(s); i++ {
		if !verbatim[s[i]] {
			return false
		}
	}
	return true
}

// fastStringInputs are the strings the fast paths must get right: every
// byte value alone and in pairs, every special byte at every position of
// strings of 0 to 24 bytes, bare and inside quotes (record ids), quotes
// at the ends only, and random mixes.
func fastStringInputs() []string {
	var in []string
	for c := range 256 {
		in = append(in, string([]byte{byte(c)}))
		for d := range 256 {
			in = append(in, string([]byte{byte(c), byte(d)}))
		}
	}
	specials := []string{"\"", "\\", "\x00", "\x1f", "\n", "\x7f", " ", "~", "é", "日", "\xff", "\xe6\x97", "\x80", "\x20\x22"}
	for n := 0; n <= 24; n++ {
		plain := strings.Repeat("c", n)
		in = append(in, plain, `"`+plain, plain+`"`, `"`+plain+`"`, `""`+plain+`"`, `"`+plain+`""`)
		for i := 0; i <= n; i++ {
			for _, sp := range specials {
				s := strings.Repeat("a", i) + sp + strings.Repeat("b", n-i)
				in = append(in, s, `"`+s+`"`, `"`+s, s+`"`)
			}
		}
	}
	// Every 3-byte string over an alphabet of edge bytes (the padded word).
	edges := []byte{0x00, 0x1f, ' ', '!', '"', '#', '[', '\\', ']', '~', 0x7f, 0x80, 0xc3, 0xff}
	for _, a := range edges {
		for _, b := range edges {
			for _, c := range edges {
				in = append(in, string([]byte{a, b, c}))
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("ab-09 ~\"\\\x00\x1f\x7f\x80\xc3\xa9\xe6\x97\xa5\xff")
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		in = append(in, string(b))
		if len(b) >= 2 && r.IntN(2) == 0 {
			b[0], b[len(b)-1] = '"', '"'
			in = append(in, string(b))
		}
	}
	return in
}

// TestAppendStringFastPaths: appendString, verbatim copy and record-id
// literal shortcut included, writes what appendEscaped writes (which
// TestAppendStringMatchesZap holds to zap over the same inputs), and
// verbatimString agrees with the byte table.
func TestAppendStringFastPaths(t *testing.T) {
	t.Parallel()
	for _, s := range fastStringInputs() {
		if got, want := verbatimString(s), isVerbatim(s); got != want {
			t.Fatalf("verbatimString(%q) = %v, want %v", s, got, want)
		}
		if got, want := appendString([]byte("x"), s), refString([]byte("x"), s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestRecordIDsMatchZap: record ids of every shape (string literals,
// numbers, literals with escapes inside, bare quotes) against zap.
func TestRecordIDsMatchZap(t *testing.T) {
	t.Parallel()
	ids := []string{`"c-0000460"`, `"`, `""`, `"""`, `"a"b"`, `"a\"b"`, `"é"`, `"\u00e9"`, "\"\x01\"", `"` + strings.Repeat("x", 30) + `"`, "42", `"c-1`, `c-1"`, "", " "}
	for _, id := range ids {
		e := sampleEvent()
		e.RecordIDs = []string{id, id}
		want := []byte(encodeEvent(t, e))
		if got := appendEvent(nil, e); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", id, got, want)
		}
	}
}

func BenchmarkAppendRecordIDs(b *testing.B) {
	ids := typicalEvent().RecordIDs
	dst := make([]byte, 0, 256)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			dst, _ = appendRecordIDs(dst[:0], ids)
		}
	})
	b.Run("escaped", func(b *testing.B) {
		for b.Loop() {
			dst = append(dst[:0], '[')
			for i, s := range ids {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = refString(dst, s)
			}
			dst = append(dst, ']')
		}
	})
}
