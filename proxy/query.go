package proxy

import (
	"bytes"
	"encoding/json"
	"net/url"
	"unicode/utf8"
)

// queryJSON appends the query parameters of x as a JSON object whose
// members, in first-appearance order, are arrays of the decoded values in
// order ({"email": ["tok_v1_..."], "limit": ["10"]}) — the document
// query_transforms select in. It also returns the names in order.
func (x *exchange) queryJSON(dst []byte) ([]byte, []string) {
	args := x.ctx.QueryArgs()
	var names []string
	seen := map[string]bool{}
	for k := range args.All() {
		if !seen[string(k)] {
			seen[string(k)] = true
			names = append(names, string(k))
		}
	}
	dst = append(dst, '{')
	for i, name := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, name)
		dst = append(dst, ':', '[')
		for j, v := range args.PeekMulti(name) {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, string(v))
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), names
}

// transformQuery applies the decision's query_transforms to the query
// string the upstream will see. The policy decided on the original query.
// A value a rule removed is dropped; a value restored to a non-string JSON
// value (detokenize of a number) is sent as its JSON text.
func (g *Gateway) transformQuery(x *exchange) errCode {
	if x.progs.query.prog == nil {
		return errNone
	}
	// A name or value that is not UTF-8 cannot be a JSON string as it is
	// (it would become U+FFFD, and the parameter be lost or altered on the
	// way back): refused, not rewritten.
	for k, v := range x.ctx.QueryArgs().All() {
		if !utf8.Valid(k) || !utf8.Valid(v) {
			return errBadPath
		}
	}
	doc, names := x.queryJSON(x.scratch[:0])
	out, err := x.progs.query.prog.Rewrite(nil, doc, &x.queryRes)
	x.scratch = doc
	if err != nil {
		return g.rewriteErr(x, err, errBadRequest)
	}
	var vals map[string][]json.RawMessage
	if err := json.Unmarshal(out, &vals); err != nil {
		return errInternal
	}
	var q bytes.Buffer
	for _, name := range names {
		for _, raw := range vals[name] {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				s = string(raw) // a number, boolean or null restored by a reversal
			}
			if q.Len() > 0 {
				q.WriteByte('&')
			}
			q.WriteString(url.QueryEscape(name))
			q.WriteByte('=')
			q.WriteString(url.QueryEscape(s))
		}
	}
	x.rawQuery = append(x.rawQuery[:0], q.Bytes()...)
	g.countTransforms(x.progs.query.counts, &x.queryRes)
	return errNone
}
