package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Keys of the input document, built once.
var (
	kRequest       = ast.StringTerm("request")
	kRoute         = ast.StringTerm("route")
	kSubject       = ast.StringTerm("subject")
	kTimeNS        = ast.StringTerm("time_ns")
	kMethod        = ast.StringTerm("method")
	kHost          = ast.StringTerm("host")
	kPath          = ast.StringTerm("path")
	kSegments      = ast.StringTerm("segments")
	kQuery         = ast.StringTerm("query")
	kHeaders       = ast.StringTerm("headers")
	kBodyState     = ast.StringTerm("body_state")
	kBody          = ast.StringTerm("body")
	kClientIP      = ast.StringTerm("client_ip")
	kID            = ast.StringTerm("id")
	kName          = ast.StringTerm("name")
	kPrefix        = ast.StringTerm("prefix")
	kAuthenticated = ast.StringTerm("authenticated")
	kRoles         = ast.StringTerm("roles")
	kClaims        = ast.StringTerm("claims")

	termBodyAbsent  = ast.StringTerm(BodyAbsent)
	termBodyInvalid = ast.StringTerm(BodyInvalid)

	// commonTerms are values most requests share; terms are never
	// mutated by evaluation, so one copy serves every request.
	commonTerms = func() map[string]*ast.Term {
		m := map[string]*ast.Term{BodyAbsent: termBodyAbsent, BodyInvalid: termBodyInvalid}
		for _, s := range []string{BodyParsed, BodyNotJSON, BodyTooLarge,
			"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "jwt", "api_key", "mtls", "anonymous"} {
			m[s] = ast.StringTerm(s)
		}
		return m
	}()
)

// commonTerm returns the shared term for a common value, else a new one.
func commonTerm(s string) *ast.Term {
	if t, ok := commonTerms[s]; ok {
		return t
	}
	return ast.StringTerm(s)
}

// buildInput converts in into the policy input document. The body is
// decoded only when withBody (the revision reads it).
func (e *Engine) buildInput(in *Input, withBody bool) (ast.Value, error) {
	state := termBodyAbsent
	if in.BodyState != "" {
		state = commonTerm(in.BodyState)
	}
	var body ast.Value
	if withBody && in.BodyState == BodyParsed {
		v, err := decodeJSON(in.Body, e.maxDepth)
		switch {
		case err == nil:
			body = v
		case errors.Is(err, errSyntax):
			// The gateway said parsed but the text is not one JSON
			// document: the policy sees what it is.
			state = termBodyInvalid
		default:
			return nil, err
		}
	}
	claims := ast.Value(ast.NewObject())
	if s := &in.Subject; len(s.Claims) > 0 {
		v, err := ast.InterfaceToValue(s.Claims)
		if err != nil {
			// The claim values are not named: they may be personal data.
			return nil, fmt.Errorf("%w: subject claims cannot be converted", ErrEvaluation)
		}
		claims = v
	}

	b := newInputBuilder(in)
	req := b.pairs(10)
	req = append(req,
		[2]*ast.Term{kMethod, commonTerm(in.Method)},
		[2]*ast.Term{kHost, b.str(in.Host)},
		[2]*ast.Term{kPath, b.str(in.Path)},
		[2]*ast.Term{kSegments, b.term(b.strings(in.Segments))},
		[2]*ast.Term{kQuery, b.term(b.multiMap(in.Query, nil))},
		[2]*ast.Term{kHeaders, b.term(b.multiMap(in.Headers, e.creds))},
		[2]*ast.Term{kBodyState, state},
		[2]*ast.Term{kClientIP, b.str(in.ClientIP)},
		[2]*ast.Term{kID, b.str(in.RequestID)},
	)
	if body != nil {
		req = append(req, [2]*ast.Term{kBody, b.term(body)})
	}
	s := &in.Subject
	subj := append(b.pairs(5),
		[2]*ast.Term{kAuthenticated, ast.InternedTerm(s.Authenticated)},
		[2]*ast.Term{kID, b.str(s.ID)},
		[2]*ast.Term{kRoles, b.term(b.strings(s.Roles))},
		[2]*ast.Term{kClaims, b.term(claims)},
		[2]*ast.Term{kMethod, commonTerm(s.Method)},
	)
	route := append(b.pairs(2),
		[2]*ast.Term{kName, b.str(in.RouteName)},
		[2]*ast.Term{kPrefix, b.str(in.RoutePrefix)},
	)
	return ast.NewObject(append(b.pairs(4),
		[2]*ast.Term{kRequest, b.term(ast.NewObject(req...))},
		[2]*ast.Term{kRoute, b.term(ast.NewObject(route...))},
		[2]*ast.Term{kSubject, b.term(ast.NewObject(subj...))},
		[2]*ast.Term{kTimeNS, b.term(ast.Number(strconv.FormatInt(in.TimeNS, 10)))},
	)...), nil
}

