package transforms

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/veilgw/veil/internal/swar"
)

// maskAction replaces characters by a mask character.
//
// Parameters: char (one character, default "*"), keep_first and keep_last
// (characters left as they are at each end, default 0), ignore (characters
// always left as they are, e.g. "-@. "), format ("email": only the local
// part, before the last "@", is masked and "@domain" is kept). Counts are
// in Unicode code points. The result always has as many characters as the
// original.
//
// Per type:
//   - string: characters masked; a string not longer than keep_first +
//     keep_last is masked entirely (it is never passed through); with
//     format email, a string without "@" is masked entirely.
//   - number: its JSON text is masked like a string and the result is a
//     string (12345 with keep_last 2 -> "***45").
//   - boolean, null: become a string of four mask characters ("****"), so
//     neither the value nor its presence as true/false/null leaks.
//   - object, array: every scalar leaf inside is masked as above; a more
//     protective rule selecting a node inside still wins for that node.
type maskAction struct {
	char      rune
	keepFirst int
	keepLast  int
	ignore    string
	email     bool
	plainChar byte   // char when it is ASCII and needs no escaping, else 0
	fill      string // plainChar repeated 64 times, copied in bulk by the ASCII paths
}

func compileMask(p *params) (action, error) {
	a := &maskAction{char: '*'}
	if c, ok, err := p.str("char"); ok {
		if err != nil || utf8.RuneCountInString(c) != 1 || (c == string(utf8.RuneError)) {
			return nil, paramError("char must be a string of exactly one character")
		}
		a.char, _ = utf8.DecodeRuneInString(c)
	}
	if a.char >= 0x20 && a.char < 0x80 && a.char != '"' && a.char != '\\' {
		a.plainChar = byte(a.char)
		a.fill = strings.Repeat(string(a.char), 64)
	}
	var err error
	if a.keepFirst, err = p.intRange("keep_first", 0, 0, 1<<20, "a non-negative integer"); err != nil {
		return nil, err
	}
	if a.keepLast, err = p.intRange("keep_last", 0, 0, 1<<20, "a non-negative integer"); err != nil {
		return nil, err
	}
	ign, ok, err := p.str("ignore")
	if err != nil || (ok && !utf8.ValidString(ign)) {
		return nil, paramError("ignore must be a string of characters")
	}
	a.ignore = ign
	if f, ok, err := p.str("format"); ok {
		if err != nil || f != "email" {
			return nil, paramError(`format must be "email"`)
		}
		a.email = true
	}
	return a, nil
}

func (a *maskAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	switch raw[0] {
	case '"':
		if a.plain(rw, raw) {
			return a.appendPlain(dst, raw), true, nil
		}
		s, verbatim := rw.unquote(raw)
		dst = append(dst, '"')
		if a.email {
			if at := bytes.LastIndexByte(s, '@'); at >= 0 {
				dst = a.appendMasked(dst, s[:at], verbatim)
				dst = appendEscapedIf(dst, s[at:], !verbatim)
				return append(dst, '"'), true, nil
			}
			dst = a.appendAll(dst, s)
			return append(dst, '"'), true, nil
		}
		dst = a.appendMasked(dst, s, verbatim)
		return append(dst, '"'), true, nil
	case 't', 'f', 'n':
		dst = append(dst, '"')
		for range 4 {
			dst = appendEscRune(dst, a.char)
		}
		return append(dst, '"'), true, nil
	default: // number: its text needs no escaping
		dst = append(dst, '"')
		dst = a.appendMasked(dst, raw, true)
		return append(dst, '"'), true, nil
	}
}

// plain reports whether the string literal lit, which decide handed to
// the running action (rw.litEsc and litASCII describe it), takes the fast
// path of apply: no escapes, an ASCII mask character needing no escaping,
// no ignore set, the common configuration, and an ASCII content (one byte
// per character).
func (a *maskAction) plain(rw *rewriter, lit []byte) bool {
	return lit[0] == '"' && !rw.litEsc && a.plainChar != 0 && a.ignore == "" && (rw.litASCII || isASCII(lit))
}

