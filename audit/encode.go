package audit

import (
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/veilgw/veil/internal/swar"
)

// appendEvent appends e's JSON line (without the hash member and without
// the newline: the chain seals it) in the schema order of
// MarshalLogObject, byte for byte what the zap JSON encoder writes for it
// (TestAppendEventMatchesZap), at a fraction of the cost: the event is
// encoded on every request's path. Tags are written in sorted key order.
func appendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, `{"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if e.ChainID != "" {
		dst = appendKey(dst, "chain_id")
		dst = appendString(dst, e.ChainID)
		dst = appendKey(dst, "seq")
		dst = appendUint(dst, e.Seq)
		// prev_hash is the chain's own hex digest (or empty): nothing to
		// escape.
		dst = append(dst, `,"prev_hash":"`...)
		dst = append(dst, e.prevHash...)
		dst = append(dst, '"')
	}
	dst = appendKey(dst, "request_id")
	dst = appendString(dst, e.RequestID)
	if e.DecisionID != "" {
		dst = appendKey(dst, "decision_id")
		dst = appendString(dst, e.DecisionID)
	}
	dst = appendKey(dst, "route")
	dst = appendString(dst, e.Route)
	dst = appendKey(dst, "method")
	dst = appendString(dst, e.Method)
	dst = appendKey(dst, "path")
	dst = appendString(dst, e.Path)
	dst = appendKey(dst, "status")
	dst = appendInt(dst, int64(e.Status))
	dst = appendKey(dst, "allowed")
	dst = strconv.AppendBool(dst, e.Allowed)
	if e.Reason != "" {
		dst = appendKey(dst, "reason")
		dst = appendString(dst, e.Reason)
	}
	if e.ErrorCode != "" {
		dst = appendKey(dst, "error_code")
		dst = appendString(dst, e.ErrorCode)
	}
	dst = append(dst, `,"subject":{"id":`...)
	dst = appendString(dst, e.SubjectID)
	dst = append(dst, `,"roles":`...)
	dst = appendStrings(dst, e.SubjectRoles)
	if e.SubjectMethod != "" {
		dst = appendKey(dst, "method")
		dst = appendString(dst, e.SubjectMethod)
	}
	dst = append(dst, '}')
	dst = appendKey(dst, "client_ip")
	dst = appendString(dst, e.ClientIP)
	dst = appendKey(dst, "policy_revision")
	dst = appendString(dst, e.PolicyRevision)
	dst = append(dst, `,"transforms":[`...)
	for i := range e.Transforms {
		t := &e.Transforms[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"direction":`...)
		dst = appendString(dst, t.Direction)
		dst = appendKey(dst, "path")
		dst = appendString(dst, t.Path)
		dst = appendKey(dst, "action")
		dst = appendString(dst, t.Action)
		dst = appendKey(dst, "count")
		dst = appendInt(dst, int64(t.Count))
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = appendKey(dst, "failed_values")
	dst = appendInt(dst, int64(e.FailedValues))
	dst = append(dst, `,"record_ids":`...)
	dst = appendStrings(dst, e.RecordIDs)
	if e.RecordIDsCut {
		dst = append(dst, `,"record_ids_truncated":true`...)
	}
	if len(e.Tags) > 0 {
		dst = append(dst, `,"tags":{`...)
		var buf [8]string
		keys := buf[:0]
		for k := range e.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, e.Tags[k])
		}
		dst = append(dst, '}')
	}
	dst = appendKey(dst, "bytes_in")
	dst = appendInt(dst, e.BytesIn)
	dst = appendKey(dst, "bytes_out")
	dst = appendInt(dst, e.BytesOut)
	dst = appendKey(dst, "duration_us")
	dst = appendInt(dst, e.Duration.Microseconds())
	dst = appendKey(dst, "upstream_status")
	dst = appendInt(dst, int64(e.UpstreamStatus))
	return append(dst, '}')
}

func appendKey(dst []byte, k string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

// appendInt is strconv.AppendInt(dst, v, 10): an event has a dozen
// integers of a few digits, for which strconv's general path (two calls
// deep, any base) costs more than the digits themselves.
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return strconv.AppendInt(dst, v, 10)
	}
	return appendUint(dst, uint64(v))
}

// appendUint is strconv.AppendUint(dst, v, 10), likewise.
func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b) - 1
	for ; v >= 10; v /= 10 {
		b[i] = byte('0' + v%10)
		i--
	}
	b[i] = byte('0' + v)
	return append(dst, b[i:]...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string with zap's escaping: '"' and
// '\\' escaped, \n \r \t, other control characters as \u00XX, invalid
// UTF-8 as \ufffd, everything else verbatim.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

func appendEscaped(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	start, i := 0, 0
	for {
		// Skip the bytes copied verbatim: most strings of an event need
		// no escaping at all, so 8 bytes per step while 8 are left. Inline
		// rather than a function: an event has a few dozen strings.
		for ; i+8 <= len(s); i += 8 {
			w := s[i : i+8]
			x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
				uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
			if m := swar.Special(x); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		for i < len(s) && verbatim[s[i]] {
			i++
		}
		if i == len(s) {
			return append(dst, s[start:]...)
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		}
		i++
		start = i
	}
}

// verbatim is appendEscaped's per-byte test: the bytes copied verbatim.
var verbatim = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
