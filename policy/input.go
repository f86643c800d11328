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

// buildInput converts in into the policy input document, leaving out the
// fields outside use (the revision cannot read them). The body is decoded
// only when withBody (the revision reads it or its state), and included
// only when use has it.
func (e *Engine) buildInput(in *Input, withBody bool, use inputUse) (ast.Value, error) {
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
	claims := ast.Value(emptyObject)
	if s := &in.Subject; use&useClaims != 0 && len(s.Claims) > 0 {
		v, err := ast.InterfaceToValue(s.Claims)
		if err != nil {
			// The claim values are not named: they may be personal data.
			return nil, fmt.Errorf("%w: subject claims cannot be converted", ErrEvaluation)
		}
		claims = v
	}

	b := newInputBuilder(in, use)
	top := b.pairs(4)
	if use&useRequest != 0 {
		req := b.pairs(10)
		if use&useMethod != 0 {
			req = append(req, [2]*ast.Term{kMethod, commonTerm(in.Method)})
		}
		if use&useHost != 0 {
			req = append(req, [2]*ast.Term{kHost, b.str(in.Host)})
		}
		if use&usePath != 0 {
			req = append(req, [2]*ast.Term{kPath, b.str(in.Path)})
		}
		if use&useSegments != 0 {
			req = append(req, [2]*ast.Term{kSegments, b.term(b.strings(in.Segments))})
		}
		if use&useQuery != 0 {
			req = append(req, [2]*ast.Term{kQuery, b.term(b.multiMap(in.Query, nil))})
		}
		if use&useHeaders != 0 {
			req = append(req, [2]*ast.Term{kHeaders, b.term(b.multiMap(in.Headers, e.creds))})
		}
		if use&useBodyState != 0 {
			req = append(req, [2]*ast.Term{kBodyState, state})
		}
		if use&useClientIP != 0 {
			req = append(req, [2]*ast.Term{kClientIP, b.str(in.ClientIP)})
		}
		if use&useRequestID != 0 {
			req = append(req, [2]*ast.Term{kID, b.str(in.RequestID)})
		}
		if body != nil && use&useBody != 0 {
			req = append(req, [2]*ast.Term{kBody, b.term(body)})
		}
		top = append(top, [2]*ast.Term{kRequest, b.term(ast.NewObject(req...))})
	}
	if use&useRoute != 0 {
		top = append(top, [2]*ast.Term{kRoute, e.routeTerm(in.RouteName, in.RoutePrefix, use)})
	}
	if use&useSubject != 0 {
		s := &in.Subject
		subj := b.pairs(5)
		if use&useAuthenticated != 0 {
			subj = append(subj, [2]*ast.Term{kAuthenticated, ast.InternedTerm(s.Authenticated)})
		}
		if use&useSubjectID != 0 {
			subj = append(subj, [2]*ast.Term{kID, b.str(s.ID)})
		}
		if use&useRoles != 0 {
			subj = append(subj, [2]*ast.Term{kRoles, b.term(b.strings(s.Roles))})
		}
		if use&useClaims != 0 {
			subj = append(subj, [2]*ast.Term{kClaims, b.term(claims)})
		}
		if use&useSubjectMethod != 0 {
			subj = append(subj, [2]*ast.Term{kMethod, commonTerm(s.Method)})
		}
		top = append(top, [2]*ast.Term{kSubject, b.term(ast.NewObject(subj...))})
	}
	if use&useTimeNS != 0 {
		top = append(top, [2]*ast.Term{kTimeNS, b.term(ast.Number(strconv.FormatInt(in.TimeNS, 10)))})
	}
	return ast.NewObject(top...), nil
}

// emptyObject is the claims of a subject without claims. Values are never
// mutated by evaluation, so one serves every request.
var emptyObject = ast.NewObject()

// inputBuilder carves the terms, element lists and key/value pairs of one
// input document out of three allocations sized for the request, instead
// of one allocation per term. The document keeps them alive as a whole.
type inputBuilder struct {
	terms []ast.Term
	elems []*ast.Term
	kvs   [][2]*ast.Term
}

func newInputBuilder(in *Input, use inputUse) *inputBuilder {
	var lists, multi int
	if use&useSegments != 0 {
		lists += len(in.Segments)
	}
	if use&useRoles != 0 {
		lists += len(in.Subject.Roles)
	}
	if use&useQuery != 0 {
		multi += len(in.Query)
	}
	if use&useHeaders != 0 {
		multi += len(in.Headers)
	}
	lists += multi
	return &inputBuilder{
		// 18 fixed terms, one per list element, and at most two (name,
		// list) per query or header name.
		terms: make([]ast.Term, 0, 18+lists+2*multi),
		elems: make([]*ast.Term, 0, lists),
		kvs:   make([][2]*ast.Term, 0, 21+multi),
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

// routeKey identifies one cached input.route object.
type routeKey struct {
	name, prefix string
	use          inputUse
}

// maxRouteTerms bounds the route objects an Engine keeps: a gateway has a
// handful of routes, `veil policy eval` one per run.
const maxRouteTerms = 256

// routeTerm returns input.route for a route, built once per route: its
// values come from the configuration, not from the request.
func (e *Engine) routeTerm(name, prefix string, use inputUse) *ast.Term {
	k := routeKey{name, prefix, use & useRoute}
	if t, ok := e.routes.Load(k); ok {
		return t.(*ast.Term)
	}
	kvs := make([][2]*ast.Term, 0, 2)
	if k.use&useRouteName != 0 {
		kvs = append(kvs, [2]*ast.Term{kName, ast.StringTerm(name)})
	}
	if k.use&useRoutePrefix != 0 {
		kvs = append(kvs, [2]*ast.Term{kPrefix, ast.StringTerm(prefix)})
	}
	t := ast.NewTerm(ast.NewObject(kvs...))
	if e.nroutes.Add(1) <= maxRouteTerms {
		e.routes.Store(k, t)
	}
	return t
}
