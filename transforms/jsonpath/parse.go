package jsonpath

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax wraps every parse error of an invalid query. The message says
// where (byte offset) and what was expected; it never echoes the query.
var ErrSyntax = errors.New("jsonpath: invalid query")

// maxSafeInt is the I-JSON integer range bound (2^53-1, RFC 9535 2.1).
const maxSafeInt = 1<<53 - 1

// maxNesting bounds filter and bracket nesting so hostile queries cannot
// exhaust the stack.
const maxNesting = 128

// Parse parses an absolute RFC 9535 query ("$..."). The whole grammar is
// supported, including filters and the five standard function extensions;
// well-typedness (RFC 9535 2.4.3) is checked here, and literal I-Regexps of
// match()/search() are compiled here, once.
func Parse(s string) (*Query, error) {
	p := parser{s: s}
	if len(s) == 0 || s[0] != '$' {
		return nil, p.errorf(0, "expected '$'")
	}
	p.i = 1
	q, err := p.segments(false)
	if err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, p.errorf(p.i, "expected a segment or end of query")
	}
	q.Text = s
	return q, nil
}

// MustParse is like Parse but panics on error; for tests and constants.
func MustParse(s string) *Query {
	q, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return q
}

type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if pos < len(p.s) {
		r, _ := utf8.DecodeRuneInString(p.s[pos:])
		return fmt.Errorf("%w: at offset %d: %s, found %q", ErrSyntax, pos, msg, r)
	}
	return fmt.Errorf("%w: at offset %d: %s, found end of query", ErrSyntax, pos, msg)
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// ws skips RFC 9535 blank space (S): space, tab, LF, CR.
func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// segments parses *(S segment) after the identifier ('$' or '@', already
// consumed). Blank space before something that is not a segment is left
// unconsumed.
func (p *parser) segments(relative bool) (*Query, error) {
	q := &Query{Relative: relative}
	for {
		save := p.i
		p.ws()
		c := p.peek()
		if c != '.' && c != '[' {
			p.i = save
			return q, nil
		}
		seg, err := p.segment()
		if err != nil {
			return nil, err
		}
		q.Segments = append(q.Segments, seg)
	}
}

func (p *parser) segment() (Segment, error) {
	if p.peek() == '[' {
		sels, err := p.bracketed()
		return Segment{Kind: Child, Selectors: sels}, err
	}
	// '.'
	p.i++
	kind := Child
	if p.peek() == '.' {
		p.i++
		kind = Descendant
		if p.peek() == '[' {
			sels, err := p.bracketed()
			return Segment{Kind: kind, Selectors: sels}, err
		}
	}
	if p.peek() == '*' {
		p.i++
		return Segment{Kind: kind, Selectors: []Selector{{Kind: SelWildcard}}}, nil
	}
	name, ok := p.shorthand()
	if !ok {
		if kind == Descendant {
			return Segment{}, p.errorf(p.i, "expected '[', '*' or a member name after '..'")
		}
		return Segment{}, p.errorf(p.i, "expected '*' or a member name after '.'")
	}
	return Segment{Kind: kind, Selectors: []Selector{{Kind: SelName, Name: name}}}, nil
}

// shorthand parses member-name-shorthand.
func (p *parser) shorthand() (string, bool) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			p.i++
		case c >= '0' && c <= '9':
			if p.i == start {
				return "", false
			}
			p.i++
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && n <= 1 {
				return p.s[start:p.i], p.i > start
			}
			p.i += n
		default:
			return p.s[start:p.i], p.i > start
		}
	}
	return p.s[start:p.i], p.i > start
}

// bracketed parses "[" S selector *(S "," S selector) S "]".
func (p *parser) bracketed() ([]Selector, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, p.errorf(p.i, "nesting too deep")
	}
	p.i++ // '['
	var sels []Selector
	for {
		p.ws()
		sel, err := p.selector()
		if err != nil {
			return nil, err
		}
		sels = append(sels, sel)
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return sels, nil
		default:
			return nil, p.errorf(p.i, "expected ',' or ']'")
		}
	}
}

func (p *parser) selector() (Selector, error) {
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		name, err := p.stringLiteral()
		return Selector{Kind: SelName, Name: name}, err
	case c == '*':
		p.i++
		return Selector{Kind: SelWildcard}, nil
	case c == '?':
		p.i++
		p.ws()
		e, err := p.logicalExpr()
		if err != nil {
			return Selector{}, err
		}
		return Selector{Kind: SelFilter, Filter: newFilter(e)}, nil
	case c == ':' || c == '-' || (c >= '0' && c <= '9'):
		return p.indexOrSlice()
	}
	return Selector{}, p.errorf(p.i, "expected a selector")
}

