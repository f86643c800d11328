package proxy

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/veilgw/veil/identity"
)

// A policy's reason, its audit tags and its audit path template are free
// text that reaches the client (the reason) and the audit trail, and Rego
// can build them from anything it was given (sprintf("ssn %s",
// [input.request.body.ssn])). DESIGN "No leaks": each is checked, and one
// that quotes a value of the request the policy saw, or a claim of the
// caller's token, is withheld, never logged.

// minQuoted is the shortest value the check looks for: shorter values
// (a status, "GET", a one-digit id) would match ordinary words.
const minQuoted = 4

const (
	reasonWithheld = "reason withheld: it quotes request data"
	tagWithheld    = "withheld: it quotes request data"
	pathWithheld   = "[withheld: the audit path template quotes request data]"
)

// checkPolicyText puts the decision's reason, audit tags and audit path
// template into the event, each withheld when it quotes request data (see
// quoteScan). The request data is walked once for all of them. The reason
// is checked on the policy's own text, before safeReason cuts or cleans
// it: a cut could leave most of a value, and a cleaned control character
// would no longer match it. The path template is not checked against the
// path's own segments, which it repeats (/crm/customers/{id}). The
// decision's tags map is shared, so it is copied before a value is
// withheld.
func checkPolicyText(x *exchange, reason string, tags map[string]string, path string) {
	var texts, keys [quoteTexts]string
	texts[0], texts[1] = reason, path
	n := 2
	var rest []string // keys of tags beyond one scan
	for k, v := range tags {
		if n < len(texts) {
			texts[n], keys[n] = v, k
			n++
		} else {
			rest = append(rest, k)
		}
	}
	templated := path != ""
	var withSegments uint64
	if templated {
		withSegments = ^uint64(0) &^ 2 // every text but the path
	}
	found := quoted(x, texts[:n], withSegments)
	x.ev.Reason = reason
	if found&1 != 0 {
		x.ev.Reason = reasonWithheld
	}
	x.ev.Reason = safeReason(x.ev.Reason)
	if templated {
		x.ev.Path = path
		if found&2 != 0 {
			x.ev.Path = pathWithheld
		}
	}
	x.ev.Tags = tags
	var copied map[string]string
	for i := 2; i < n; i++ {
		if found&(1<<i) != 0 {
			copied = withheldTag(copied, tags, keys[i])
		}
	}
	for _, k := range rest {
		if quoted(x, []string{tags[k]}, withSegments&1) != 0 {
			copied = withheldTag(copied, tags, k)
		}
	}
	if copied != nil {
		x.ev.Tags = copied
	}
}

// withheldTag returns m, a copy of the decision's shared tags made on
// first use, with tag k withheld.
func withheldTag(m, tags map[string]string, k string) map[string]string {
	if m == nil {
		m = maps.Clone(tags)
	}
	m[k] = tagWithheld
	return m
}

// quoteTexts is how many texts one scan of checkPolicyText checks: the
// reason, the path and the first 14 tags (policies set a few); further
// tags get a scan each. At most 64 (quoted's bits); small, as the arrays
// sit on the request's stack.
const quoteTexts = 16

// quoted returns a bit per text (at most 64 texts) that quotes
// request data: contains a query or header value, a string or number of
// the request body or of the token's custom claims, or — for the texts in
// withSegments — a path segment, of at least minQuoted bytes. The request
// data is walked once, and no further than needed.
func quoted(x *exchange, texts []string, withSegments uint64) uint64 {
	s := quoteScan{texts: texts}
	for i, t := range texts {
		if len(t) >= minQuoted {
			s.want |= 1 << i
		}
	}
	if s.want == 0 {
		return 0
	}
	for _, kv := range x.input.Query {
		if s.check(kv[1], s.want) {
			return s.found
		}
	}
	for _, kv := range x.input.Headers {
		if s.check(kv[1], s.want) {
			return s.found
		}
	}
	if withSegments&s.want != 0 {
		for _, seg := range x.input.Segments {
			if s.check(seg, withSegments) {
				return s.found
			}
		}
	}
	// The token's own claims, but not those the event shows anyway or that
	// describe the token (the subject id, its roles, the registered
	// claims): a reason may well name the caller or a role.
	s.sub = &x.input.Subject
	for k, v := range s.sub.Claims {
		switch k {
		case "iss", "sub", "aud", "exp", "nbf", "iat", "jti":
			continue
		}
		if s.claim(v) {
			return s.found
		}
	}
	if x.bodyState == bodyParsed && len(x.body) > 0 {
		bodyQuoted(x.body, &s)
	}
	return s.found
}

// quoteScan is one scan of request data for texts that quote it.
type quoteScan struct {
	texts       []string
	want, found uint64 // texts long enough to be checked; those found
	sub         *identity.Subject
	num         [32]byte // a number claim's text
}

// check marks the texts in mask that contain v; true once every text
// checked is found.
func (s *quoteScan) check(v string, mask uint64) bool {
	if len(v) >= minQuoted {
		for i, t := range s.texts {
			if bit := uint64(1) << i; mask&s.want&^s.found&bit != 0 && strings.Contains(t, v) {
				s.found |= bit
			}
		}
	}
	return s.found == s.want
}

// claim walks a claim's value (decoded JSON) for quoted strings and
// numbers, skipping the subject id and roles.
func (s *quoteScan) claim(v any) bool {
	switch t := v.(type) {
	case string:
		return s.claimText(t)
	case json.Number:
		return s.claimText(string(t))
	case float64:
		n := strconv.AppendFloat(s.num[:0], t, 'f', -1, 64)
		return s.claimText(unsafe.String(&n[0], len(n))) // used before num changes
	case map[string]any:
		for _, c := range t {
			if s.claim(c) {
				return true
			}
		}
	case []any:
		for _, c := range t {
			if s.claim(c) {
				return true
			}
		}
	}
	return false
}

func (s *quoteScan) claimText(v string) bool {
	if v == s.sub.ID || slices.Contains(s.sub.Roles, v) {
		return false
	}
	return s.check(v, s.want)
}

// bodyQuoted walks the JSON body's string and number values (not its
// keys: field names are not data) through s, until every text is found.
// It runs only for a request whose policy read the body and whose decision
// has policy text to check (a reason, tags, a path template).
func bodyQuoted(body []byte, s *quoteScan) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var inObject []bool // per open container: is it an object
	expectKey := false
	value := func() {
		if n := len(inObject); n > 0 && inObject[n-1] {
			expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				inObject = append(inObject, true)
				expectKey = true
			case '[':
				inObject = append(inObject, false)
				expectKey = false
			default:
				inObject = inObject[:len(inObject)-1]
				value()
			}
		case string:
			if expectKey {
				expectKey = false
				continue
			}
			if s.check(v, s.want) {
				return true
			}
			value()
		case json.Number:
			if s.check(v.String(), s.want) {
				return true
			}
			value()
		default:
			value()
		}
	}
}
