//go:build !race

package transforms

import "testing"

// TestRewriteAllocs proves the steady state of Rewrite allocates nothing
// per value (pooled scratch, append-style output).
func TestRewriteAllocs(t *testing.T) {
	keys := testKeys(t)
	p := compileTest(t, benchRules4(), Options{Keys: keys})
	doc := customers(100)
	var res Result
	out, err := p.Rewrite(nil, doc, &res)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		out, _ = p.Rewrite(out[:0], doc, &res)
	})
	if allocs != 0 {
		t.Errorf("Rewrite allocates %.1f times per call", allocs)
	}
}

func TestFixtureSizes(t *testing.T) {
	for n, want := range map[int]int{10: 2400, 1000: 250000} {
		if got := len(customers(n)); got < want*8/10 || got > want*12/10 {
			t.Errorf("customers(%d) is %d bytes, want about %d", n, got, want)
		}
	}
}
