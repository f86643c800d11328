package transforms

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// fuzzKeys is the fixed keyring of the fuzz tests: the committed seed
// tokens under testdata/fuzz were minted with it.
func fuzzKeys() *ring { return newRing("pii", 3, 0) }

// fuzzSeeds returns, for a protecting action, the protected forms of
// every typed input under each version of fuzzKeys plus malformed ones.
func fuzzSeeds(f *testing.F, action, prefix string) []string {
	var seeds []string
	for v := 1; v <= 3; v++ {
		p := compileTest(f, []Rule{r("$.v", action, "key", "pii")}, Options{Keys: newRing("pii", v, 0)})
		for _, tc := range typedInputs {
			out, err := p.Rewrite(nil, []byte(`{"v":`+tc.in+`}`), nil)
			if err != nil {
				f.Fatal(err)
			}
			var s string
			if err := json.Unmarshal([]byte(protected(f, string(out))), &s); err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, s)
		}
	}
	return append(seeds, "", prefix, prefix+"v1_", prefix+"v0_AAAA", prefix+"v3_"+strings.Repeat("A", 22),
		prefix+"v3_"+strings.Repeat("_", 40), prefix+"v999999999_AAAAAAAAAAAAAAAAAAAAAA", "v1_AAAA", prefix+"v1_\n")
}

// fuzzReveal checks one arbitrary string under a reversing Program: no
// error, valid JSON out, and either the member removed and counted or a
// value restored.
func fuzzReveal(t *testing.T, p *Program, s string) (restored string, ok bool) {
	doc, err := json.Marshal(map[string]string{"v": s})
	if err != nil {
		t.Skip()
	}
	var res Result
	out, err := p.Rewrite(nil, doc, &res)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	if !json.Valid(out) {
		t.Fatalf("%q: invalid output %q", s, out)
	}
	switch res.Failed {
	case 1:
		if string(out) != `{}` {
			t.Fatalf("%q: failed but output %s", s, out)
		}
		return "", false
	case 0:
		v := protected(t, string(out))
		if v == "" {
			t.Fatalf("%q: value lost without a failure: %s", s, out)
		}
		return v, true
	}
	t.Fatalf("%q: failed %d", s, res.Failed)
	return "", false
}

// FuzzDetokenize: any string given to detokenize is redacted and counted
// or restored to valid JSON; a restored value tokenizes back to exactly
// the same token (only genuine canonical tokens open).
func FuzzDetokenize(f *testing.F) {
	for _, s := range fuzzSeeds(f, "tokenize", "tok_") {
		f.Add(s)
	}
	keys := fuzzKeys()
	det := compileTest(f, []Rule{r("$.v", "detokenize", "key", "pii")}, Options{Keys: keys})
	var tok [4]*Program
	for v := 1; v <= 3; v++ {
		tok[v] = compileTest(f, []Rule{r("$.v", "tokenize", "key", "pii")}, Options{Keys: newRing("pii", v, 0)})
	}
	f.Fuzz(func(t *testing.T, s string) {
		val, ok := fuzzReveal(t, det, s)
		if !ok {
			return
		}
		var v int
		if _, err := fmt.Sscanf(s, "tok_v%d_", &v); err != nil || v < 1 || v > 3 {
			t.Fatalf("%q opened without a valid version", s)
		}
		again, err := tok[v].Rewrite(nil, []byte(`{"v":`+val+`}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(map[string]string{"v": s}); string(again) != string(want) {
			t.Fatalf("%q restored to %s which tokenizes to %s", s, val, again)
		}
	})
}

// FuzzDecrypt: any string given to decrypt is redacted and counted or
// restored to valid JSON.
func FuzzDecrypt(f *testing.F) {
	for _, s := range fuzzSeeds(f, "encrypt", "enc_") {
		f.Add(s)
	}
	dec := compileTest(f, []Rule{r("$.v", "decrypt", "key", "pii")}, Options{Keys: fuzzKeys()})
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := fuzzReveal(t, dec, s); ok && !strings.HasPrefix(s, "enc_v") {
			t.Fatalf("%q opened without the prefix", s)
		}
	})
}

// emails is a JSON array of n distinct e-mail addresses.
func emails(n int) []byte {
	b := []byte{'['}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"customer%d@example.com"`, i)
	}
	return append(b, ']')
}

// benchValues measures the per-value cost of one action applied to the
// 100 elements of doc (a Rewrite per iteration), as ns/value.
func benchValues(b *testing.B, action string, doc []byte) {
	p := compileTest(b, []Rule{r("$[*]", action, "key", "pii")}, Options{Keys: newRing("pii", 3, 0)})
	var res Result
	out, err := p.Rewrite(nil, doc, &res)
	if err != nil || res.Failed != 0 {
		b.Fatalf("%v, failed %d", err, res.Failed)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, _ = p.Rewrite(out[:0], doc, &res)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/value")
}

// protect100 is emails(100) tokenized or encrypted under newRing(3).
func protect100(b *testing.B, action string) []byte {
	p := compileTest(b, []Rule{r("$[*]", action, "key", "pii")}, Options{Keys: newRing("pii", 3, 0)})
	out, err := p.Rewrite(nil, emails(100), nil)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkTokenizeValue and the four below report ns/value for one
// action over 100 e-mail addresses (targets: tokenize <= 600 ns, encrypt
// <= 400 ns; hash for reference).
func BenchmarkTokenizeValue(b *testing.B)   { benchValues(b, "tokenize", emails(100)) }
func BenchmarkEncryptValue(b *testing.B)    { benchValues(b, "encrypt", emails(100)) }
func BenchmarkDetokenizeValue(b *testing.B) { benchValues(b, "detokenize", protect100(b, "tokenize")) }
func BenchmarkDecryptValue(b *testing.B)    { benchValues(b, "decrypt", protect100(b, "encrypt")) }
func BenchmarkHashValue(b *testing.B)       { benchValues(b, "hash", emails(100)) }

// benchRulesCrypto4 is the 4-rule benchmark with crypto actions.
func benchRulesCrypto4() []Rule {
	return []Rule{
		r("$.customers[*].email", "tokenize", "key", "pii"),
		r("$.customers[*].ssn", "encrypt", "key", "pii"),
		r("$.customers[*].phone", "tokenize", "key", "pii"),
		r("$.customers[*].id", "hash", "key", "pii"),
	}
}

// BenchmarkRewrite4CryptoRules1000 is BenchmarkRewrite4Rules1000's 250 KB
// fixture under tokenize email, encrypt ssn, tokenize phone, hash id.
func BenchmarkRewrite4CryptoRules1000(b *testing.B) { benchRewrite(b, benchRulesCrypto4(), 1000) }
