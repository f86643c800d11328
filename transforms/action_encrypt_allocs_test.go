//go:build !race

package transforms

import "testing"

// TestCryptoAllocs bounds the steady-state allocations: encrypt and
// decrypt allocate nothing per value; tokenize and detokenize only inside
// tink's AES-SIV.
func TestCryptoAllocs(t *testing.T) {
	tests := []struct {
		action string
		doc    []byte
		max    float64 // per value
	}{
		{"encrypt", emails(10), 0},
		{"decrypt", nil, 0},
		{"tokenize", emails(10), 8},
		{"detokenize", nil, 8},
	}
	keys := newRing("pii", 3, 0)
	for i, tc := range tests {
		if tc.doc == nil {
			p := compileTest(t, []Rule{r("$[*]", tests[i-1].action, "key", "pii")}, Options{Keys: keys})
			out, err := p.Rewrite(nil, emails(10), nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.doc = out
		}
		p := compileTest(t, []Rule{r("$[*]", tc.action, "key", "pii")}, Options{Keys: keys})
		var res Result
		out, _ := p.Rewrite(nil, tc.doc, &res)
		allocs := testing.AllocsPerRun(20, func() { out, _ = p.Rewrite(out[:0], tc.doc, &res) })
		if res.Failed != 0 || allocs/10 > tc.max {
			t.Errorf("%s: %.1f allocations per value (at most %.0f), failed %d", tc.action, allocs/10, tc.max, res.Failed)
		}
	}
}
