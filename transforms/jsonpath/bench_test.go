package jsonpath

import "testing"

// benchRecord is a typical 250-byte CRM customer record.
const benchRecord = `{"id":"cus_8f3a2b91","name":"Ada Lovelace","email":"ada@example.com",` +
	`"phone":"+44 20 7946 0958","status":"closed","balance":1024.75,"score":98.5,` +
	`"address":{"street":"12 St James's Sq","city":"Z\u00fcrich","zip":"8001"},` +
	`"tags":["gold","newsletter"],"deleted":false}`

func BenchmarkParse(b *testing.B) {
	for _, s := range []string{
		"$.data[*].customer.email",
		"$.items[?@.status == 'closed' && @.balance > 1000].ssn",
	} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFilterTest(b *testing.B) {
	cand := []byte(benchRecord)
	ctx := NewEvalContext([]byte(`{"min":1000}`))
	for _, tt := range []struct {
		name, expr string
		fast       bool
	}{
		{"fast/eq", "@.status == 'closed'", true},
		{"fast/and", "@.status == 'closed' && @.address.city == 'Zürich'", true},
		{"tree/eq", "@.status == 'closed'", false},
		{"tree/root", "@.balance > $.min", false},
		{"tree/match", "match(@.email, '.*@example[.]com')", false},
	} {
		b.Run(tt.name, func(b *testing.B) {
			f := filterOf(b, tt.expr)
			if !tt.fast {
				f = &Filter{expr: f.expr}
			}
			if !f.Test(ctx, cand) {
				b.Fatal("filter does not hold")
			}
			b.SetBytes(int64(len(cand)))
			b.ReportAllocs()
			for b.Loop() {
				f.Test(ctx, cand)
			}
		})
	}
}
