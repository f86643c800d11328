package transforms

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestScanStringFlags checks scanStringFlags (end and flags) on strings
// with a multi-byte character, an escape or an invalid byte at every
// position around the 8-byte words of its fast path.
func TestScanStringFlags(t *testing.T) {
	t.Parallel()
	pieces := []string{"é", "€", "😀", `\n`, `\u00e9`, `\ud83d\ude00`, `\"`, "\xff", "\xe2\x82", "\x01", "\x7f"}
	for _, piece := range pieces {
		for pre := 0; pre <= 17; pre++ {
			for _, post := range []int{0, 1, 7, 8, 9} {
				content := strings.Repeat("a", pre) + piece + strings.Repeat("b", post)
				lit := `"` + content + `"`
				for _, tail := range []string{"", `,"x"`, `}`} {
					doc := []byte(lit + tail)
					end, flags := scanStringFlags(doc, 0)
					wantEnd := len(lit)
					// encoding/json accepts invalid UTF-8; the scanner does not.
					if !json.Valid([]byte(lit)) || !utf8.ValidString(content) {
						wantEnd = -1
					}
					if end != wantEnd {
						t.Fatalf("%q: end %d, want %d", doc, end, wantEnd)
					}
					if end < 0 {
						if flags != 0 {
							t.Fatalf("%q: flags %d on error", doc, flags)
						}
						continue
					}
					wantFlags := uint8(0)
					if strings.Contains(content, `\`) {
						wantFlags |= strEscaped
					}
					if !isASCII([]byte(content)) {
						wantFlags |= strNonASCII
					}
					if flags != wantFlags {
						t.Fatalf("%q: flags %d, want %d", doc, flags, wantFlags)
					}
					if e, esc := scanString(doc, 0); e != end || esc != (flags&strEscaped != 0) {
						t.Fatalf("%q: scanString = %d, %v", doc, e, esc)
					}
				}
			}
		}
	}
}

// TestMaskNonASCIIPositions masks strings holding a multi-byte character
// at every position (the rewriter tells the mask action whether a string
// is ASCII from its scan) and compares with masking by code points.
func TestMaskNonASCIIPositions(t *testing.T) {
	t.Parallel()
	p := compileTest(t, []Rule{
		r("$.k", "mask", "keep_first", 1, "keep_last", 2),
		r("$.e", "mask", "format", "email"),
	}, Options{})
	mask := func(s string, kf, kl int) string {
		rs := []rune(s)
		var b strings.Builder
		for i, c := range rs {
			if len(rs) > kf+kl && (i < kf || i >= len(rs)-kl) {
				b.WriteRune(c)
			} else {
				b.WriteByte('*')
			}
		}
		return b.String()
	}
	for _, piece := range []string{"", "é", "€", "😀"} {
		for pre := 0; pre <= 17; pre++ {
			s := strings.Repeat("a", pre) + piece + "xyz"
			for _, lit := range []string{s, strings.ReplaceAll(s, "é", `\u00e9`)} {
				doc := `{"k":"` + lit + `","e":"` + lit + `@ex.com","o":"` + lit + `"}`
				out, err := p.Rewrite(nil, []byte(doc), nil)
				if err != nil {
					t.Fatal(err)
				}
				want := `{"k":"` + mask(s, 1, 2) + `","e":"` + mask(s, 0, 0) + `@ex.com","o":"` + lit + `"}`
				if string(out) != want {
					t.Fatalf("%s:\n got %s\nwant %s", doc, out, want)
				}
			}
		}
	}
}

// TestRewriteInvalidUnselectedString checks the errors for invalid
// strings that are values of members no rule selects, in a live object
// (scanned inline by rewriter.object) and in an array, against the same
// values under a descendant rule (scanned through rewriter.unselected).
func TestRewriteInvalidUnselectedString(t *testing.T) {
	t.Parallel()
	inline := compileTest(t, []Rule{r("$.x.y", "redact"), r("$.l[0].y", "redact")}, Options{})
	ref := compileTest(t, []Rule{r("$..zz", "redact")}, Options{})
	for _, v := range []string{`"a\x"`, "\"a\tb\"", "\"\xff\"", `"\ud800"`, `"abc`, `"abcdefghijk`, "\"abcdefgh\x01\"", `"ok"`, `"é"`} {
		for _, doc := range []string{`{"b":` + v + `}`, `{"a":1, "b" : ` + v + ` }`, `{"l":[` + v + `]}`, `{"l":[1,` + v + `,2]}`} {
			_, err1 := inline.Rewrite(nil, []byte(doc), nil)
			_, err2 := ref.Rewrite(nil, []byte(doc), nil)
			if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
				t.Fatalf("%q: err %v, want %v", doc, err1, err2)
			}
			if valid := v == `"ok"` || v == `"é"`; (err1 == nil) != valid {
				t.Fatalf("%q: err %v, valid %v", doc, err1, valid)
			}
		}
	}
}
