package policy

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// errSyntax: the text is not exactly one valid JSON document (RFC 8259,
// UTF-8). It never carries the offending text.
var errSyntax = errors.New("policy: body is not valid JSON")

// decodeJSON converts one JSON document into an ast.Value in a single pass,
// rejecting duplicate object keys at any depth (ErrDuplicateKey, compared
// after unescaping) and nesting deeper than maxDepth containers
// (ErrBodyTooDeep). Numbers keep their exact text.
func decodeJSON(data []byte, maxDepth int) (ast.Value, error) {
	d := jsonDecoder{data: data, maxDepth: maxDepth}
	d.skipSpace()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, errSyntax
	}
	return v, nil
}

type jsonDecoder struct {
	data     []byte
	pos      int
	maxDepth int
	scratch  []byte
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes the value at d.pos; depth counts the enclosing containers.
func (d *jsonDecoder) value(depth int) (ast.Value, error) {
	if d.pos >= len(d.data) {
		return nil, errSyntax
	}
	switch c := d.data[d.pos]; c {
	case '{':
		return d.object(depth + 1)
	case '[':
		return d.array(depth + 1)
	case '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case 't':
		return d.literal("true", ast.Boolean(true))
	case 'f':
		return d.literal("false", ast.Boolean(false))
	case 'n':
		return d.literal("null", ast.Null{})
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.number()
		}
		return nil, errSyntax
	}
}

func (d *jsonDecoder) literal(lit string, v ast.Value) (ast.Value, error) {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return nil, errSyntax
	}
	d.pos += len(lit)
	return v, nil
}

func (d *jsonDecoder) object(depth int) (ast.Value, error) {
	if depth > d.maxDepth {
		return nil, ErrBodyTooDeep
	}
	d.pos++ // {
	obj := ast.NewObject()
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return obj, nil
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, errSyntax
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, errSyntax
		}
		d.pos++
		d.skipSpace()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		kt := ast.StringTerm(k)
		if obj.Get(kt) != nil {
			return nil, ErrDuplicateKey
		}
		obj.Insert(kt, ast.NewTerm(v))
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, errSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			return obj, nil
		default:
			return nil, errSyntax
		}
	}
}

func (d *jsonDecoder) array(depth int) (ast.Value, error) {
	if depth > d.maxDepth {
		return nil, ErrBodyTooDeep
	}
	d.pos++ // [
	var elems []*ast.Term
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return ast.NewArray(), nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		elems = append(elems, ast.NewTerm(v))
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, errSyntax
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case ']':
			d.pos++
			return ast.NewArray(elems...), nil
		default:
			return nil, errSyntax
		}
	}
}

// number validates the RFC 8259 number grammar and keeps the exact text.
func (d *jsonDecoder) number() (ast.Value, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
		d.pos++
	case d.pos < len(d.data) && d.data[d.pos] >= '1' && d.data[d.pos] <= '9':
		d.digits()
	default:
		return nil, errSyntax
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if d.digits() == 0 {
			return nil, errSyntax
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return nil, errSyntax
		}
	}
	return ast.Number(d.data[start:d.pos]), nil
}

func (d *jsonDecoder) digits() int {
	n := 0
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
		n++
	}
	return n
}

// str decodes the string starting at the opening quote at d.pos.
func (d *jsonDecoder) str() (string, error) {
	d.pos++ // "
	start := d.pos
	// Fast path: no escapes, ASCII or valid UTF-8.
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.data[start:d.pos]
			d.pos++
			return string(s), nil
		case c == '\\':
			return d.strSlow(start)
		case c < 0x20:
			return "", errSyntax
		case c < utf8.RuneSelf:
			d.pos++
		default:
			r, n := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", errSyntax
			}
			d.pos += n
		}
	}
	return "", errSyntax
}

// strSlow decodes a string with escapes; d.pos is at the first backslash.
func (d *jsonDecoder) strSlow(start int) (string, error) {
	buf := append(d.scratch[:0], d.data[start:d.pos]...)
	defer func() { d.scratch = buf[:0] }()
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return string(buf), nil
		case c == '\\':
			if d.pos+1 >= len(d.data) {
				return "", errSyntax
			}
			e := d.data[d.pos+1]
			d.pos += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
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
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", errSyntax
				}
				if utf16.IsSurrogate(r) {
					// A valid pair is \uD8xx\uDCxx; anything else becomes
					// U+FFFD, as encoding/json does.
					r2 := utf8.RuneError
					if d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
						save := d.pos
						d.pos += 2
						if lo, ok := d.hex4(); ok {
							if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
								r2 = dec
							} else {
								d.pos = save
							}
						} else {
							return "", errSyntax
						}
					}
					r = r2
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", errSyntax
			}
		case c < 0x20:
			return "", errSyntax
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.pos++
		default:
			r, n := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", errSyntax
			}
			buf = append(buf, d.data[d.pos:d.pos+n]...)
			d.pos += n
		}
	}
	return "", errSyntax
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if len(d.data)-d.pos < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(d.data[d.pos:d.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	d.pos += 4
	return rune(v), true
}
