package proxy

import (
	"bytes"
	"encoding/json"
	"strings"
)

// A policy's reason is free text that reaches the client and the audit
// trail, and Rego can build it from anything it was given
// (sprintf("ssn %s", [input.request.body.ssn])). DESIGN "No leaks":
// the reason is checked, and one that quotes a value of the request the
// policy saw is withheld, never logged.

// minQuoted is the shortest value the check looks for: shorter values
// (a status, "GET", a one-digit id) would match ordinary words.
const minQuoted = 4

const reasonWithheld = "reason withheld: it quotes request data"

// checkedReason returns reason, or reasonWithheld when it contains a query
// or header value, a string or number of the request body, or — when the
// decision replaced the audit path by a template — a path segment.
func checkedReason(reason string, x *exchange, templated bool) string {
	if len(reason) < minQuoted {
		return reason
	}
	quotes := func(v string) bool { return len(v) >= minQuoted && strings.Contains(reason, v) }
	for _, kv := range x.input.Query {
		if quotes(kv[1]) {
			return reasonWithheld
		}
	}
	for _, kv := range x.input.Headers {
		if quotes(kv[1]) {
			return reasonWithheld
		}
	}
	if templated {
		for _, s := range x.input.Segments {
			if quotes(s) {
				return reasonWithheld
			}
		}
	}
	if x.bodyState == bodyParsed && len(x.body) > 0 && bodyQuoted(x.body, quotes) {
		return reasonWithheld
	}
	return reason
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
