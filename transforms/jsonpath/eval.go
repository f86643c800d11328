package jsonpath

import (
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/veilgw/veil/internal/jsonnum"
)

// Node is one selected node: its normalized path (RFC 9535 2.7) and raw
// JSON value text (a sub-slice of the document passed to Select).
type Node struct {
	Path  string
	Value []byte
}

// EvalContext holds per-document state for filter evaluation: the raw root
// document (absolute queries inside filters read it, parsed at most once
// and cached here) and a cache of regexes built from non-literal patterns.
// One per document; not safe for concurrent use.
type EvalContext struct {
	// Root is the raw text of the whole original document.
	Root []byte

	root     *value // parsed Root; valid when rootDone
	rootDone bool
	// dup is set when a singular query of the filter being evaluated
	// read a member whose name its object repeats (Filter.Eval).
	dup     bool
	regexps map[string]*regexp.Regexp // dynamic patterns; nil value: invalid
}

// NewEvalContext returns a context for the document root.
func NewEvalContext(root []byte) *EvalContext { return &EvalContext{Root: root} }

// rootValue returns the parsed root document, parsing it on first use. An
// unparsable root yields nil: absolute queries then select nothing.
func (c *EvalContext) rootValue() *value {
	if c == nil {
		return nil
	}
	if !c.rootDone {
		c.rootDone = true
		c.root, _ = parseJSON(c.Root)
	}
	return c.root
}

// regexp returns the compiled I-Regexp for a pattern computed at run time,
// or nil when it is invalid. Results are cached per context.
func (c *EvalContext) regexp(pattern string, anchored bool) *regexp.Regexp {
	if c == nil {
		re, _ := compileIRegexp(pattern, anchored)
		return re
	}
	key := pattern
	if anchored {
		key = "M" + pattern
	} else {
		key = "S" + pattern
	}
	if re, ok := c.regexps[key]; ok {
		return re
	}
	re, err := compileIRegexp(pattern, anchored)
	if err != nil {
		re = nil
	}
	if c.regexps == nil {
		c.regexps = make(map[string]*regexp.Regexp)
	}
	if len(c.regexps) < 64 {
		c.regexps[key] = re
	}
	return re
}

// Filter is a compiled filter expression ("?<logical-expr>").
type Filter struct {
	expr *expr
	// fast is set when every leaf of expr is a literal or a relative
	// singular query of names and indices, so Test can run on raw bytes.
	fast bool
}

func newFilter(e *expr) *Filter {
	return &Filter{expr: e, fast: isFast(e)}
}

// Test reports whether the filter holds for candidate (the raw JSON text of
// one child value) within the document of ctx: Eval, with a filter that
// cannot be evaluated (ErrDuplicateName) not holding.
func (f *Filter) Test(ctx *EvalContext, candidate []byte) bool {
	ok, err := f.Eval(ctx, candidate)
	return ok && err == nil
}

// Eval reports whether the filter holds for candidate (the raw JSON text of
// one child value) within the document of ctx. Common shapes (comparisons
// of @-relative name/index paths with literals, existence tests, and
// &&, ||, ! of those) run directly on the raw bytes without allocating;
// others build a tree of candidate. A candidate that is not valid JSON
// makes the tree path return false.
//
// Duplicate member names (undefined in RFC 8259 and RFC 9535): when the
// outcome depends on a singular query (names and indices only) that reads
// a member whose name its object repeats, Eval returns ErrDuplicateName:
// readers of the document disagree on which occurrence counts, so no
// answer is right for all of them (a rewriter fails closed on it). Parts
// of the filter that && and || skip are not read. Non-singular queries
// (wildcards, descendants, Select itself) visit every occurrence.
// A nil or zero Filter never holds; a nil ctx behaves as a context whose
// root is not JSON (absolute queries select nothing).
func (f *Filter) Eval(ctx *EvalContext, candidate []byte) (bool, error) {
	if f == nil || f.expr == nil {
		return false, nil
	}
	var ok, dup bool
	if f.fast {
		ok = fastLogical(f.expr, candidate, &dup)
	} else {
		cur, err := parseJSON(candidate)
		if err != nil {
			return false, nil
		}
		if ctx == nil {
			ctx = &EvalContext{rootDone: true}
		}
		ctx.dup = false
		ok = evalLogical(f.expr, cur, ctx)
		dup = ctx.dup
	}
	if dup {
		return false, ErrDuplicateName
	}
	return ok, nil
}

