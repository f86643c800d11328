package jsonpath

import (
	"unicode/utf8"

	"github.com/veilgw/veil/internal/jsonnum"
)

// This file evaluates the common filter shapes directly on the raw bytes
// of a candidate: comparisons between an @-relative singular query of
// names and indices and a literal, existence tests of such queries, and
// &&, ||, ! and parentheses over those. No tree is built and nothing is
// allocated. Where an object repeats a member name, the last occurrence is
// used, as in the tree evaluator.

// isFast reports whether e can be evaluated by fastLogical.
func isFast(e *expr) bool {
	switch e.kind {
	case eOr, eAnd, eNot:
		for _, a := range e.args {
			if !isFast(a) {
				return false
			}
		}
		return true
	case eQuery:
		return e.query.Relative && e.query.IsSingular()
	case eCmp:
		l, r := e.args[0], e.args[1]
		return (l.kind == eLiteral || isFastOperand(l)) && (r.kind == eLiteral || (isFastOperand(r) && l.kind == eLiteral))
	}
	return false
}

func isFastOperand(e *expr) bool {
	return e.kind == eQuery && e.query.Relative && e.query.IsSingular()
}

// fastLogical evaluates a fast-eligible expression on the raw candidate;
// *dup is set when a lookup it made read a repeated member name.
func fastLogical(e *expr, cand []byte, dup *bool) bool {
	switch e.kind {
	case eOr:
		for _, a := range e.args {
			if fastLogical(a, cand, dup) {
				return true
			}
		}
		return false
	case eAnd:
		for _, a := range e.args {
			if !fastLogical(a, cand, dup) {
				return false
			}
		}
		return true
	case eNot:
		return !fastLogical(e.args[0], cand, dup)
	case eQuery:
		_, ok := rawLookup(cand, e.query.Segments, dup)
		return ok
	case eCmp:
		l, r := e.args[0], e.args[1]
		op := e.op
		if l.kind == eLiteral && r.kind == eLiteral {
			return compare(op, l.lit, r.lit)
		}
		if l.kind == eLiteral {
			l, r = r, l
			op = swapOp(op)
		}
		raw, ok := rawLookup(cand, l.query.Segments, dup)
		return rawCompare(op, raw, ok, r.lit)
	}
	return false
}

