package transforms

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func fpeRule(path, action string, kv ...any) Rule {
	p := map[string]any{"key": "pii"}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1]
	}
	return Rule{Path: path, Action: action, Params: p}
}

// sameShape reports whether a and b have equal length (in characters) and
// the same characters outside the alphabet at the same places.
func sameShape(a, b, alphabet string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		inA, inB := strings.ContainsRune(alphabet, ra[i]), strings.ContainsRune(alphabet, rb[i])
		if inA != inB || (!inA && ra[i] != rb[i]) {
			return false
		}
	}
	return true
}

func TestFPERoundTripKeepsFormat(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 1, 7)
	cases := []struct {
		name, value, alphabet string
		extra                 []any
	}{
		{"ssn", `"123-45-6789"`, "digits", nil},
		{"card", `"4111 1111 1111 1111"`, "digits", nil},
		{"number", `4111111111111111`, "digits", nil},
		{"phone", `"+1 (555) 010-2030"`, "digits", nil},
		{"lower word", `"correcthorse"`, "lower", nil},
		{"alphanumeric id", `"Ab3-xY9z-QQ1"`, "alphanumeric", nil},
		{"custom alphabet", `"ACGTTGCAAC"`, "ACGT", nil},
		{"unicode alphabet", `"ééèèêêëëéè"`, "éèêë", nil},
		{"tweak", `"123-45-6789"`, "digits", []any{"tweak", "customers"}},
		{"escaped input", `"123\u002d45\u002d6789"`, "digits", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alpha := c.alphabet
			if named, ok := fpeAlphabets[alpha]; ok {
				alpha = named
			}
			extra := append([]any{"alphabet", c.alphabet}, c.extra...)
			enc, res := rewriteString(t, []Rule{fpeRule("$.v", "fpe", extra...)}, keys, `{"v":`+c.value+`}`)
			if res.Failed != 0 || res.Rules[0].Count != 1 {
				t.Fatalf("fpe %s: %s %+v", c.value, enc, res)
			}
			var got struct{ V string }
			if err := json.Unmarshal([]byte(enc), &got); err != nil {
				t.Fatalf("output %s: %v", enc, err)
			}
			var orig any
			_ = json.Unmarshal([]byte(c.value), &orig)
			origText, ok := orig.(string)
			if !ok {
				origText = c.value
			}
			if got.V == origText || !sameShape(got.V, origText, alpha) {
				t.Fatalf("fpe %q -> %q: not format-preserving", origText, got.V)
			}
			dec, res := rewriteString(t, []Rule{fpeRule("$.v", "fpe_decrypt", extra...)}, keys, enc)
			if res.Failed != 0 || !strings.Contains(dec, origText) && !strings.Contains(dec, strings.ReplaceAll(c.value, `\u002d`, "-")) {
				t.Fatalf("fpe_decrypt %s -> %s (%+v), want %s", enc, dec, res, origText)
			}
			// Deterministic: the same value encrypts the same way again.
			if again, _ := rewriteString(t, []Rule{fpeRule("$.v", "fpe", extra...)}, keys, `{"v":`+c.value+`}`); again != enc {
				t.Fatalf("not deterministic: %s vs %s", enc, again)
			}
		})
	}
}

func TestFPERedactsWhatItCannotHandle(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 1, 7)
	for name, value := range map[string]string{
		"domain too small": `"12345"`,     // 10^5 < 10^6
		"outside alphabet": `"12a456789"`, // 'a' is neither a digit nor kept
		"boolean":          `true`,
		"null":             `null`,
		"control char":     `"123\n456789"`,
	} {
		out, res := rewriteString(t, []Rule{fpeRule("$.v", "fpe")}, keys, `{"v":`+value+`,"w":1}`)
		if out != `{"w":1}` || res.Failed != 1 {
			t.Errorf("%s: %s %+v (want redacted and counted)", name, out, res)
		}
	}
	// Objects and arrays: every scalar leaf; leaves it cannot handle are
	// redacted one by one.
	out, res := rewriteString(t, []Rule{fpeRule("$.v", "fpe")}, keys, `{"v":{"a":"123-45-6789","b":["1234567",true]}}`)
	if res.Failed != 1 || strings.Contains(out, "123-45-6789") || strings.Contains(out, "1234567") || strings.Contains(out, "true") {
		t.Fatalf("container: %s %+v", out, res)
	}
}

func TestFPEUsesVersionOneAcrossRotation(t *testing.T) {
	t.Parallel()
	v1 := newRing("pii", 1, 9)
	v3 := newRing("pii", 3, 9) // same material for v1, v2 and v3 added
	enc1, _ := rewriteString(t, []Rule{fpeRule("$.v", "fpe")}, v1, `{"v":"123-45-6789"}`)
	enc3, _ := rewriteString(t, []Rule{fpeRule("$.v", "fpe")}, v3, `{"v":"123-45-6789"}`)
	if enc1 != enc3 {
		t.Fatalf("rotation changed fpe output: %s vs %s (fpe keys rotate by name)", enc1, enc3)
	}
	other := newRing("pii", 1, 42)
	if encO, _ := rewriteString(t, []Rule{fpeRule("$.v", "fpe")}, other, `{"v":"123-45-6789"}`); encO == enc1 {
		t.Fatal("another key gave the same output")
	}
	// Version 1 retired: the values are crypto-shredded (redacted, counted).
	retired := newRing("pii", 2, 9)
	retired.minDec["pii"] = 2
	out, res := rewriteString(t, []Rule{fpeRule("$.v", "fpe_decrypt")}, retired, enc1)
	if out != `{}` || res.Failed != 1 {
		t.Fatalf("retired v1: %s %+v", out, res)
	}
	// Key name unknown to the keyring: 503 upstream of here.
	p := compileTest(t, []Rule{fpeRule("$.v", "fpe")}, Options{Keys: newRing("other", 1, 1)})
	if _, err := p.Rewrite(nil, []byte(`{"v":"123-45-6789"}`), nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Fatalf("missing key: %v", err)
	}
}

func FuzzFPE(f *testing.F) {
	for _, s := range []string{"123-45-6789", "4111 1111 1111 1111", "12", "abc", "", "１２３４５６７"} {
		f.Add(s)
	}
	keys := newRing("pii", 1, 3)
	enc := compileTest(f, []Rule{fpeRule("$.v", "fpe")}, Options{Keys: keys})
	dec := compileTest(f, []Rule{fpeRule("$.v", "fpe_decrypt")}, Options{Keys: keys})
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		doc, _ := json.Marshal(map[string]string{"v": s})
		var res Result
		out, err := enc.Rewrite(nil, doc, &res)
		if err != nil || !json.Valid(out) {
			t.Fatalf("fpe(%q): %s %v", s, out, err)
		}
		if res.Failed == 1 {
			if string(out) != `{}` {
				t.Fatalf("a failed value must be redacted: %s", out)
			}
			return
		}
		back, err := dec.Rewrite(nil, out, &res)
		var got map[string]string
		if err != nil || json.Unmarshal(back, &got) != nil || got["v"] != s {
			t.Fatalf("round trip %q: %s -> %s (%v)", s, out, back, err)
		}
	})
}