// appendPlain is the fast path of apply for a plain literal lit (see
// plain): the result is lit itself with one span of bytes replaced by the
// mask character, built with two copies and one fill.
func (a *maskAction) appendPlain(dst, lit []byte) []byte {
	lo, hi := a.plainSpan(lit)
	return append(a.appendFill(append(dst, lit[:lo]...), hi-lo), lit[hi:]...)
}

// plainSpan returns the span [lo, hi) of the ASCII string literal lit
// (offsets in lit, quotes included) that the plain configuration (see
// appendPlain) overwrites with the mask character.
func (a *maskAction) plainSpan(lit []byte) (lo, hi int) {
	// part is what the keep counts apply to: the content, or with format
	// email its local part, before the last '@' (the content is masked
	// entirely when it has no '@').
	part, all := len(lit)-2, false
	if a.email {
		at := bytes.LastIndexByte(lit[1:len(lit)-1], '@')
		part, all = at, at < 0
		if all {
			part = len(lit) - 2
		}
	}
	lo, hi = 0, part // masked span of the content
	if !all && part > a.keepFirst+a.keepLast {
		lo, hi = a.keepFirst, part-a.keepLast
	}
	return 1 + lo, 1 + hi
}

// maskInPlace is appendPlain applied by the rewriter to the string
// literal src[i:end] without copying it: only the bytes before the masked
// span are flushed to the output and the span filled there, the rest of
// the literal staying in the source until the next bulk copy. It reports
// false, writing nothing, when the literal is not plain (apply handles
// it). The output must be ready for the value (no comma before it left to
// drop).
func (a *maskAction) maskInPlace(rw *rewriter, i, end int) bool {
	lit := rw.src[i:end]
	if !a.plain(rw, lit) {
		return false
	}
	lo, hi := a.plainSpan(lit)
	rw.dst = a.appendFill(append(rw.dst, rw.src[rw.flushed:i+lo]...), hi-lo)
	rw.flushed, rw.changed = i+hi, true
	return true
}

// appendFill appends n mask characters (plainChar) in bulk copies.
func (a *maskAction) appendFill(dst []byte, n int) []byte {
	for n > 0 {
		k := min(n, len(a.fill))
		dst = append(dst, a.fill[:k]...)
		n -= k
	}
	return dst
}

// isASCII reports whether b holds only ASCII bytes, eight at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&swar.Hi != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// appendMasked appends s (valid UTF-8) masked, escaped for a JSON string.
// verbatim: s needs no escaping (see rewriter.unquote).
func (a *maskAction) appendMasked(dst, s []byte, verbatim bool) []byte {
	n := utf8.RuneCount(s)
	kf, kl := a.keepFirst, a.keepLast
	if n <= kf+kl {
		return a.appendAll(dst, s)
	}
	if a.plainChar != 0 && a.ignore == "" && n == len(s) {
		// ASCII fast path: bulk copies.
		dst = appendEscapedIf(dst, s[:kf], !verbatim)
		dst = a.appendFill(dst, n-kf-kl)
		return appendEscapedIf(dst, s[n-kl:], !verbatim)
	}
	i := 0
	for _, r := range string(s) { // no allocation: range over conversion
		if i < kf || i >= n-kl || (a.ignore != "" && strings.ContainsRune(a.ignore, r)) {
			dst = appendEscRune(dst, r)
		} else {
			dst = appendEscRune(dst, a.char)
		}
		i++
	}
	return dst
}

// appendEscapedIf appends s escaped when escape is set, else as is (the
// caller knows s needs no escaping).
func appendEscapedIf(dst, s []byte, escape bool) []byte {
	if escape {
		return appendEscaped(dst, s)
	}
	return append(dst, s...)
}

// appendAll masks every character except the ignored ones.
func (a *maskAction) appendAll(dst, s []byte) []byte {
	for _, r := range string(s) {
		if a.ignore != "" && strings.ContainsRune(a.ignore, r) {
			dst = appendEscRune(dst, r)
		} else {
			dst = appendEscRune(dst, a.char)
		}
	}
	return dst
}

// appendEscRune appends r escaped for the inside of a JSON string.
func appendEscRune(dst []byte, r rune) []byte {
	if r < 0x80 {
		c := byte(r)
		if c >= 0x20 && c != '"' && c != '\\' {
			return append(dst, c)
		}
		return appendEscaped(dst, []byte{c})
	}
	return utf8.AppendRune(dst, r)
}