// swapOp returns the operator op' with (a op b) == (b op' a).
func swapOp(op cmpOp) cmpOp {
	switch op {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return op
}

// rawCompare compares the raw value (found false: Nothing) with literal lit.
func rawCompare(op cmpOp, raw []byte, found bool, lit *value) bool {
	eq, lt, gt := false, false, false
	if found && len(raw) > 0 {
		switch c := raw[0]; {
		case c == '"':
			if lit.kind == kString {
				switch cmpRawString(raw, lit.str) {
				case 0:
					eq = true
				case -1:
					lt = true
				case 1:
					gt = true
				}
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if lit.kind == kNumber {
				r := jsonnum.Compare(raw, lit.raw)
				eq, lt, gt = r == 0, r < 0, r > 0
			}
		case c == 't':
			eq = lit.kind == kTrue
		case c == 'f':
			eq = lit.kind == kFalse
		case c == 'n':
			eq = lit.kind == kNull
		}
	}
	switch op {
	case opEq:
		return eq
	case opNe:
		return !eq
	case opLt:
		return lt
	case opLe:
		return lt || eq
	case opGt:
		return gt
	case opGe:
		return gt || eq
	}
	return false
}

// rawLookup follows singular segments (one name or index selector each)
// from the raw value b and returns the raw text of the selected value;
// *dup is set when a member it read has a repeated name.
func rawLookup(b []byte, segs []Segment, dup *bool) ([]byte, bool) {
	v := trimWS(b)
	for i := range segs {
		sel := &segs[i].Selectors[0]
		var ok bool
		if sel.Kind == SelName {
			var d bool
			if v, ok, d = rawMember(v, sel.Name); d {
				*dup = true
			}
		} else {
			v, ok = rawElement(v, sel.Index)
		}
		if !ok {
			return nil, false
		}
	}
	return v, len(v) > 0
}

func trimWS(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isWS(b[i]) {
		i++
	}
	for j > i && isWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// rawMember returns the raw value of the last member named name of the
// raw object b, and whether an earlier member has the same name.
func rawMember(b []byte, name string) (val []byte, ok, dup bool) {
	if len(b) == 0 || b[0] != '{' {
		return nil, false, false
	}
	i := skipWS(b, 1)
	if i < len(b) && b[i] == '}' {
		return nil, false, false
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, false, false
		}
		kend := skipString(b, i)
		if kend < 0 {
			return nil, false, false
		}
		match := cmpRawString(b[i:kend], name) == 0
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return nil, false, false
		}
		i = skipWS(b, i+1)
		vend := skipValue(b, i, 0)
		if vend < 0 {
			return nil, false, false
		}
		if match {
			dup = dup || ok
			val, ok = b[i:vend], true
		}
		i = skipWS(b, vend)
		if i >= len(b) {
			return nil, false, false
		}
		if b[i] == '}' {
			return val, ok, dup
		}
		if b[i] != ',' {
			return nil, false, false
		}
		i = skipWS(b, i+1)
	}
	return nil, false, false
}

// rawElement returns the raw element idx (negative: from the end) of the
// raw array b.
func rawElement(b []byte, idx int64) ([]byte, bool) {
	if len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	if idx < 0 {
		n := rawLen(b)
		if n < 0 {
			return nil, false
		}
		idx += int64(n)
		if idx < 0 {
			return nil, false
		}
	}
	i := skipWS(b, 1)
	if i < len(b) && b[i] == ']' {
		return nil, false
	}
	for k := int64(0); i < len(b); k++ {
		end := skipValue(b, i, 0)
		if end < 0 {
			return nil, false
		}
		if k == idx {
			return b[i:end], true
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ',' {
			return nil, false
		}
		i = skipWS(b, i+1)
	}
	return nil, false
}

// rawLen counts the elements of the raw array b; -1 if malformed.
func rawLen(b []byte) int {
	i := skipWS(b, 1)
	if i < len(b) && b[i] == ']' {
		return 0
	}
	n := 0
	for i < len(b) {
		end := skipValue(b, i, 0)
		if end < 0 {
			return -1
		}
		n++
		i = skipWS(b, end)
		if i < len(b) && b[i] == ']' {
			return n
		}
		if i >= len(b) || b[i] != ',' {
			return -1
		}
		i = skipWS(b, i+1)
	}
	return -1
}

// skipString returns the index just past the string starting at b[i] == '"',
// or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at b[i], or -1.
// It checks structure, not every detail of validity.
func skipValue(b []byte, i, depth int) int {
	if i >= len(b) || depth > MaxDepth {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1
		}
		for i < len(b) {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				if i = skipString(b, i); i < 0 {
					return -1
				}
				i = skipWS(b, i)
				if i >= len(b) || b[i] != ':' {
					return -1
				}
				i = skipWS(b, i+1)
			}
			if i = skipValue(b, i, depth+1); i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return -1
			}
			if b[i] == closer {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i = skipWS(b, i+1)
		}
		return -1
	case c == '-' || (c >= '0' && c <= '9'):
		n := scanNumber(b[i:])
		if n == 0 {
			return -1
		}
		return i + n
	case c == 't' && hasPrefix(b[i:], "true"):
		return i + 4
	case c == 'f' && hasPrefix(b[i:], "false"):
		return i + 5
	case c == 'n' && hasPrefix(b[i:], "null"):
		return i + 4
	}
	return -1
}

// cmpRawString compares the decoded JSON string raw (with its quotes) with
// s by code points (UTF-8 byte order): -1, 0 or 1; 2 when raw is malformed.
func cmpRawString(raw []byte, s string) int {
	if len(raw) < 2 {
		return 2
	}
	body := raw[1 : len(raw)-1]
	j := 0
	var tmp [utf8.UTFMax]byte
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			if j >= len(s) {
				return 1
			}
			if c != s[j] {
				if c < s[j] {
					return -1
				}
				return 1
			}
			i++
			j++
			continue
		}
		r, n, ok := decodeEscape(body[i:])
		if !ok {
			return 2
		}
		i += n
		w := utf8.EncodeRune(tmp[:], r)
		for _, d := range tmp[:w] {
			if j >= len(s) {
				return 1
			}
			if d != s[j] {
				if d < s[j] {
					return -1
				}
				return 1
			}
			j++
		}
	}
	if j < len(s) {
		return -1
	}
	return 0
}
