package jsonpath

import (
	"errors"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// errIRegexp reports a pattern that is not an I-Regexp (RFC 9485).
var errIRegexp = errors.New("jsonpath: invalid I-Regexp")

// compileIRegexp validates pattern as an I-Regexp (RFC 9485) and compiles
// its translation to Go's RE2 syntax: '.' becomes [^\n\r], literal
// characters are quoted, '^' and '$' anchor at the text start and end, and
// match() anchors the whole pattern.
func compileIRegexp(pattern string, anchored bool) (*regexp.Regexp, error) {
	t := reTranslator{s: pattern}
	var b strings.Builder
	if anchored {
		b.WriteString(`^(?:`)
	}
	if err := t.regexp(&b, 0); err != nil {
		return nil, err
	}
	if t.i != len(t.s) {
		return nil, errIRegexp
	}
	if anchored {
		b.WriteString(`)$`)
	}
	return regexp.Compile(b.String())
}

type reTranslator struct {
	s string
	i int
}

// regexp: branch *( "|" branch ).
func (t *reTranslator) regexp(b *strings.Builder, depth int) error {
	if depth > 64 {
		return errIRegexp
	}
	for {
		if err := t.branch(b, depth); err != nil {
			return err
		}
		if t.i < len(t.s) && t.s[t.i] == '|' {
			t.i++
			b.WriteByte('|')
			continue
		}
		return nil
	}
}

// branch: *piece; piece = atom [quantifier].
func (t *reTranslator) branch(b *strings.Builder, depth int) error {
	for t.i < len(t.s) {
		c := t.s[t.i]
		if c == '|' || c == ')' {
			return nil
		}
		if err := t.atom(b, depth); err != nil {
			return err
		}
		if err := t.quantifier(b); err != nil {
			return err
		}
	}
	return nil
}

func (t *reTranslator) quantifier(b *strings.Builder) error {
	if t.i >= len(t.s) {
		return nil
	}
	switch c := t.s[t.i]; c {
	case '*', '+', '?':
		t.i++
		b.WriteByte(c)
	case '{':
		start := t.i
		t.i++
		if !t.digits() {
			return errIRegexp
		}
		if t.i < len(t.s) && t.s[t.i] == ',' {
			t.i++
			t.digits()
		}
		if t.i >= len(t.s) || t.s[t.i] != '}' {
			return errIRegexp
		}
		t.i++
		b.WriteString(t.s[start:t.i])
	}
	return nil
}

func (t *reTranslator) digits() bool {
	start := t.i
	for t.i < len(t.s) && t.s[t.i] >= '0' && t.s[t.i] <= '9' {
		t.i++
	}
	return t.i > start
}

func (t *reTranslator) atom(b *strings.Builder, depth int) error {
	c := t.s[t.i]
	switch c {
	case '(':
		t.i++
		b.WriteString("(?:")
		if err := t.regexp(b, depth+1); err != nil {
			return err
		}
		if t.i >= len(t.s) || t.s[t.i] != ')' {
			return errIRegexp
		}
		t.i++
		b.WriteByte(')')
		return nil
	case '.':
		t.i++
		b.WriteString(`[^\n\r]`)
		return nil
	case '^', '$':
		// RFC 9485 lists them as ordinary characters, but the compliance
		// suite (and the ECMAScript/PCRE mappings of RFC 9485 section 5)
		// treat them as text anchors; so do we.
		t.i++
		b.WriteByte(c)
		return nil
	case '[':
		return t.class(b)
	case '\\':
		return t.escape(b)
	case ')', '*', '+', '?', ']', '{', '|', '}':
		return errIRegexp
	}
	r, n := utf8.DecodeRuneInString(t.s[t.i:])
	if r == utf8.RuneError && n <= 1 {
		return errIRegexp
	}
	t.i += n
	b.WriteString(regexp.QuoteMeta(string(r)))
	return nil
}

// escape translates SingleCharEsc or a \p{..}/\P{..} category escape.
func (t *reTranslator) escape(b *strings.Builder) error {
	if t.i+1 >= len(t.s) {
		return errIRegexp
	}
	c := t.s[t.i+1]
	switch c {
	case '(', ')', '*', '+', '-', '.', '?', '[', '\\', ']', '^', '{', '|', '}':
		t.i += 2
		b.WriteByte('\\')
		b.WriteByte(c)
		return nil
	case 'n':
		t.i += 2
		b.WriteString(`\n`)
		return nil
	case 'r':
		t.i += 2
		b.WriteString(`\r`)
		return nil
	case 't':
		t.i += 2
		b.WriteString(`\t`)
		return nil
	case 'p', 'P':
		t.i += 2
		if t.i >= len(t.s) || t.s[t.i] != '{' {
			return errIRegexp
		}
		end := strings.IndexByte(t.s[t.i:], '}')
		if end < 0 {
			return errIRegexp
		}
		prop := t.s[t.i+1 : t.i+end]
		t.i += end + 1
		if !validCategory(prop) {
			return errIRegexp
		}
		b.WriteByte('\\')
		b.WriteByte(c)
		b.WriteByte('{')
		b.WriteString(prop)
		b.WriteByte('}')
		return nil
	}
	return errIRegexp
}

// validCategory reports whether prop is an I-Regexp IsCategory that Go's
// regexp also knows (Go lacks Cn, which is therefore rejected).
func validCategory(prop string) bool {
	switch len(prop) {
	case 1:
		if !strings.Contains("LMNPZSC", prop) {
			return false
		}
	case 2:
		sub := map[byte]string{'L': "lmotu", 'M': "cen", 'N': "dlo", 'P': "cdefios", 'Z': "lps", 'S': "ckmo", 'C': "cfno"}[prop[0]]
		if sub == "" || !strings.Contains(sub, prop[1:]) {
			return false
		}
	default:
		return false
	}
	_, ok := unicode.Categories[prop]
	return ok
}

// class translates charClassExpr: "[" ["^"] ("-" / CCE1) *CCE1 ["-"] "]".
func (t *reTranslator) class(b *strings.Builder) error {
	t.i++ // '['
	b.WriteByte('[')
	if t.i < len(t.s) && t.s[t.i] == '^' {
		t.i++
		b.WriteByte('^')
	}
	first := true
	for {
		if t.i >= len(t.s) {
			return errIRegexp
		}
		c := t.s[t.i]
		switch {
		case c == ']' && !first:
			t.i++
			b.WriteByte(']')
			return nil
		case c == '-':
			// Allowed only first or last ("-]").
			if !first && (t.i+1 >= len(t.s) || t.s[t.i+1] != ']') {
				return errIRegexp
			}
			t.i++
			b.WriteString(`\-`)
		case c == '\\' && t.i+1 < len(t.s) && (t.s[t.i+1] == 'p' || t.s[t.i+1] == 'P'):
			if err := t.escape(b); err != nil {
				return err
			}
		default:
			lo, err := t.ccChar(b)
			if err != nil {
				return err
			}
			if t.i+1 < len(t.s) && t.s[t.i] == '-' && t.s[t.i+1] != ']' {
				t.i++
				b.WriteByte('-')
				hi, err := t.ccChar(b)
				if err != nil {
					return err
				}
				if hi < lo {
					return errIRegexp
				}
			}
		}
		first = false
	}
}

// ccChar translates one CCchar and returns its code point.
func (t *reTranslator) ccChar(b *strings.Builder) (rune, error) {
	c := t.s[t.i]
	switch c {
	case '[', ']', '-':
		return 0, errIRegexp
	case '\\':
		if t.i+1 >= len(t.s) {
			return 0, errIRegexp
		}
		e := t.s[t.i+1]
		var r rune
		switch e {
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case '(', ')', '*', '+', '-', '.', '?', '[', '\\', ']', '^', '{', '|', '}':
			r = rune(e)
		default:
			return 0, errIRegexp
		}
		if err := t.escape(b); err != nil {
			return 0, err
		}
		return r, nil
	}
	r, n := utf8.DecodeRuneInString(t.s[t.i:])
	if r == utf8.RuneError && n <= 1 {
		return 0, errIRegexp
	}
	t.i += n
	b.WriteString(regexp.QuoteMeta(string(r)))
	return r, nil
}
