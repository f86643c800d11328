package transforms

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// generalizeAction coarsens a value. Exactly one mode parameter:
//
//   - bucket (number > 0): a number n becomes the string "lo-hi" with
//     lo = floor(n/bucket)*bucket and hi = lo+bucket (hi excluded), printed
//     without exponent (53250 with bucket 10000 -> "50000-60000"). A string
//     holding a JSON number is treated like the number.
//   - date ("year" or "month"): an RFC 3339 date or date-time string
//     ("1984-06-17", "1984-06-17T10:00:00Z") becomes "1984" or "1984-06".
//   - keep_first (integer >= 0): a string becomes its first keep_first
//     characters (code points) followed by "*" ("Lyon" with 1 -> "L*"). A
//     string of keep_first characters or fewer keeps one character less
//     than it has, so it is never passed through ("" -> "*").
//
// Per type: a value of the wrong type for the mode (booleans and null
// always, numbers for date and keep_first, non-numeric strings for bucket)
// or an unparsable date is redacted and counted in Result.Failed. Objects
// and arrays: every scalar leaf inside is generalized as above; a more
// protective rule selecting a node inside still wins for that node.
type generalizeAction struct {
	bucket    float64
	date      int // 4 (year) or 7 (month) characters kept; 0: not date mode
	keepFirst int
}

func compileGeneralize(p *params) (action, error) {
	n := 0
	for _, k := range []string{"bucket", "date", "keep_first"} {
		if p.has(k) {
			n++
		}
	}
	if n != 1 {
		return nil, paramError("exactly one of bucket, date, keep_first is required")
	}
	a := &generalizeAction{keepFirst: -1}
	switch {
	case p.has("bucket"):
		b, _, err := p.number("bucket")
		if err != nil || !(b > 0) || math.IsInf(b, 0) {
			return nil, paramError("bucket must be a number greater than 0")
		}
		a.bucket = b
	case p.has("date"):
		d, _, _ := p.str("date")
		switch d {
		case "year":
			a.date = 4
		case "month":
			a.date = 7
		default:
			return nil, paramError(`date must be "year" or "month"`)
		}
	default:
		k, err := p.intRange("keep_first", 0, 0, 1<<20, "a non-negative integer")
		if err != nil {
			return nil, err
		}
		a.keepFirst = k
	}
	return a, nil
}

func (a *generalizeAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	var s []byte
	isString := raw[0] == '"'
	if isString {
		s, _ = rw.unquote(raw)
	}
	switch {
	case a.bucket > 0:
		num := raw
		if isString {
			if len(s) == 0 || scanNumber(s, 0) != len(s) {
				return dst, false, nil
			}
			num = s
		} else if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return dst, false, nil
		}
		n, err := strconv.ParseFloat(unsafe.String(&num[0], len(num)), 64)
		if err != nil {
			return dst, false, nil
		}
		lo := math.Floor(n/a.bucket) * a.bucket
		hi := lo + a.bucket
		if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) {
			return dst, false, nil
		}
		dst = append(dst, '"')
		dst = strconv.AppendFloat(dst, lo+0, 'f', -1, 64)
		dst = append(dst, '-')
		dst = strconv.AppendFloat(dst, hi, 'f', -1, 64)
		return append(dst, '"'), true, nil
	case a.date > 0:
		if !isString || !validDate(s) {
			return dst, false, nil
		}
		dst = append(dst, '"')
		dst = append(dst, s[:a.date]...)
		return append(dst, '"'), true, nil
	default:
		if !isString {
			return dst, false, nil
		}
		keep := min(a.keepFirst, utf8.RuneCount(s)-1)
		i := 0
		for j := 0; j < keep; j++ {
			_, size := utf8.DecodeRune(s[i:])
			i += size
		}
		dst = append(dst, '"')
		dst = appendEscaped(dst, s[:i])
		return append(dst, '*', '"'), true, nil
	}
}

// validDate reports whether s is an RFC 3339 full-date or date-time.
func validDate(s []byte) bool {
	if len(s) < 10 {
		return false
	}
	str := unsafe.String(&s[0], len(s))
	if len(s) == 10 {
		_, err := time.Parse(time.DateOnly, str)
		return err == nil
	}
	_, err := time.Parse(time.RFC3339Nano, str)
	return err == nil
}
