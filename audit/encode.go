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
func appendEvent(dst []byte, e *Event) []byte { return appendEventTimes(dst, e, nil) }

// appendEventTimes is appendEvent with the event time formatted through
// times (nil: by time.AppendFormat).
func appendEventTimes(dst []byte, e *Event, times *timeCache) []byte {
	dst = append(dst, `{"time":"`...)
	dst = times.appendTime(dst, e.Time)
	dst = append(dst, '"')
	if e.ChainID != "" {
		dst = append(dst, `,"chain_id":`...)
		dst = appendString(dst, e.ChainID)
		dst = append(dst, `,"seq":`...)
		dst = appendUint(dst, e.Seq)
		// prev_hash is the chain's own hex digest (or empty): nothing to
		// escape.
		dst = append(dst, `,"prev_hash":"`...)
		dst = append(dst, e.prevHash...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"request_id":`...)
	dst = appendString(dst, e.RequestID)
	if e.DecisionID != "" {
		dst = append(dst, `,"decision_id":`...)
		dst = appendString(dst, e.DecisionID)
	}
	dst = append(dst, `,"route":`...)
	dst = appendString(dst, e.Route)
	dst = append(dst, `,"method":`...)
	dst = appendString(dst, e.Method)
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, e.Path)
	dst = append(dst, `,"status":`...)
	dst = appendInt(dst, int64(e.Status))
	dst = append(dst, `,"allowed":`...)
	dst = strconv.AppendBool(dst, e.Allowed)
	if e.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, e.Reason)
	}
	if e.ErrorCode != "" {
		dst = append(dst, `,"error_code":`...)
		dst = appendString(dst, e.ErrorCode)
	}
	dst = append(dst, `,"subject":{"id":`...)
	dst = appendString(dst, e.SubjectID)
	dst = append(dst, `,"roles":`...)
	dst = appendStrings(dst, e.SubjectRoles)
	if e.SubjectMethod != "" {
		dst = append(dst, `,"method":`...)
		dst = appendString(dst, e.SubjectMethod)
	}
	dst = append(dst, '}')
	dst = append(dst, `,"client_ip":`...)
	dst = appendString(dst, e.ClientIP)
	dst = append(dst, `,"policy_revision":`...)
	dst = appendString(dst, e.PolicyRevision)
	dst = append(dst, `,"transforms":[`...)
	for i := range e.Transforms {
		t := &e.Transforms[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if t.Head != nil {
			dst = append(dst, t.Head...)
		} else {
			dst = appendTransformHead(dst, t.Direction, t.Path, t.Action)
		}
		dst = appendInt(dst, int64(t.Count))
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = append(dst, `,"failed_values":`...)
	dst = appendInt(dst, int64(e.FailedValues))
	dst = append(dst, `,"record_ids":`...)
	dst, n := appendRecordIDs(dst, e.RecordIDs)
	if e.RecordIDsCut || n < len(e.RecordIDs) {
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
	dst = append(dst, `,"bytes_in":`...)
	dst = appendInt(dst, e.BytesIn)
	dst = append(dst, `,"bytes_out":`...)
	dst = appendInt(dst, e.BytesOut)
	dst = append(dst, `,"duration_us":`...)
	dst = appendInt(dst, e.Duration.Microseconds())
	dst = append(dst, `,"upstream_status":`...)
	dst = appendInt(dst, int64(e.UpstreamStatus))
	return append(dst, '}')
}

// timeCache keeps the date and time of day of the second the last event
// was logged in: RFC 3339 with nanoseconds needs them formatted once per
// second, then only the fraction changes (time.AppendFormat goes through
// the calendar for every event).
type timeCache struct {
	sec    int64  // Unix seconds of prefix
	offset int    // the zone offset prefix and zone were made for
	prefix []byte // "2006-01-02T15:04:05"
	zone   []byte // "Z07:00": "Z" or "±hh:mm"
}

// appendTime appends t as t.AppendFormat(dst, time.RFC3339Nano) does.
func (c *timeCache) appendTime(dst []byte, t time.Time) []byte {
	if c == nil {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	// The wall clock, hence the prefix, is a function of the instant's
	// second and the zone's offset; the zone's text of the offset.
	_, offset := t.Zone()
	if sec := t.Unix(); sec != c.sec || offset != c.offset || c.prefix == nil {
		c.prefix = t.AppendFormat(c.prefix[:0], "2006-01-02T15:04:05")
		c.zone = t.AppendFormat(c.zone[:0], "Z07:00")
		c.sec, c.offset = sec, offset
	}
	dst = append(dst, c.prefix...)
	if ns := t.Nanosecond(); ns != 0 {
		// ".999999999": nine digits, trailing zeros dropped.
		var b [10]byte
		b[0] = '.'
		for i := 9; i > 0; i-- {
			b[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(b)
		for b[n-1] == '0' {
			n--
		}
		dst = append(dst, b[:n]...)
	}
	return append(dst, c.zone...)
}

// TransformHead is a transform count's encoding up to its count
// ({"direction":…,"path":…,"action":…,"count":), for TransformCount.Head.
func TransformHead(direction, path, action string) []byte {
	return appendTransformHead(nil, direction, path, action)
}

func appendTransformHead(dst []byte, direction, path, action string) []byte {
	dst = append(dst, `{"direction":`...)
	dst = appendString(dst, direction)
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, path)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, action)
	return append(dst, `,"count":`...)
}

// digits2 holds the two digits of 0 to 99.
const digits2 = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendInt is strconv.AppendInt(dst, v, 10): an event has a dozen
// integers of a few digits, for which strconv's general path (two calls
// deep, any base) costs more than the digits themselves.
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return strconv.AppendInt(dst, v, 10)
	}
	return appendUint(dst, uint64(v))
}

// appendUint is strconv.AppendUint(dst, v, 10), likewise: two digits
// per division.
func appendUint(dst []byte, v uint64) []byte {
	if v < 10 {
		return append(dst, byte('0'+v))
	}
	var b [20]byte
	i := len(b)
	for v >= 100 {
		q := v / 100
		r := v - 100*q
		i -= 2
		b[i], b[i+1] = digits2[2*r], digits2[2*r+1]
		v = q
	}
	if v >= 10 {
		i -= 2
		b[i], b[i+1] = digits2[2*v], digits2[2*v+1]
	} else {
		i--
		b[i] = byte('0' + v)
	}
	return append(dst, b[i:]...)
}

// recordIDsMaxBytes bounds an event's encoded record_ids array: the ids
// from the first that would take it past this are left out, as those
// beyond record_ids_max are, and record_ids_truncated is set. A record id
// is the JSON text of a response value, as large as the value, and an
// event has up to record_ids_max of them; the other fields come from the
// request line and headers (bounded by the server) and from the policy.
// So an event stays far below what the trail's readers accept (maxLine)
// and what a sink takes as one record (Kafka's default 1 MB message).
const recordIDsMaxBytes = 64 << 10

// appendRecordIDs appends ids as a JSON array (appendStrings) of at most
// recordIDsMaxBytes and returns how many ids it holds: a prefix of ids.
func appendRecordIDs(dst []byte, ids []string) ([]byte, int) {
	start := len(dst)
	dst = append(dst, '[')
	for i, id := range ids {
		mark := len(dst)
		// At least the id, its quotes, a comma after the first and the
		// closing bracket: an id that cannot fit is not encoded to find out.
		need := len(id) + 3
		if i > 0 {
			need++
		}
		if mark-start+need > recordIDsMaxBytes {
			return append(dst[:mark], ']'), i
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, id)
		if len(dst)-start+1 > recordIDsMaxBytes {
			return append(dst[:mark], ']'), i
		}
	}
	return append(dst, ']'), len(ids)
}

// recordIDsFit returns how many of ids appendRecordIDs writes (for the
// zap encoding, MarshalLogObject).
func recordIDsFit(ids []string) int {
	_, n := appendRecordIDs(nil, ids)
	return n
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
//
// Most strings of an event need no escaping at all: verbatimString tells
// so a word at a time, and they are copied as they are. A record id is a
// JSON literal of its own, commonly a string ("c-1", quotes included):
// when only its two quotes need escaping, they are written as constants
// around the copied inside. Everything else goes through appendEscaped.
// TestAppendStringFastPaths holds every path to appendEscaped's output.
func appendString(dst []byte, s string) []byte {
	if n := len(s); n >= 2 && s[0] == '"' && s[n-1] == '"' {
		// Not verbatim (it has quotes): a literal with a plain inside?
		if in := s[1 : n-1]; verbatimString(in) {
			dst = append(dst, `"\"`...)
			dst = append(dst, in...)
			return append(dst, `\""`...)
		}
	} else if verbatimString(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// verbatimString reports whether appendEscaped copies s unchanged:
// whether s is printable ASCII without '"' and '\\'. swar.Special flags a
// word iff one of its bytes is special (the lowest flag is exact), so the
// words may overlap and repeat bytes, and may be padded with printable ones:
// a string of 8 bytes or more is tested as its 8-byte words plus its
// last 8 bytes, a shorter one as one word made of its first and last 4
// bytes (4 to 7 bytes) or of its first, middle and last byte padded with
// spaces (1 to 3).
func verbatimString(s string) bool {
	n := len(s)
	switch {
	case n >= 8:
		for i := 0; i+8 <= n; i += 8 {
			if swar.Special(load64(s[i:])) != 0 {
				return false
			}
		}
		return swar.Special(load64(s[n-8:])) == 0
	case n >= 4:
		return swar.Special(uint64(load32(s))|uint64(load32(s[n-4:]))<<32) == 0
	case n > 0:
		x := uint64(s[0]) | uint64(s[n>>1])<<8 | uint64(s[n-1])<<16 | 0x2020202020<<24
		return swar.Special(x) == 0
	}
	return true
}

// load64 is the little-endian word of s's first 8 bytes.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// load32 is the little-endian word of s's first 4 bytes.
func load32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func appendEscaped(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	start, i := 0, 0
	for {
		// Skip the bytes copied verbatim: most strings of an event need
		// no escaping at all, so 8 bytes per step while 8 are left.
		for ; i+8 <= len(s); i += 8 {
			if m := swar.Special(load64(s[i:])); m != 0 {
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
