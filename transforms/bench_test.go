package transforms

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
)

// customers generates a deterministic customer list of n records
// (about 250 bytes each).
func customers(n int) []byte {
	b := []byte(`{"customers":[`)
	cities := []string{"Lyon", "Paris", "Berlin", "Lisbon", "Oslo"}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"c-%06d","name":"Customer %d Name","email":"customer%d@example.com",`+
			`"phone":"+33 6 %02d %02d %02d %02d","ssn":"%03d-%02d-%04d",`+
			`"address":{"street":"%d rue de la Paix","city":"%s","zip":"%05d"},`+
			`"date_of_birth":"19%02d-%02d-%02d","card_last4":"%04d","owner_id":"u-%d","notes":"prefers email contact"}`,
			i, i, i, i%100, (i*7)%100, (i*13)%100, (i*17)%100, i%1000, i%100, (i*31)%10000,
			i%200+1, cities[i%len(cities)], (i*97)%100000, i%100, i%12+1, i%28+1, (i*7)%10000, i%20)
	}
	return append(b, `],"total":`+strconv.Itoa(n)+`}`...)
}

func benchRules4() []Rule {
	return []Rule{
		r("$.customers[*].ssn", "mask", "keep_last", 4),
		r("$.customers[*].email", "mask", "format", "email"),
		r("$.customers[*].notes", "redact"),
		r("$.customers[*].id", "hash", "key", "pii"),
	}
}

// benchRules16 is the 1-rule set plus 15 rules that select fields the
// fixture does not hold or holds once, including descendant segments
// (which keep the matcher live in every node): it measures matcher cost,
// not action cost.
func benchRules16() []Rule {
	rules := []Rule{r("$.customers[*].ssn", "mask", "keep_last", 4)}
	for _, p := range []string{"$.customers[*].passport", "$.customers[*].iban", "$..salary", "$..password",
		"$.customers[*].address.country", "$.customers[*].address.geo", "$.meta.secret", "$..token",
		"$.customers[*].card_number", "$.customers[*].religion", "$.customers[*].health", "$..api_key",
		"$.customers[*].tax_id", "$.customers[*].mother_maiden_name", "$.total"} {
		rules = append(rules, r(p, "redact"))
	}
	return rules
}

func benchRewrite(b *testing.B, rules []Rule, n int) {
	keys := testKeys(b)
	p := compileTest(b, rules, Options{Keys: keys})
	doc := customers(n)
	var res Result
	out, err := p.Rewrite(nil, doc, &res)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err = p.Rewrite(out[:0], doc, &res)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewrite4Rules10(b *testing.B)   { benchRewrite(b, benchRules4(), 10) }
func BenchmarkRewrite4Rules1000(b *testing.B) { benchRewrite(b, benchRules4(), 1000) }
func BenchmarkRewrite1Rule1000(b *testing.B)  { benchRewrite(b, benchRules4()[:1], 1000) }
func BenchmarkRewrite16Rules1000(b *testing.B) {
	benchRewrite(b, benchRules16(), 1000)
}

// BenchmarkEncodingJSON1000 is the baseline: decode into any, change the
// same four fields, encode.
func BenchmarkEncodingJSON1000(b *testing.B) {
	doc := customers(1000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(doc, &v); err != nil {
			b.Fatal(err)
		}
		for _, c := range v["customers"].([]any) {
			m := c.(map[string]any)
			s := m["ssn"].(string)
			m["ssn"] = "*******" + s[len(s)-4:]
			m["email"] = "****@example.com"
			delete(m, "notes")
			m["id"] = "h_xxxxxxxxxxxxxxxxxxxxxx"
		}
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONValid1000 is a validation-only pass, for reference.
func BenchmarkJSONValid1000(b *testing.B) {
	doc := customers(1000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(doc) {
			b.Fatal("invalid")
		}
	}
}
