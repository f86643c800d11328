package transforms

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestConditionNumbersCompareExactly: where conditions and filters compare
// numbers by exact decimal value. As float64, 9007199254740992 (2^53) and
// 9007199254740993 are one value, so "redact the records not owned by
// 9007199254740993" kept another owner's record.
func TestConditionNumbersCompareExactly(t *testing.T) {
	t.Parallel()
	const other = `{"owner_id":9007199254740992,"k":[9007199254740992],"ssn":"123-45-6789"}`
	const own = `{"owner_id":9007199254740993,"k":[9007199254740993],"ssn":"own"}`
	doc := `{"c":[` + own + `,` + other + `]}`
	big := json.Number("9007199254740993")
	for _, tc := range []struct {
		name string
		rule Rule
	}{
		{"where !=", rw("$.c[*]", "redact", &Where{Field: "owner_id", Op: "!=", Value: big})},
		{"where not_in", rw("$.c[*]", "redact", &Where{Field: "owner_id", Op: "not_in", Value: []any{big}})},
		{"where <", rw("$.c[*]", "redact", &Where{Field: "owner_id", Op: "<", Value: big})},
		{"where != spelled 9.007199254740993e15", rw("$.c[*]", "redact", &Where{Field: "owner_id", Op: "!=", Value: json.Number("9.007199254740993e15")})},
		{"where != container", rw("$.c[*]", "redact", &Where{Field: "k", Op: "!=", Value: []any{big}})},
		{"filter != (raw fast path)", r("$.c[?@.owner_id != 9007199254740993]", "redact")},
		{"filter < (raw fast path)", r("$.c[?@.owner_id < 9007199254740993]", "redact")},
		{"filter != (tree)", r("$.c[?@.owner_id != 9007199254740993 && length(@.ssn) > 0]", "redact")},
		{"filter != other member", r("$.c[?@.owner_id != $.c[0].owner_id]", "redact")},
	} {
		p := compileTest(t, []Rule{tc.rule}, Options{})
		out, err := p.Rewrite(nil, []byte(doc), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if want := `{"c":[` + own + `]}`; string(out) != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, out, want)
		}
	}
	// Equal values in other spellings still match.
	for _, tc := range []struct {
		name string
		rule Rule
	}{
		{"where == 1.0", rw("$.c[*]", "redact", &Where{Field: "n", Op: "==", Value: json.Number("1.0")})},
		{"where in 10e-1", rw("$.c[*]", "redact", &Where{Field: "n", Op: "in", Value: []any{json.Number("10e-1")}})},
		{"where == float64", rw("$.c[*]", "redact", &Where{Field: "n", Op: "==", Value: 1.0})},
		{"where == container", rw("$.c[*]", "redact", &Where{Field: "k", Op: "==", Value: map[string]any{"n": json.Number("1.0")}})},
		{"filter == 1.00", r("$.c[?@.n == 1.00]", "redact")},
		{"filter == 1e0 (tree)", r("$.c[?@.n == 1e0 && length(@.ssn) > 0]", "redact")},
	} {
		p := compileTest(t, []Rule{tc.rule}, Options{})
		out, err := p.Rewrite(nil, []byte(`{"c":[{"n":1,"k":{"n":1},"ssn":"x"},{"n":2,"k":{"n":2},"ssn":"y"}]}`), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if want := `{"c":[{"n":2,"k":{"n":2},"ssn":"y"}]}`; string(out) != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, out, want)
		}
	}
}

// TestMaxDepthWithinFilterLimit: filters read documents through jsonpath,
// which parses at most jsonpath.MaxDepth levels and reads a deeper one as
// "no match". A rewriter allowing deeper documents would keep a record its
// filter selects, so such options are refused, and at the limit a deeper
// document fails closed.
func TestMaxDepthWithinFilterLimit(t *testing.T) {
	t.Parallel()
	rules := []Rule{r("$.c[?@.secret == true]", "redact")}
	if _, err := compileTestErr(t, rules, Options{MaxDepth: 1001}); err == nil || !strings.Contains(err.Error(), "max depth 1001") {
		t.Fatalf("MaxDepth 1001: err %v, want a refusal", err)
	}
	p := compileTest(t, rules, Options{MaxDepth: 1000})
	deep := strings.Repeat("[", 1050) + strings.Repeat("]", 1050)
	for _, doc := range []string{
		`{"c":[{"secret":true,"ssn":"123-45-6789","pad":` + deep + `}]}`,
		`{"pad":` + deep + `,"c":[{"secret":true,"ssn":"123-45-6789"}]}`,
	} {
		out, err := p.Rewrite(nil, []byte(doc), nil)
		if !errors.Is(err, ErrTooDeep) {
			t.Errorf("deep document: err %v, out %.60s; want ErrTooDeep", err, out)
		}
	}
}
