package jsonpath

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// filterOf parses "$[?<expr>]" and returns its filter.
func filterOf(t testing.TB, expr string) *Filter {
	t.Helper()
	q, err := Parse("$[?" + expr + "]")
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return q.Segments[0].Selectors[0].Filter
}

// treeTest evaluates f with the tree evaluator only.
func treeTest(f *Filter, ctx *EvalContext, cand []byte) bool {
	return (&Filter{expr: f.expr}).Test(ctx, cand)
}

const customer = `{"id":"c-1042","status":"closed","tier":3,"score":7.5,"vip":true,"note":null,` +
	`"name":"Ada \u004covelace","tags":["a","b"],"addr":{"city":"Zürich","zip":"8001"},"empty":{}}`

func TestFilterTest(t *testing.T) {
	t.Parallel()
	root := []byte(`{"one":1,"limit":5,"city":"Zürich","re":"c-[0-9]+","bad":"c-\\d+","items":[` + customer + `]}`)
	tests := []struct {
		expr string
		cand string
		want bool
		fast bool
	}{
		{"@.status == 'closed'", customer, true, true},
		{"@.status != 'closed'", customer, false, true},
		{"'closed' == @.status", customer, true, true},
		{"@.status == \"open\"", customer, false, true},
		{"@.status < 'd'", customer, true, true},
		{"@.status > 'clos'", customer, true, true},
		{"@.status >= 'closed' && @.status <= 'closed'", customer, true, true},
		{"@.name == 'Ada Lovelace'", customer, true, true},
		{"@.name > 'Ada K'", customer, true, true},
		{"@.tier == 3", customer, true, true},
		{"@.tier == 3.0", customer, true, true},
		{"@.tier == 30e-1", customer, true, true},
		{"@.tier < 3", customer, false, true},
		{"@.tier <= 3", customer, true, true},
		{"3 > @.score", customer, false, true},
		{"@.score > 7", customer, true, true},
		{"@.tier == '3'", customer, false, true},
		{"@.tier != '3'", customer, true, true},
		{"@.vip == true", customer, true, true},
		{"@.vip", customer, true, true},
		{"@.note == null", customer, true, true},
		{"@.note", customer, true, true},
		{"@.missing == null", customer, false, true},
		{"@.missing != null", customer, true, true},
		{"@.missing < 1", customer, false, true},
		{"!@.missing", customer, true, true},
		{"@.tags[1] == 'b'", customer, true, true},
		{"@.tags[-1] == 'b'", customer, true, true},
		{"@.tags[-3] == 'b'", customer, false, true},
		{"@.tags[2]", customer, false, true},
		{"@['addr']['city'] == 'Zürich'", customer, true, true},
		{"@.addr.zip == 8001", customer, false, true},
		{"@.addr == 'x'", customer, false, true},
		{"@.addr != 'x'", customer, true, true},
		{"@.empty", customer, true, true},
		{"@.empty.x", customer, false, true},
		{"(@.tier == 1 || @.tier == 3) && !(@.vip == false)", customer, true, true},
		{"@ == 'x'", `"x"`, true, true},
		{"@ > 1", `  2 `, true, true},
		{"@.a", `[1]`, false, true},
		{"1 == 1", `0`, true, true},
		// Duplicate member names: see TestFilterDuplicateNames.
		{"@.a[*]", `{"a":[1],"a":[]}`, true, false},
		{`@.k == 'v'`, `{"\u006b":"\u0076"}`, true, true},
		// Tree path.
		{"@.tier == $.limit", customer, false, false},
		{"@.tier < $.limit", customer, true, false},
		{"@.addr.city == $.city", customer, true, false},
		{"@.tags == @.tags", customer, true, false},
		{"@.addr == $.items[0].addr", customer, true, false},
		{"match(@.id, $.bad)", customer, false, false},
		{"@.tags[?@ == 'b']", customer, true, false},
		{"@..city", customer, true, false},
		{"length(@.tags) == 2", customer, true, false},
		{"length(@.name) == 12", customer, true, false},
		{"length(@.addr.city) == 6", customer, true, false},
		{"count(@.*) == 10", customer, true, false},
		{"value(@.addr.zip) == '8001'", customer, true, false},
		{"match(@.id, 'c-[0-9]+')", customer, true, false},
		{"match(@.id, '[0-9]+')", customer, false, false},
		{"search(@.id, '[0-9]+')", customer, true, false},
		{"match(@.id, $.re)", customer, true, false},
		{"match(@.id, 'c-(')", customer, false, false},
		{"!match(@.id, 'c-(')", customer, true, false},
		{"@.tier == 3", `{"tier":3`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" on "+tt.cand[:min(len(tt.cand), 12)], func(t *testing.T) {
			t.Parallel()
			f := filterOf(t, tt.expr)
			if f.fast != tt.fast {
				t.Errorf("fast = %v, want %v", f.fast, tt.fast)
			}
			ctx := NewEvalContext(root)
			if got := f.Test(ctx, []byte(tt.cand)); got != tt.want {
				t.Errorf("Test = %v, want %v", got, tt.want)
			}
			if tt.cand[len(tt.cand)-1] == '}' || tt.cand[0] != '{' {
				if got := treeTest(f, ctx, []byte(tt.cand)); got != tt.want {
					t.Errorf("tree Test = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestFilterDuplicateNames: a filter whose outcome depends on a member
// whose name its object repeats cannot be evaluated (readers keep the last
// occurrence, the first, or refuse): Eval returns ErrDuplicateName on both
// paths, Test is false. Parts && and || skip are not read, and
// non-singular queries visit every occurrence.
func TestFilterDuplicateNames(t *testing.T) {
	t.Parallel()
	root := []byte(`{"one":1}`)
	for _, tt := range []struct {
		expr, cand string
		want       bool // when not ambiguous
		dup        bool
	}{
		{"@.a == 2", `{"a":1,"a":2}`, false, true},
		{"@.a == 1", `{"a":1,"a":2}`, false, true},
		{"@.a != 1", `{"a":1,"a":2}`, false, true},
		{"@.a", `{"a":1,"a":2}`, false, true},
		{"!@.a", `{"a":1,"a":2}`, false, true},
		{"@.a[0] == 1", `{"a":[1],"a":2}`, false, true},
		{"@.a.b == 1", `{"a":{"c":1},"a":{"b":1}}`, false, true},
		{"@.a.b == $.one", `{"a":{"b":1},"a":{"b":2}}`, false, true},
		{"@.x.a == 1", `{"x":{"a":1,"a":2}}`, false, true},
		{"length(@.a) == 1", `{"a":"x","a":"yy"}`, false, true},
		{"@.b == 1 || @.a == 2", `{"b":1,"a":1,"a":2}`, true, false},  // || stops at @.b
		{"@.b == 2 && @.a == 2", `{"b":1,"a":1,"a":2}`, false, false}, // && stops at @.b
		{"@.b == 1 && @.a == 2", `{"b":1,"a":1,"a":2}`, false, true},
		{"@.b == 1", `{"b":1,"a":1,"a":2}`, true, false}, // another name repeats
		{"@.a[*]", `{"a":[1],"a":[]}`, true, false},
	} {
		f := filterOf(t, tt.expr)
		for _, path := range []struct {
			name string
			f    *Filter
		}{{"fast", f}, {"tree", &Filter{expr: f.expr}}} {
			if path.name == "fast" && !f.fast {
				continue
			}
			ok, err := path.f.Eval(NewEvalContext(root), []byte(tt.cand))
			if tt.dup {
				if !errors.Is(err, ErrDuplicateName) || ok {
					t.Errorf("%s on %s (%s): %v, %v; want ErrDuplicateName", tt.expr, tt.cand, path.name, ok, err)
				}
			} else if err != nil || ok != tt.want {
				t.Errorf("%s on %s (%s): %v, %v; want %v", tt.expr, tt.cand, path.name, ok, err, tt.want)
			}
			if path.f.Test(NewEvalContext(root), []byte(tt.cand)) != (tt.want && !tt.dup) {
				t.Errorf("%s on %s (%s): Test disagrees with Eval", tt.expr, tt.cand, path.name)
			}
		}
	}
}

func TestFilterNil(t *testing.T) {
	t.Parallel()
	var nilFilter *Filter
	if nilFilter.Test(nil, []byte("1")) || (&Filter{}).Test(nil, []byte("1")) {
		t.Fatal("nil or zero filter held")
	}
	if !filterOf(t, "$.x != 1 && !match(@, $.x) && match(@, @) && search(@, '1')").Test(nil, []byte(`"1"`)) {
		t.Fatal("filter with nil context failed")
	}
}

func TestFilterRootParsedOnce(t *testing.T) {
	t.Parallel()
	root := []byte(`{"limit":2,"items":[1,2,3]}`)
	f := filterOf(t, "@ < $.limit")
	ctx := NewEvalContext(root)
	var got []bool
	for _, c := range []string{"1", "2", "3"} {
		got = append(got, f.Test(ctx, []byte(c)))
	}
	if fmt.Sprint(got) != "[true false false]" {
		t.Fatalf("results %v", got)
	}
	first := ctx.root
	f.Test(ctx, []byte("0"))
	if first == nil || ctx.root != first {
		t.Fatal("root tree not cached in the EvalContext")
	}
	// An unparsable root makes absolute queries select nothing.
	bad := NewEvalContext([]byte(`{"limit":`))
	if f.Test(bad, []byte("1")) {
		t.Fatal("filter on an invalid root held")
	}
	if !filterOf(t, "$.limit != 1").Test(bad, []byte("1")) {
		t.Fatal("Nothing != 1 must hold")
	}
}

// TestFilterFastMatchesTree checks the raw fast path against the tree
// evaluator for every fast filter of the compliance suite, on every value
// of the case's document.
func TestFilterFastMatchesTree(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, c := range loadCTS(t) {
		if c.Invalid {
			continue
		}
		q := MustParse(c.Selector)
		root, err := parseJSON(c.Document)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var values []*value
		var walk func(v *value)
		walk = func(v *value) {
			values = append(values, v)
			for _, e := range v.arr {
				walk(e)
			}
			for _, m := range v.obj {
				walk(m.val)
			}
		}
		walk(root)
		for _, f := range filtersOf(q) {
			if !f.fast {
				continue
			}
			ctx := NewEvalContext(c.Document)
			for _, v := range values {
				checked++
				if fast, tree := f.Test(ctx, v.raw), treeTest(f, ctx, v.raw); fast != tree {
					t.Errorf("%s: filter %s on %s: fast %v, tree %v", c.Name, f, v.raw, fast, tree)
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d fast evaluations checked", checked)
	}
}

// filtersOf returns every filter in q, nested ones included.
func filtersOf(q *Query) []*Filter {
	var out []*Filter
	var inExpr func(e *expr)
	inExpr = func(e *expr) {
		if e.query != nil {
			out = append(out, filtersOf(e.query)...)
		}
		for _, a := range e.args {
			inExpr(a)
		}
	}
	for _, s := range q.Segments {
		for _, sel := range s.Selectors {
			if sel.Filter != nil {
				out = append(out, sel.Filter)
				inExpr(sel.Filter.expr)
			}
		}
	}
	return out
}

func TestFilterConcurrent(t *testing.T) {
	t.Parallel()
	fast := filterOf(t, "@.status == 'closed' && @.tier > 2")
	tree := filterOf(t, "match(@.id, $.re) && length(@.tags) == 2")
	root := []byte(`{"re":"c-[0-9]+"}`)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := NewEvalContext(root)
			for i := 0; i < 200; i++ {
				if !fast.Test(ctx, []byte(customer)) || !tree.Test(ctx, []byte(customer)) {
					errs <- "filter failed under concurrency"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestIRegexp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, input string
		match, search  bool
		invalid        bool
	}{
		{pattern: "a.c", input: "abc", match: true, search: true},
		{pattern: "a.c", input: "a\nc"},
		{pattern: "a.c", input: "a\rc"},
		{pattern: "a.c", input: "a\u2028c", match: true, search: true},
		{pattern: "b", input: "abc", search: true},
		{pattern: "a|bc", input: "bc", match: true, search: true},
		{pattern: "[a-c]{2,3}", input: "cab", match: true, search: true},
		{pattern: "x{2}", input: "xxx", search: true},
		{pattern: "[^a]", input: "b", match: true, search: true},
		{pattern: "[-a]+", input: "-a-", match: true, search: true},
		{pattern: "[a-]+", input: "a-", match: true, search: true},
		{pattern: `\p{Lu}\P{Lu}`, input: "Éa", match: true, search: true},
		{pattern: `\p{Nd}+`, input: "٣4", match: true, search: true},
		{pattern: `\.\*\\\[\]\{\}\(\)\|\?\+\-\^\n\t\r`, input: ".*\\[]{}()|?+-^\n\t\r", match: true, search: true},
		{pattern: `[\]\\\-]+`, input: `]\-`, match: true, search: true},
		{pattern: "^ab", input: "ab", match: true, search: true},
		{pattern: "^b", input: "ab"},
		{pattern: "a$", input: "ab"},
		{pattern: "(ab)*", input: "abab", match: true, search: true},
		{pattern: "", input: "", match: true, search: true},
		{pattern: "(", invalid: true},
		{pattern: "a{", invalid: true},
		{pattern: "a{,2}", invalid: true},
		{pattern: "*", invalid: true},
		{pattern: `\d`, invalid: true},
		{pattern: `\w`, invalid: true},
		{pattern: `\p{Xx}`, invalid: true},
		{pattern: `\p{IsBasicLatin}`, invalid: true},
		{pattern: "(?:a)", invalid: true},
		{pattern: "[b-a]", invalid: true},
		{pattern: "[a-b-c]", invalid: true},
		{pattern: "[]", invalid: true},
		{pattern: "a]", invalid: true},
		{pattern: "a}", invalid: true},
	}
	for _, tt := range tests {
		m, errM := compileIRegexp(tt.pattern, true)
		s, errS := compileIRegexp(tt.pattern, false)
		if tt.invalid {
			if errM == nil || errS == nil {
				t.Errorf("pattern %q: compiled, want invalid", tt.pattern)
			}
			continue
		}
		if errM != nil || errS != nil {
			t.Errorf("pattern %q: %v %v", tt.pattern, errM, errS)
			continue
		}
		if got := m.MatchString(tt.input); got != tt.match {
			t.Errorf("match(%q, %q) = %v, want %v", tt.input, tt.pattern, got, tt.match)
		}
		if got := s.MatchString(tt.input); got != tt.search {
			t.Errorf("search(%q, %q) = %v, want %v", tt.input, tt.pattern, got, tt.search)
		}
	}
}
