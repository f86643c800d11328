package jsonpath

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/veilgw/veil/internal/jsonnum"
)

// ErrInvalidJSON is returned (wrapped with the byte offset) by Select when
// the document is not exactly one valid JSON value (RFC 8259) or nests
// deeper than 1000 levels.
var ErrInvalidJSON = errors.New("jsonpath: invalid JSON")

// ErrDuplicateName: a filter read a member whose name its object repeats.
// Which occurrence counts is undefined (RFC 8259 4, RFC 9535): parsers
// keep the last, the first, or refuse, so a filter cannot say whether the
// node is selected for every reader of the document (Filter.Eval).
var ErrDuplicateName = errors.New("jsonpath: a filter reads a member name its object repeats")

// errJSON is the internal name of ErrInvalidJSON.
var errJSON = ErrInvalidJSON

// MaxDepth bounds nesting of documents the tree evaluator parses, so
// hostile input cannot exhaust the stack. A filter cannot be evaluated on a
// deeper document (it reads as false), so a rewriter must never accept one:
// transforms refuses Options.MaxDepth above it.
const MaxDepth = 1000

// kind is the JSON type of a value.
type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNumber
	kString
	kArray
	kObject
)

// member is one object member; objects keep duplicates in document order.
type member struct {
	name string
	val  *value
}

// value is a node of the reference tree. raw is the exact source text of
// the value (a sub-slice of the parsed document); literals built by the
// parser have raw set to their canonical JSON text.
type value struct {
	kind kind
	raw  []byte // numbers compare by this text's exact value (jsonnum)
	str  string
	arr  []*value
	obj  []member
}

// parseJSON parses exactly one JSON value (surrounding whitespace allowed).
func parseJSON(b []byte) (*value, error) {
	p := jsonParser{b: b}
	p.ws()
	v, err := p.value(0)
	if err == nil {
		p.ws()
		if p.i != len(p.b) {
			err = errJSON
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w at offset %d", err, p.i)
	}
	return v, nil
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*value, error) {
	if depth > MaxDepth {
		return nil, errJSON
	}
	if p.i >= len(p.b) {
		return nil, errJSON
	}
	start := p.i
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		v := &value{kind: kObject}
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			v.raw = p.b[start:p.i]
			return v, nil
		}
		for {
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return nil, errJSON
			}
			name, n, ok := decodeJSONString(p.b[p.i:])
			if !ok {
				return nil, errJSON
			}
			p.i += n
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, errJSON
			}
			p.i++
			p.ws()
			m, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.obj = append(v.obj, member{name: name, val: m})
			p.ws()
			if p.i >= len(p.b) {
				return nil, errJSON
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] != '}' {
				return nil, errJSON
			}
			p.i++
			v.raw = p.b[start:p.i]
			return v, nil
		}
	case c == '[':
		p.i++
		v := &value{kind: kArray}
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			v.raw = p.b[start:p.i]
			return v, nil
		}
		for {
			p.ws()
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, e)
			p.ws()
			if p.i >= len(p.b) {
				return nil, errJSON
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.b[p.i] != ']' {
				return nil, errJSON
			}
			p.i++
			v.raw = p.b[start:p.i]
			return v, nil
		}
	case c == '"':
		s, n, ok := decodeJSONString(p.b[p.i:])
		if !ok {
			return nil, errJSON
		}
		p.i += n
		return &value{kind: kString, str: s, raw: p.b[start:p.i]}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		n := scanNumber(p.b[p.i:])
		if n == 0 {
			return nil, errJSON
		}
		p.i += n
		raw := p.b[start:p.i]
		return &value{kind: kNumber, raw: raw}, nil
	default:
		for _, lit := range [...]struct {
			s string
			k kind
		}{{"true", kTrue}, {"false", kFalse}, {"null", kNull}} {
			if hasPrefix(p.b[p.i:], lit.s) {
				p.i += len(lit.s)
				return &value{kind: lit.k, raw: p.b[start:p.i]}, nil
			}
		}
		return nil, errJSON
	}
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// scanNumber returns the length of the JSON number at the start of b, or 0
// when b does not start with a valid number.
func scanNumber(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0
		}
	}
	return i
}

// decodeJSONString decodes the JSON string starting at b[0] == '"'. It
// returns the decoded text, the number of bytes consumed and whether the
// string is valid (no raw control characters, valid escapes, valid UTF-8;
// lone surrogate escapes decode to U+FFFD as encoding/json does).
func decodeJSONString(b []byte) (string, int, bool) {
	// Fast path: no escapes.
	for i := 1; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			if !utf8.Valid(b[1:i]) {
				return "", 0, false
			}
			return string(b[1:i]), i + 1, true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", 0, false
		}
	}
	out := make([]byte, 0, len(b))
	i := 1
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return "", 0, false
			}
			return string(out), i + 1, true
		case c < 0x20:
			return "", 0, false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		r, n, ok := decodeEscape(b[i:])
		if !ok {
			return "", 0, false
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return "", 0, false
}

// decodeEscape decodes the JSON escape at b[0] == '\\', returning the rune
// and the bytes consumed.
func decodeEscape(b []byte) (rune, int, bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2, true
	case 'b':
		return '\b', 2, true
	case 'f':
		return '\f', 2, true
	case 'n':
		return '\n', 2, true
	case 'r':
		return '\r', 2, true
	case 't':
		return '\t', 2, true
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0, 0, false
		}
		if utf16.IsSurrogate(r) {
			if r < 0xDC00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
				if r2, ok := hex4(b[8:]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					return utf16.DecodeRune(r, r2), 12, true
				}
			}
			return utf8.RuneError, 6, true
		}
		return r, 6, true
	}
	return 0, 0, false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// equalValues is deep equality (RFC 9535 2.3.5.2.2): numbers numerically,
// strings by value, arrays element-wise, objects as sets of members.
func equalValues(a, b *value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kNumber:
		return jsonnum.Equal(a.raw, b.raw)
	case kString:
		return a.str == b.str
	case kArray:
		if len(a.arr) != len(b.arr) {
			return false
		}
		for i := range a.arr {
			if !equalValues(a.arr[i], b.arr[i]) {
				return false
			}
		}
		return true
	case kObject:
		if len(a.obj) != len(b.obj) {
			return false
		}
		for _, m := range a.obj {
			o, _ := b.member(m.name)
			if mine, _ := a.member(m.name); o == nil || !equalValues(mine, o) {
				return false
			}
		}
		for _, m := range b.obj {
			if mine, _ := a.member(m.name); mine == nil {
				return false
			}
		}
		return true
	}
	return true
}

// member returns the value of the last member named name, or nil, and
// whether an earlier member has the same name.
func (v *value) member(name string) (val *value, dup bool) {
	for i := len(v.obj) - 1; i >= 0; i-- {
		if v.obj[i].name == name {
			if val != nil {
				return val, true
			}
			val = v.obj[i].val
		}
	}
	return val, false
}
