package jsonpath

import "strconv"

// String returns the canonical text of q: every segment in bracket
// notation, names single-quoted with normalized-path escaping, string
// literals double-quoted, single spaces around binary operators. Parsing
// the result yields an equal query.
func (q *Query) String() string {
	return string(q.AppendText(nil))
}

// AppendText appends the canonical text of q (see String) to dst.
func (q *Query) AppendText(dst []byte) []byte {
	if q.Relative {
		dst = append(dst, '@')
	} else {
		dst = append(dst, '$')
	}
	for i := range q.Segments {
		seg := &q.Segments[i]
		if seg.Kind == Descendant {
			dst = append(dst, '.', '.')
		}
		dst = append(dst, '[')
		for j := range seg.Selectors {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = seg.Selectors[j].appendText(dst)
		}
		dst = append(dst, ']')
	}
	return dst
}

func (s *Selector) appendText(dst []byte) []byte {
	switch s.Kind {
	case SelName:
		n := len(dst)
		dst = AppendNormalizedName(dst, s.Name)
		// Drop the brackets AppendNormalizedName adds around the quotes.
		copy(dst[n:], dst[n+1:len(dst)-1])
		return dst[:len(dst)-2]
	case SelWildcard:
		return append(dst, '*')
	case SelIndex:
		return strconv.AppendInt(dst, s.Index, 10)
	case SelSlice:
		if s.Slice.HasStart {
			dst = strconv.AppendInt(dst, s.Slice.Start, 10)
		}
		dst = append(dst, ':')
		if s.Slice.HasEnd {
			dst = strconv.AppendInt(dst, s.Slice.End, 10)
		}
		if s.Slice.HasStep {
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, s.Slice.Step, 10)
		}
		return dst
	case SelFilter:
		dst = append(dst, '?')
		return s.Filter.expr.appendText(dst)
	}
	return dst
}

// String returns the canonical text of the filter's logical expression
// (without the leading '?').
func (f *Filter) String() string {
	return string(f.expr.appendText(nil))
}

func (e *expr) appendText(dst []byte) []byte {
	if e.paren {
		dst = append(dst, '(')
		if e.kind == eOr && len(e.args) == 1 {
			dst = e.args[0].appendText(dst)
		} else {
			dst = e.appendBare(dst)
		}
		return append(dst, ')')
	}
	return e.appendBare(dst)
}

func (e *expr) appendBare(dst []byte) []byte {
	switch e.kind {
	case eOr, eAnd:
		sep := " || "
		if e.kind == eAnd {
			sep = " && "
		}
		for i, a := range e.args {
			if i > 0 {
				dst = append(dst, sep...)
			}
			dst = a.appendText(dst)
		}
	case eNot:
		dst = append(dst, '!')
		dst = e.args[0].appendText(dst)
	case eCmp:
		dst = e.args[0].appendText(dst)
		dst = append(dst, ' ')
		dst = append(dst, cmpOpText[e.op]...)
		dst = append(dst, ' ')
		dst = e.args[1].appendText(dst)
	case eQuery:
		dst = e.query.AppendText(dst)
	case eLiteral:
		dst = append(dst, e.lit.raw...)
	case eFunc:
		dst = append(dst, e.fn.name...)
		dst = append(dst, '(')
		for i, a := range e.args {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = a.appendText(dst)
		}
		dst = append(dst, ')')
	}
	return dst
}
