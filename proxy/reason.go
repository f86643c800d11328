package proxy

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
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

// checkedReason returns reason, or reasonWithheld when it quotes request
// data (quotesRequestData). It runs on the policy's own text, before
// safeReason cuts or cleans it: a cut could leave most of a value, and a
// cleaned control character would no longer match it.
func checkedReason(reason string, x *exchange, templated bool) string {
	if quotesRequestData(reason, x, templated) {
		return reasonWithheld
	}
	return reason
}

// checkedAudit checks the decision's audit tags and path template as the
// reason is, into the event: a tag value that quotes request data is
// withheld (the decision's map is shared, so it is copied first), and so is
// such a path template.
func checkedAudit(x *exchange, tags map[string]string, path string) {
	x.ev.Tags = tags
	copied := false
	for k, v := range tags {
		if !quotesRequestData(v, x, path != "") {
			continue
		}
		if !copied {
			x.ev.Tags, copied = maps.Clone(tags), true
		}
		x.ev.Tags[k] = tagWithheld
	}
	if path != "" {
		x.ev.Path = path
		// Not against the path's segments: a template repeats the static
		// ones (/crm/customers/{id}).
		if quotesRequestData(path, x, false) {
			x.ev.Path = pathWithheld
		}
	}
}

// quotesRequestData reports whether s contains a query or header value, a
// string or number of the request body or of the token's claims, or — when
// the decision replaced the audit path by a template — a path segment.
func quotesRequestData(s string, x *exchange, templated bool) bool {
	if len(s) < minQuoted {
		return false
	}
	quotes := func(v string) bool { return len(v) >= minQuoted && strings.Contains(s, v) }
	for _, kv := range x.input.Query {
		if quotes(kv[1]) {
			return true
		}
	}
	for _, kv := range x.input.Headers {
		if quotes(kv[1]) {
			return true
		}
	}
	if templated {
		for _, seg := range x.input.Segments {
			if quotes(seg) {
				return true
			}
		}
	}
	// The token's own claims, but not those the event shows anyway or that
	// describe the token (the subject id, its roles, the registered
	// claims): a reason may well name the caller or a role.
	sub := &x.input.Subject
	claimQuotes := func(v string) bool {
		if v == sub.ID || slices.Contains(sub.Roles, v) {
			return false
		}
		return quotes(v)
	}
	for k, v := range sub.Claims {
		switch k {
		case "iss", "sub", "aud", "exp", "nbf", "iat", "jti":
			continue
		}
		if claimQuoted(v, claimQuotes) {
			return true
		}
	}
	return x.bodyState == bodyParsed && len(x.body) > 0 && bodyQuoted(x.body, quotes)
}

// claimQuoted walks the token's claims (decoded JSON) for a quoted string
// or number.
func claimQuoted(v any, quotes func(string) bool) bool {
	switch t := v.(type) {
	case string:
		return quotes(t)
	case json.Number:
		return quotes(t.String())
	case float64:
		return quotes(strconv.FormatFloat(t, 'f', -1, 64))
	case map[string]any:
		for _, c := range t {
			if claimQuoted(c, quotes) {
				return true
			}
		}
	case []any:
		for _, c := range t {
			if claimQuoted(c, quotes) {
				return true
			}
		}
	}
	return false
}

// bodyQuoted walks the JSON body's string and number values (not its
// keys: field names are not data). It runs only for a request whose
// decision has a reason, so the token decoder's allocations are off the
// hot path.
func bodyQuoted(body []byte, quotes func(string) bool) bool {
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
			if quotes(v) {
				return true
			}
			value()
		case json.Number:
			if quotes(v.String()) {
				return true
			}
			value()
		default:
			value()
		}
	}
}