// inputBuilder carves the terms, element lists and key/value pairs of one
// input document out of three allocations sized for the request, instead
// of one allocation per term. The document keeps them alive as a whole.
type inputBuilder struct {
	terms []ast.Term
	elems []*ast.Term
	kvs   [][2]*ast.Term
}

func newInputBuilder(in *Input) *inputBuilder {
	lists := len(in.Segments) + len(in.Subject.Roles) + len(in.Query) + len(in.Headers)
	return &inputBuilder{
		// 18 fixed terms, one per list element, and at most two (name,
		// list) per query or header name.
		terms: make([]ast.Term, 0, 18+lists+2*(len(in.Query)+len(in.Headers))),
		elems: make([]*ast.Term, 0, lists),
		kvs:   make([][2]*ast.Term, 0, 21+len(in.Query)+len(in.Headers)),
	}
}

func (b *inputBuilder) term(v ast.Value) *ast.Term {
	if len(b.terms) == cap(b.terms) {
		return ast.NewTerm(v) // estimate exceeded: never reallocate, terms are shared by pointer
	}
	b.terms = append(b.terms, ast.Term{Value: v})
	return &b.terms[len(b.terms)-1]
}

func (b *inputBuilder) str(s string) *ast.Term { return b.term(ast.String(s)) }

// list returns an empty slice with room for n elements; appending beyond n
// reallocates instead of overwriting a neighbour.
func (b *inputBuilder) list(n int) []*ast.Term {
	if cap(b.elems)-len(b.elems) < n {
		return make([]*ast.Term, 0, n)
	}
	l := b.elems[len(b.elems) : len(b.elems) : len(b.elems)+n]
	b.elems = b.elems[:len(b.elems)+n]
	return l
}

// pairs returns an empty slice with room for n key/value pairs.
func (b *inputBuilder) pairs(n int) [][2]*ast.Term {
	if cap(b.kvs)-len(b.kvs) < n {
		return make([][2]*ast.Term, 0, n)
	}
	l := b.kvs[len(b.kvs) : len(b.kvs) : len(b.kvs)+n]
	b.kvs = b.kvs[:len(b.kvs)+n]
	return l
}

func (b *inputBuilder) strings(ss []string) *ast.Array {
	ts := b.list(len(ss))
	for _, s := range ss {
		ts = append(ts, b.str(s))
	}
	return ast.NewArray(ts...)
}

// multiMap turns ordered (name, value) pairs into {name: [values...]},
// keeping every value in order and skipping names in drop (lower-case,
// compared case-insensitively). Lists are short: the quadratic grouping
// costs less than a map.
func (b *inputBuilder) multiMap(pairs [][2]string, drop []string) ast.Object {
	kvs := b.pairs(len(pairs))
next:
	for i, p := range pairs {
		name := p[0]
		for _, d := range drop {
			if strings.EqualFold(name, d) {
				continue next
			}
		}
		for _, q := range pairs[:i] {
			if q[0] == name {
				continue next // grouped with its first occurrence
			}
		}
		n := 1
		for _, q := range pairs[i+1:] {
			if q[0] == name {
				n++
			}
		}
		vals := append(b.list(n), b.str(p[1]))
		for _, q := range pairs[i+1:] {
			if q[0] == name {
				vals = append(vals, b.str(q[1]))
			}
		}
		kvs = append(kvs, [2]*ast.Term{b.str(name), b.term(ast.NewArray(vals...))})
	}
	return ast.NewObject(kvs...)
}