// IsSingular reports whether q is a singular query: child segments only,
// each with exactly one name or index selector.
func (q *Query) IsSingular() bool {
	for _, s := range q.Segments {
		if s.Kind != Child || len(s.Selectors) != 1 {
			return false
		}
		if k := s.Selectors[0].Kind; k != SelName && k != SelIndex {
			return false
		}
	}
	return true
}

// Select evaluates q on doc with the reference (tree) evaluator, returning
// the nodelist in RFC order, duplicates included. Relative queries are
// evaluated with doc as the current node. Every member of an object with a
// repeated name is selected by a name selector. An invalid document yields
// an error wrapping ErrInvalidJSON.
func (q *Query) Select(doc []byte) ([]Node, error) {
	root, err := parseJSON(doc)
	if err != nil {
		return nil, err
	}
	ctx := &EvalContext{Root: doc, root: root, rootDone: true}
	nodes := evalQuery(q, root, ctx, true)
	out := make([]Node, len(nodes))
	var buf []byte
	for i, n := range nodes {
		buf = n.loc.appendPath(buf[:0])
		out[i] = Node{Path: string(buf), Value: n.v.raw}
	}
	return out, nil
}

// loc is a node's location, linked to its parent's; nil is the root.
type loc struct {
	parent *loc
	name   string
	index  int
	isName bool
}

func (l *loc) appendPath(dst []byte) []byte {
	if l == nil {
		return append(dst, '$')
	}
	dst = l.parent.appendPath(dst)
	if l.isName {
		return AppendNormalizedName(dst, l.name)
	}
	return AppendNormalizedIndex(dst, l.index)
}

// nref is a node during evaluation: value and (when tracked) location.
type nref struct {
	v   *value
	loc *loc
}

// evalQuery applies q's segments to cur (for relative queries) or to the
// root (absolute ones).
func evalQuery(q *Query, cur *value, ctx *EvalContext, paths bool) []nref {
	start := cur
	if !q.Relative {
		start = ctx.rootValue()
		if start == nil {
			return nil
		}
	}
	nodes := []nref{{v: start}}
	for i := range q.Segments {
		seg := &q.Segments[i]
		var next []nref
		for _, n := range nodes {
			if seg.Kind == Descendant {
				next = descend(next, seg, n, ctx, paths)
			} else {
				next = applySelectors(next, seg.Selectors, n, ctx, paths)
			}
		}
		nodes = next
		if len(nodes) == 0 {
			break
		}
	}
	return nodes
}

// descend applies seg's selectors to n and then to each descendant of n,
// in document order, parents before children.
func descend(dst []nref, seg *Segment, n nref, ctx *EvalContext, paths bool) []nref {
	dst = applySelectors(dst, seg.Selectors, n, ctx, paths)
	switch n.v.kind {
	case kArray:
		for i, e := range n.v.arr {
			dst = descend(dst, seg, child(n, e, "", i, false, paths), ctx, paths)
		}
	case kObject:
		for _, m := range n.v.obj {
			dst = descend(dst, seg, child(n, m.val, m.name, 0, true, paths), ctx, paths)
		}
	}
	return dst
}

func child(parent nref, v *value, name string, index int, isName, paths bool) nref {
	if !paths {
		return nref{v: v}
	}
	return nref{v: v, loc: &loc{parent: parent.loc, name: name, index: index, isName: isName}}
}

func applySelectors(dst []nref, sels []Selector, n nref, ctx *EvalContext, paths bool) []nref {
	for i := range sels {
		dst = applySelector(dst, &sels[i], n, ctx, paths)
	}
	return dst
}

