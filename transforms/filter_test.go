package transforms

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/veilgw/veil/transforms/jsonpath"
)

// TestRewriteFilters checks filter selectors (evaluated by jsonpath.Filter
// on the candidate's original bytes).
func TestRewriteFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []Rule
		in    string
		want  string
	}{
		{"filter selects elements", []Rule{r("$.c[?@.status == 'closed']", "redact")},
			`{"c":[{"status":"closed","n":1},{"status":"open","n":2},{"status":"closed","n":3}]}`,
			`{"c":[{"status":"open","n":2}]}`},
		{"filter then child", []Rule{r("$.c[?@.n > 1].ssn", "mask", "keep_last", 1)},
			`{"c":[{"n":1,"ssn":"123"},{"n":2,"ssn":"456"}]}`,
			`{"c":[{"n":1,"ssn":"123"},{"n":2,"ssn":"**6"}]}`},
		{"filter on members", []Rule{r("$.m[?@ == 'x']", "replace", "value", "y")},
			`{"m":{"a":"x","b":"z","c":"x"}}`, `{"m":{"a":"y","b":"z","c":"y"}}`},
		{"filter with root reference", []Rule{r("$.c[?@.owner == $.me]", "redact")},
			`{"me":"u1","c":[{"owner":"u1"},{"owner":"u2"}]}`, `{"me":"u1","c":[{"owner":"u2"}]}`},
		{"filter sees original values", []Rule{r("$.c[*].n", "replace", "value", 0), r("$.c[?@.n == 2]", "redact")},
			`{"c":[{"n":1},{"n":2}]}`, `{"c":[{"n":0}]}`},
		{"descendant filter", []Rule{r("$..[?@.pii == true]", "redact")},
			`{"a":{"b":[{"pii":true,"v":1},{"pii":false}]},"x":{"pii":true}}`, `{"a":{"b":[{"pii":false}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := compileTest(t, tt.rules, Options{})
			out, err := p.Rewrite(nil, []byte(tt.in), nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
		})
	}
}

// TestManyRules uses enough member names to exercise the matcher's name
// table and checks that each rule still selects exactly its member.
func TestManyRules(t *testing.T) {
	t.Parallel()
	var rules []Rule
	for i := range 20 {
		rules = append(rules, r(fmt.Sprintf("$.f%d", i), "redact"))
	}
	p := compileTest(t, rules, Options{})
	var in, want strings.Builder
	in.WriteString("{")
	want.WriteString("{")
	for i := range 25 {
		if i > 0 {
			in.WriteString(",")
		}
		fmt.Fprintf(&in, `"f%d":%d`, i, i)
		if i >= 20 {
			if i > 20 {
				want.WriteString(",")
			}
			fmt.Fprintf(&want, `"f%d":%d`, i, i)
		}
	}
	in.WriteString(`,"f\u0031":1,"g":2}`)
	want.WriteString(`,"g":2}`)
	var res Result
	out, err := p.Rewrite(nil, []byte(in.String()), &res)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want.String() {
		t.Errorf("got  %s\nwant %s", out, want.String())
	}
	if res.Rules[1].Count != 2 || res.Rules[7].Count != 1 {
		t.Errorf("counts %+v", res.Rules)
	}
}

// TestFilterDuplicateNameFailsClosed: a filter that reads a member whose
// name its object repeats fails the document. With the last occurrence
// read, "redact the records not owned by u-17" kept
// {"owner":"u-99","owner":"u-17",...} for a reader that keeps the first.
func TestFilterDuplicateNameFailsClosed(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		"$.c[?@.owner != 'u-17']",                      // raw fast path
		"$.c[?@.owner != 'u-17' && length(@.ssn) > 0]", // tree path
		"$.c[?@.owner != $.me]",                        // tree path, absolute query
	} {
		p := compileTest(t, []Rule{r(path, "redact")}, Options{})
		out, err := p.Rewrite(nil, []byte(`{"me":"u-17","c":[{"owner":"u-99","owner":"u-17","ssn":"123-45-6789"}]}`), nil)
		if !errors.Is(err, ErrInvalidJSON) || !errors.Is(err, jsonpath.ErrDuplicateName) {
			t.Errorf("%s: out %s, err %v; want ErrInvalidJSON and ErrDuplicateName", path, out, err)
		}
		// A repeated name the filter does not read changes nothing.
		out, err = p.Rewrite(nil, []byte(`{"me":"u-17","c":[{"owner":"u-99","x":1,"x":2,"ssn":"123-45-6789"}]}`), nil)
		if err != nil || string(out) != `{"me":"u-17","c":[]}` {
			t.Errorf("%s: out %s, err %v; want the record redacted", path, out, err)
		}
	}
}
