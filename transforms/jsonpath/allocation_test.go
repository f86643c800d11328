//go:build !race

package jsonpath

import "testing"

// TestFastPathAllocs proves the raw fast path allocates nothing.
func TestFastPathAllocs(t *testing.T) {
	cand := []byte(benchRecord)
	ctx := NewEvalContext(cand)
	for _, expr := range []string{
		"@.status == 'closed'",
		"@.address.city == 'Z\\u00fcrich'",
		"@.balance >= 1000.5 && @.tags[-1] != 'vip'",
		"@.name == 'Ada Lovelace' || !@.deleted",
		"@.score < 123456789.125e-3",
	} {
		f := filterOf(t, expr)
		if !f.fast {
			t.Fatalf("%s: not on the fast path", expr)
		}
		if n := testing.AllocsPerRun(100, func() { f.Test(ctx, cand) }); n != 0 {
			t.Errorf("%s: %v allocations per Test, want 0", expr, n)
		}
	}
}