// integer parses an RFC 9535 int: "0" / ["-"] DIGIT1 *DIGIT within the
// I-JSON range.
func (p *parser) integer() (int64, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	ds := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	digits := p.s[ds:p.i]
	switch {
	case len(digits) == 0:
		return 0, p.errorf(ds, "expected a digit")
	case digits[0] == '0' && len(digits) > 1:
		return 0, p.errorf(ds, "leading zeros are not allowed")
	case digits == "0" && ds > start:
		return 0, p.errorf(start, "-0 is not allowed")
	case len(digits) > 16:
		return 0, p.errorf(start, "integer outside the I-JSON range")
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil || n > maxSafeInt || n < -maxSafeInt {
		return 0, p.errorf(start, "integer outside the I-JSON range")
	}
	return n, nil
}

func (p *parser) indexOrSlice() (Selector, error) {
	var sl Slice
	if p.peek() != ':' {
		n, err := p.integer()
		if err != nil {
			return Selector{}, err
		}
		save := p.i
		p.ws()
		if p.peek() != ':' {
			p.i = save
			return Selector{Kind: SelIndex, Index: n}, nil
		}
		sl.Start, sl.HasStart = n, true
	}
	p.i++ // first ':'
	p.ws()
	if c := p.peek(); c == '-' || (c >= '0' && c <= '9') {
		n, err := p.integer()
		if err != nil {
			return Selector{}, err
		}
		sl.End, sl.HasEnd = n, true
		p.ws()
	}
	if p.peek() == ':' {
		p.i++
		p.ws()
		if c := p.peek(); c == '-' || (c >= '0' && c <= '9') {
			n, err := p.integer()
			if err != nil {
				return Selector{}, err
			}
			sl.Step, sl.HasStep = n, true
		}
	}
	return Selector{Kind: SelSlice, Slice: sl}, nil
}

// stringLiteral parses a single- or double-quoted string literal and
// returns its unescaped value.
func (p *parser) stringLiteral() (string, error) {
	quote := p.s[p.i]
	p.i++
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == quote {
			s := p.s[start:p.i]
			p.i++
			if !utf8.ValidString(s) {
				return "", p.errorf(start, "invalid UTF-8 in string literal")
			}
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	buf := []byte(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == quote:
			p.i++
			if !utf8.Valid(buf) {
				return "", p.errorf(start, "invalid UTF-8 in string literal")
			}
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf(p.i, "control characters must be escaped in string literals")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		// escape
		if p.i+1 >= len(p.s) {
			return "", p.errorf(p.i+1, "expected an escape character")
		}
		e := p.s[p.i+1]
		switch e {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case '/', '\\':
			buf = append(buf, e)
		case '\'', '"':
			if e != quote {
				return "", p.errorf(p.i, "invalid escape \\%c in %c-quoted string", e, quote)
			}
			buf = append(buf, e)
		case 'u':
			r, n, err := p.unicodeEscape(p.i)
			if err != nil {
				return "", err
			}
			buf = utf8.AppendRune(buf, r)
			p.i += n
			continue
		default:
			return "", p.errorf(p.i, "invalid escape sequence")
		}
		p.i += 2
	}
	return "", p.errorf(p.i, "expected a closing quote")
}

// unicodeEscape decodes "\uXXXX" (with a following low surrogate when
// XXXX is a high surrogate) at pos. Lone surrogates are errors.
func (p *parser) unicodeEscape(pos int) (rune, int, error) {
	r, ok := hex4([]byte(p.s[min(pos+2, len(p.s)):min(pos+6, len(p.s))]))
	if !ok {
		return 0, 0, p.errorf(pos, "expected four hex digits after \\u")
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, 0, p.errorf(pos, "lone low surrogate")
	case r >= 0xD800 && r <= 0xDBFF:
		if pos+12 > len(p.s) || p.s[pos+6] != '\\' || p.s[pos+7] != 'u' {
			return 0, 0, p.errorf(pos+6, "expected a low surrogate escape")
		}
		r2, ok := hex4([]byte(p.s[pos+8 : pos+12]))
		if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
			return 0, 0, p.errorf(pos+6, "expected a low surrogate escape")
		}
		return utf16.DecodeRune(r, r2), 12, nil
	}
	return r, 6, nil
}
