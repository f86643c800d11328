package jsonpath

import (
	"errors"
	"reflect"
	"testing"
)

// fuzzDoc is the document every parsed fuzz query is evaluated on.
var fuzzDoc = []byte(`{"a":[1,2.5,"x",{"b":null,"c":[true,false]}],"d":{"e":"f","":{"g":-1e3}},"h":"ab\nc"}`)

// FuzzParse checks that Parse never panics, that every error wraps
// ErrSyntax, that the canonical String() form re-parses to an equal AST
// with the same String(), and that both select the same nodes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"$", "$.a[0]", "$..*", "$['a','d'][1:3:-1]", "$[?@.b == null]",
		"$..[?length(@) > 1 && !(@.x || match(@, 'a.c'))]",
		`$[?search(@.e, "[a-f]+") || count($..*) >= 3]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrSyntax", s, err)
			}
			return
		}
		canon := q.String()
		q2, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if !equalQuery(q, q2) {
			t.Fatalf("canonical form %q of %q parses to a different AST", canon, s)
		}
		if c2 := q2.String(); c2 != canon {
			t.Fatalf("String not a fixpoint: %q then %q", canon, c2)
		}
		n1, err1 := q.Select(fuzzDoc)
		n2, err2 := q2.Select(fuzzDoc)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(n1, n2) {
			t.Fatalf("%q and %q select differently: %v %v", s, canon, err1, err2)
		}
	})
}

// equalQuery compares two ASTs, ignoring source text and positions.
func equalQuery(a, b *Query) bool {
	if a.Relative != b.Relative || len(a.Segments) != len(b.Segments) {
		return false
	}
	for i := range a.Segments {
		sa, sb := &a.Segments[i], &b.Segments[i]
		if sa.Kind != sb.Kind || len(sa.Selectors) != len(sb.Selectors) {
			return false
		}
		for j := range sa.Selectors {
			x, y := &sa.Selectors[j], &sb.Selectors[j]
			if x.Kind != y.Kind || x.Name != y.Name || x.Index != y.Index || x.Slice != y.Slice {
				return false
			}
			if (x.Filter == nil) != (y.Filter == nil) {
				return false
			}
			if x.Filter != nil && (x.Filter.fast != y.Filter.fast || !equalExpr(x.Filter.expr, y.Filter.expr)) {
				return false
			}
		}
	}
	return true
}

func equalExpr(a, b *expr) bool {
	if a.kind != b.kind || a.op != b.op || a.paren != b.paren || a.fn != b.fn ||
		len(a.args) != len(b.args) || a.reBad != b.reBad || (a.re == nil) != (b.re == nil) {
		return false
	}
	if a.re != nil && a.re.String() != b.re.String() {
		return false
	}
	if (a.lit == nil) != (b.lit == nil) || (a.lit != nil && !equalValues(a.lit, b.lit)) {
		return false
	}
	if (a.query == nil) != (b.query == nil) || (a.query != nil && !equalQuery(a.query, b.query)) {
		return false
	}
	for i := range a.args {
		if !equalExpr(a.args[i], b.args[i]) {
			return false
		}
	}
	return true
}

// FuzzFilterFast checks the raw fast path of Filter.Test against the tree
// evaluator on every value of a fuzzed document.
func FuzzFilterFast(f *testing.F) {
	f.Add("@.a == 'x'", `{"a":"x"}`)
	f.Add("@.a[1] >= 2.5 || !@.b", `[{"a":[1,3]},{"b":null},{"a":{"1":2}}]`)
	f.Add(`@.k < "\u00e9" && @.k != "e"`, `{"k":"\u00e8","k":"\ud800","x":{"k":"f"}}`)
	f.Add("@[-1].x == null", `[[{"x":null}], [], {"x":1}]`)
	f.Fuzz(func(t *testing.T, expr, doc string) {
		q, err := Parse("$[?" + expr + "]")
		if err != nil || len(q.Segments) != 1 {
			return
		}
		flt := q.Segments[0].Selectors[0].Filter
		if flt == nil || !flt.fast {
			return
		}
		root, err := parseJSON([]byte(doc))
		if err != nil {
			return
		}
		ctx := NewEvalContext([]byte(doc))
		var walk func(v *value)
		walk = func(v *value) {
			if fast, tree := flt.Test(ctx, v.raw), treeTest(flt, ctx, v.raw); fast != tree {
				t.Fatalf("filter %s on %s: fast %v, tree %v", expr, v.raw, fast, tree)
			}
			for _, e := range v.arr {
				walk(e)
			}
			for _, m := range v.obj {
				walk(m.val)
			}
		}
		walk(root)
	})
}
