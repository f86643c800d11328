package proxy

import "errors"

// errUnsafePath is the one error normalisePath returns; the request gets
// 400 bad_path and nothing reaches the upstream.
var errUnsafePath = errors.New("proxy: unsafe path")

// normalisePath turns the raw path of a request target into the one path
// that routing, the policy and the upstream all see (DESIGN "normalise"):
//
//   - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are
//     decoded, every other escape is kept with upper-case hex;
//   - encoded '/' or '\' (%2F, %5C), an encoded '%' (%25: double
//     encoding), encoded ';' (%3B) or control characters (%00-%1F, %7F)
//     are refused;
//   - raw backslashes, ';' path parameters, control characters, bytes
//     outside ASCII and characters outside RFC 3986 pchar are refused;
//   - "//" collapses to "/" and "." / ".." segments are resolved (".."
//     never climbs above the root).
//
// raw must start with '/'. The result is appended to dst.
func normalisePath(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst, errUnsafePath
	}
	base := len(dst)
	// seg is the start (in dst) of the segment being written, just after
	// its leading '/'.
	dst = append(dst, '/')
	seg := len(dst)
	i := 1
	for {
		// Read one segment of raw, decoding it into dst.
		for i < len(raw) && raw[i] != '/' {
			c := raw[i]
			switch {
			case c == '%':
				if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
					return dst[:base], errUnsafePath
				}
				d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
				switch {
				case isUnreserved(d):
					dst = append(dst, d)
				case d == '/' || d == '\\' || d == '%' || d == ';' || d < 0x20 || d == 0x7f:
					return dst[:base], errUnsafePath
				default:
					dst = append(dst, '%', upperHex[d>>4], upperHex[d&0xf])
				}
				i += 3
				continue
			case !isPathChar(c):
				return dst[:base], errUnsafePath
			}
			dst = append(dst, c)
			i++
		}
		// Resolve the segment just written: dst[seg:].
		switch string(dst[seg:]) {
		case "":
			// Empty segment ("//" or a trailing '/'): collapse, but keep a
			// trailing slash.
			if i >= len(raw) {
				return dst, nil
			}
			dst = dst[:seg]
		case ".":
			dst = dst[:seg]
			if i >= len(raw) {
				return dst, nil
			}
		case "..":
			// Drop this segment and the previous one.
			dst = dst[:seg-1] // remove "/.."'s slash
			if j := lastSlash(dst[base:]); j >= 0 {
				dst = dst[:base+j]
			}
			dst = append(dst, '/')
			seg = len(dst)
			if i >= len(raw) {
				return dst, nil
			}
			i++ // skip '/'
			continue
		default:
			if i >= len(raw) {
				return dst, nil
			}
			dst = append(dst, '/')
			seg = len(dst)
			i++
			continue
		}
		i++ // skip '/'
	}
}

const upperHex = "0123456789ABCDEF"

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar reports whether c may appear raw in a normalised path segment:
// RFC 3986 pchar minus ';' (path parameters are refused) and '%' (handled
// by the caller).
func isPathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
		return true
	}
	return false
}

// splitSegments appends the non-empty segments of a normalised path.
func splitSegments(dst []string, path string) []string {
	start := 0
	for i := 0; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			if i > start {
				dst = append(dst, path[start:i])
			}
			start = i + 1
		}
	}
	return dst
}