func applySelector(dst []nref, sel *Selector, n nref, ctx *EvalContext, paths bool) []nref {
	v := n.v
	switch sel.Kind {
	case SelName:
		if v.kind == kObject {
			for _, m := range v.obj {
				if m.name == sel.Name {
					dst = append(dst, child(n, m.val, m.name, 0, true, paths))
				}
			}
		}
	case SelWildcard:
		switch v.kind {
		case kArray:
			for i, e := range v.arr {
				dst = append(dst, child(n, e, "", i, false, paths))
			}
		case kObject:
			for _, m := range v.obj {
				dst = append(dst, child(n, m.val, m.name, 0, true, paths))
			}
		}
	case SelIndex:
		if v.kind == kArray {
			if i, ok := normIndex(sel.Index, len(v.arr)); ok {
				dst = append(dst, child(n, v.arr[i], "", i, false, paths))
			}
		}
	case SelSlice:
		if v.kind == kArray {
			lo, hi, step := sel.Slice.Bounds(len(v.arr))
			if step > 0 {
				for i := lo; i < hi; i += step {
					dst = append(dst, child(n, v.arr[i], "", i, false, paths))
				}
			} else if step < 0 {
				for i := hi; lo < i; i += step {
					dst = append(dst, child(n, v.arr[i], "", i, false, paths))
				}
			}
		}
	case SelFilter:
		switch v.kind {
		case kArray:
			for i, e := range v.arr {
				if evalLogical(sel.Filter.expr, e, ctx) {
					dst = append(dst, child(n, e, "", i, false, paths))
				}
			}
		case kObject:
			for _, m := range v.obj {
				if evalLogical(sel.Filter.expr, m.val, ctx) {
					dst = append(dst, child(n, m.val, m.name, 0, true, paths))
				}
			}
		}
	}
	return dst
}

// normIndex resolves index i (negative: from the end) in an array of
// length n.
func normIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

// Bounds returns the iteration bounds of the slice over an array of length
// n (RFC 9535 2.3.4.2.2). For step > 0 the selected indices are lo, lo+step,
// ... while < hi; for step < 0 they are hi, hi+step, ... while > lo; step
// 0 selects nothing.
func (s Slice) Bounds(n int) (lo, hi, step int) {
	st := int64(1)
	if s.HasStep {
		st = s.Step
	}
	if st == 0 {
		return 0, 0, 0
	}
	ln := int64(n)
	var start, end int64
	if st > 0 {
		start, end = 0, ln
	} else {
		start, end = ln-1, -ln-1
	}
	if s.HasStart {
		start = s.Start
	}
	if s.HasEnd {
		end = s.End
	}
	norm := func(i int64) int64 {
		if i >= 0 {
			return i
		}
		return ln + i
	}
	ns, ne := norm(start), norm(end)
	if st > 0 {
		l := min(max(ns, 0), ln)
		u := min(max(ne, 0), ln)
		return int(l), int(u), int(st)
	}
	u := min(max(ns, -1), ln-1)
	l := min(max(ne, -1), ln-1)
	return int(l), int(u), int(st)
}

// evalLogical evaluates e as a LogicalType expression with cur as "@".
func evalLogical(e *expr, cur *value, ctx *EvalContext) bool {
	switch e.kind {
	case eOr:
		for _, a := range e.args {
			if evalLogical(a, cur, ctx) {
				return true
			}
		}
		return false
	case eAnd:
		for _, a := range e.args {
			if !evalLogical(a, cur, ctx) {
				return false
			}
		}
		return true
	case eNot:
		return !evalLogical(e.args[0], cur, ctx)
	case eCmp:
		return compare(e.op, evalValue(e.args[0], cur, ctx), evalValue(e.args[1], cur, ctx))
	case eQuery:
		if e.singular {
			return evalSingular(e.query, cur, ctx) != nil
		}
		return len(evalQuery(e.query, cur, ctx, false)) > 0
	case eFunc:
		if e.fn.result == typeNodes {
			return len(evalNodes(e, cur, ctx)) > 0
		}
		return callLogical(e, cur, ctx)
	}
	return false
}

