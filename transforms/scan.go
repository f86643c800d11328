package transforms

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/veilgw/veil/internal/swar"
)

// This file holds the strict RFC 8259 scanner primitives shared by the
// rewriter and the condition evaluator. Every function takes the document
// and a position and returns the position after the construct, or -1 when
// the bytes are not valid JSON. None allocates.

// isWS reports JSON insignificant whitespace.
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipWS returns the first position at or after i that is not whitespace.
func skipWS(s []byte, i int) int {
	for i < len(s) {
		if c := s[i]; c > ' ' || !isWS(c) {
			return i
		}
		i++
	}
	return i
}

// scanString scans the string starting at s[i] == '"'. It returns the
// position after the closing quote and whether the string holds escapes,
// or -1 if the string is invalid (control character, bad escape, lone
// surrogate, invalid UTF-8, unterminated).
func scanString(s []byte, i int) (end int, escaped bool) {
	end, flags := scanStringFlags(s, i)
	return end, flags&strEscaped != 0
}

// Flags of scanStringFlags.
const (
	strEscaped  = 1 << iota // the string holds escapes
	strNonASCII             // the string holds non-ASCII bytes (literally)
)

// scanStringFlags is scanString reporting also whether the string holds
// non-ASCII bytes (found for free: the word scan stops at them).
func scanStringFlags(s []byte, i int) (end int, flags uint8) {
	i++ // opening quote
	for {
		// Skip runs of ordinary ASCII bytes eight at a time.
		for i+8 <= len(s) {
			// s[i:i+8:i+8], not s[i:]: a slice of nonzero capacity needs no
			// masking of its offset, which would lengthen the chain of
			// dependent instructions from one string to the next.
			x := binary.LittleEndian.Uint64(s[i : i+8 : i+8])
			if t := swar.Special(x); t != 0 {
				n := bits.TrailingZeros64(t) // 8k+7 for the first special byte k
				i += n >> 3
				// The usual stop, the closing quote, is read from x rather
				// than reloaded from s[i] (a shorter dependency chain).
				if byte(x>>(n&^7)) == '"' {
					return i + 1, flags
				}
				break
			}
			i += 8
		}
		if i >= len(s) {
			return -1, 0
		}
		c := s[i]
		switch {
		case c == '"':
			return i + 1, flags
		case c == '\\':
			flags |= strEscaped
			n := scanEscape(s, i)
			if n < 0 {
				return -1, 0
			}
			i = n
		case c < 0x20:
			return -1, 0
		case c < 0x80:
			i++
		default:
			flags |= strNonASCII
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size <= 1 {
				return -1, 0
			}
			i += size
		}
	}
}

// scanEscape validates the escape sequence at s[i] == '\\' and returns the
// position after it. A \u escape of a UTF-16 surrogate must be a high
// surrogate immediately followed by an escaped low surrogate: lone
// surrogates are rejected (they cannot be represented in UTF-8, and a key
// holding one could otherwise be matched inconsistently).
func scanEscape(s []byte, i int) int {
	if i+1 >= len(s) {
		return -1
	}
	switch s[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return -1
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if i+7 >= len(s) || s[i+6] != '\\' || s[i+7] != 'u' {
				return -1
			}
			r2, ok := hex4(s, i+8)
			if !ok || r2 < 0xDC00 || r2 >= 0xE000 {
				return -1
			}
			return i + 12
		case r >= 0xDC00 && r < 0xE000:
			return -1
		}
		return i + 6
	}
	return -1
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// unquote returns the decoded content of the string literal lit, the
// value decide handed to the running action (its escapes are known from
// rw.litEsc): lit's own bytes when it holds no escape, else a decoded copy
// in rw.tmp. verbatim reports the first case: the content of a valid
// literal without escapes holds no '"', '\\' or control character, so it
// and every part of it are already escaped for the inside of a JSON string
// (appendEscaped would copy them unchanged).
func (rw *rewriter) unquote(lit []byte) (s []byte, verbatim bool) {
	if !rw.litEsc {
		return lit[1 : len(lit)-1], true
	}
	rw.tmp = appendUnescaped(rw.tmp[:0], lit)
	return rw.tmp, false
}

// appendUnescaped appends the decoded content of the valid string literal
// lit (quotes included) to dst.
func appendUnescaped(dst, lit []byte) []byte {
	lit = lit[1 : len(lit)-1]
	for i := 0; i < len(lit); {
		c := lit[i]
		if c != '\\' {
			j := i + 1
			for j < len(lit) && lit[j] != '\\' {
				j++
			}
			dst = append(dst, lit[i:j]...)
			i = j
			continue
		}
		switch lit[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(lit, i+2)
			if r >= 0xD800 && r < 0xDC00 {
				r2, _ := hex4(lit, i+8)
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, lit[i+1])
		}
		i += 2
	}
	return dst
}

// appendQuoted appends s as a JSON string literal with the canonical,
// minimal escaping: '"' and '\\' escaped, control characters as \b \f \n
// \r \t or \u00XX, everything else (including non-ASCII) verbatim. s must
// be valid UTF-8.
func appendQuoted(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends s (valid UTF-8) escaped for the inside of a JSON
// string, with the escaping of appendQuoted.
func appendEscaped(dst []byte, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hexd = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// scanNumber scans a strict JSON number at s[i]; -1 if invalid.
func scanNumber(s []byte, i int) int {
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return -1
	}
	switch c := s[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return -1
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return -1
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i
}

// scanLiteral scans true, false or null at s[i]; -1 if invalid.
func scanLiteral(s []byte, i int, lit string) int {
	if len(s)-i < len(lit) || string(s[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// skipValue validates the value starting at s[i] (no leading whitespace)
// and returns the position after it: -1 invalid JSON, -2 too deep. depth
// is the nesting depth of the value's container children.
func skipValue(s []byte, i, depth, maxDepth int) int {
	if i >= len(s) {
		return -1
	}
	switch c := s[i]; c {
	case '"':
		end, _ := scanString(s, i)
		return end
	case '{', '[':
		if depth >= maxDepth {
			return -2
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == closer {
			return i + 1
		}
		for {
			if c == '{' {
				if i >= len(s) || s[i] != '"' {
					return -1
				}
				if i, _ = scanString(s, i); i < 0 {
					return -1
				}
				i = skipWS(s, i)
				if i >= len(s) || s[i] != ':' {
					return -1
				}
				i = skipWS(s, i+1)
			}
			// Strings (most values) are scanned here rather than through a
			// recursive call.
			if i < len(s) && s[i] == '"' {
				i, _ = scanString(s, i)
			} else {
				i = skipValue(s, i, depth+1, maxDepth)
			}
			if i < 0 {
				return i
			}
			i = skipWS(s, i)
			if i >= len(s) {
				return -1
			}
			if s[i] == closer {
				return i + 1
			}
			if s[i] != ',' {
				return -1
			}
			i = skipWS(s, i+1)
		}
	case 't':
		return scanLiteral(s, i, "true")
	case 'f':
		return scanLiteral(s, i, "false")
	case 'n':
		return scanLiteral(s, i, "null")
	default:
		return scanNumber(s, i)
	}
}
