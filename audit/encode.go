package audit

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
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
		dst = strconv.AppendUint(dst, e.Seq, 10)
		dst = appendKey(dst, "prev_hash")
		dst = appendBytesString(dst, e.prevHash)
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
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
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
		dst = strconv.AppendInt(dst, int64(t.Count), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = appendKey(dst, "failed_values")
	dst = strconv.AppendInt(dst, int64(e.FailedValues), 10)
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
	dst = strconv.AppendInt(dst, e.BytesIn, 10)
	dst = appendKey(dst, "bytes_out")
	dst = strconv.AppendInt(dst, e.BytesOut, 10)
	dst = appendKey(dst, "duration_us")
	dst = strconv.AppendInt(dst, e.Duration.Microseconds(), 10)
	dst = appendKey(dst, "upstream_status")
	dst = strconv.AppendInt(dst, int64(e.UpstreamStatus), 10)
	return append(dst, '}')
}

func appendKey(dst []byte, k string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
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

func appendBytesString(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, b)
	return append(dst, '"')
}

// appendString appends s as a JSON string with zap's escaping: '"' and
// '\\' escaped, \n \r \t, other control characters as \u00XX, invalid
// UTF-8 as \ufffd, everything else verbatim.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

func appendEscaped[S ~string | ~[]byte](dst []byte, s S) []byte {
	const hexd = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			var r rune
			var size int
			switch v := any(s).(type) {
			case string:
				r, size = utf8.DecodeRuneInString(v[i:])
			case []byte:
				r, size = utf8.DecodeRune(v[i:])
			}
			if r != utf8.RuneError || size != 1 {
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
	return append(dst, s[start:]...)
}