// evalValue evaluates a comparable or ValueType argument; nil is Nothing.
func evalValue(e *expr, cur *value, ctx *EvalContext) *value {
	switch e.kind {
	case eLiteral:
		return e.lit
	case eQuery:
		return evalSingular(e.query, cur, ctx)
	case eFunc:
		return callValue(e, cur, ctx)
	}
	return nil
}

// evalSingular evaluates a singular query to its value, or nil (Nothing).
// Where an object repeats a member name, the last occurrence is read, as
// on the raw fast path, and ctx.dup is set.
func evalSingular(q *Query, cur *value, ctx *EvalContext) *value {
	v := cur
	if !q.Relative {
		if v = ctx.rootValue(); v == nil {
			return nil
		}
	}
	for i := range q.Segments {
		sel := &q.Segments[i].Selectors[0]
		switch {
		case sel.Kind == SelName && v.kind == kObject:
			var dup bool
			if v, dup = v.member(sel.Name); dup && ctx != nil {
				ctx.dup = true
			}
		case sel.Kind == SelIndex && v.kind == kArray:
			j, ok := normIndex(sel.Index, len(v.arr))
			if !ok {
				return nil
			}
			v = v.arr[j]
		default:
			return nil
		}
		if v == nil {
			return nil
		}
	}
	return v
}

func evalNodes(e *expr, cur *value, ctx *EvalContext) []nref {
	if e.kind == eQuery {
		return evalQuery(e.query, cur, ctx, false)
	}
	return nil
}

func callValue(e *expr, cur *value, ctx *EvalContext) *value {
	switch e.fn.name {
	case "length":
		v := evalValue(e.args[0], cur, ctx)
		if v == nil {
			return nil
		}
		switch v.kind {
		case kString:
			return intValue(utf8.RuneCountInString(v.str))
		case kArray:
			return intValue(len(v.arr))
		case kObject:
			return intValue(len(v.obj))
		}
		return nil
	case "count":
		return intValue(len(evalNodes(e.args[0], cur, ctx)))
	case "value":
		nodes := evalNodes(e.args[0], cur, ctx)
		if len(nodes) == 1 {
			return nodes[0].v
		}
		return nil
	}
	return nil
}

func callLogical(e *expr, cur *value, ctx *EvalContext) bool {
	switch e.fn.name {
	case "match", "search":
		if e.reBad {
			return false
		}
		s := evalValue(e.args[0], cur, ctx)
		if s == nil || s.kind != kString {
			return false
		}
		re := e.re
		if re == nil {
			p := evalValue(e.args[1], cur, ctx)
			if p == nil || p.kind != kString {
				return false
			}
			re = ctx.regexp(p.str, e.fn.name == "match")
			if re == nil {
				return false
			}
		}
		return re.MatchString(s.str)
	}
	return false
}

func intValue(n int) *value {
	return &value{kind: kNumber, raw: strconv.AppendInt(nil, int64(n), 10)}
}

// compare applies op to two values (nil is Nothing), RFC 9535 2.3.5.2.2.
func compare(op cmpOp, a, b *value) bool {
	switch op {
	case opEq:
		return equal(a, b)
	case opNe:
		return !equal(a, b)
	case opLt:
		return less(a, b)
	case opLe:
		return less(a, b) || equal(a, b)
	case opGt:
		return less(b, a)
	case opGe:
		return less(b, a) || equal(a, b)
	}
	return false
}

func equal(a, b *value) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return equalValues(a, b)
}

func less(a, b *value) bool {
	if a == nil || b == nil || a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kNumber:
		return jsonnum.Compare(a.raw, b.raw) < 0
	case kString:
		return a.str < b.str // UTF-8 byte order is code point order
	}
	return false
}
