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
)

// buildInput converts in into the policy input document. The body is
// decoded only when withBody (the revision reads it).
func (e *Engine) buildInput(in *Input, withBody bool) (ast.Value, error) {
	state := termBodyAbsent
	if in.BodyState != "" {
		state = ast.StringTerm(in.BodyState)
	}
	var body *ast.Term
	if withBody && in.BodyState == BodyParsed {
		v, err := decodeJSON(in.Body, e.maxDepth)
		switch {
		case err == nil:
			body = ast.NewTerm(v)
		case errors.Is(err, errSyntax):
			// The gateway said parsed but the text is not one JSON
			// document: the policy sees what it is.
			state = termBodyInvalid
		default:
			return nil, err
		}
	}

	reqLen := 10
	if body != nil {
		reqLen++
	}
	req := make([][2]*ast.Term, 0, reqLen)
	req = append(req,
		[2]*ast.Term{kMethod, ast.StringTerm(in.Method)},
		[2]*ast.Term{kHost, ast.StringTerm(in.Host)},
		[2]*ast.Term{kPath, ast.StringTerm(in.Path)},
		[2]*ast.Term{kSegments, ast.NewTerm(stringArray(in.Segments))},
		[2]*ast.Term{kQuery, ast.NewTerm(multiMap(in.Query, nil))},
		[2]*ast.Term{kHeaders, ast.NewTerm(multiMap(in.Headers, e.creds))},
		[2]*ast.Term{kBodyState, state},
		[2]*ast.Term{kClientIP, ast.StringTerm(in.ClientIP)},
		[2]*ast.Term{kID, ast.StringTerm(in.RequestID)},
	)
	if body != nil {
		req = append(req, [2]*ast.Term{kBody, body})
	}

	subj, err := subjectValue(in)
	if err != nil {
		return nil, err
	}
	return ast.NewObject(
		[2]*ast.Term{kRequest, ast.NewTerm(ast.NewObject(req...))},
		[2]*ast.Term{kRoute, ast.NewTerm(ast.NewObject(
			[2]*ast.Term{kName, ast.StringTerm(in.RouteName)},
			[2]*ast.Term{kPrefix, ast.StringTerm(in.RoutePrefix)},
		))},
		[2]*ast.Term{kSubject, ast.NewTerm(subj)},
		[2]*ast.Term{kTimeNS, ast.NewTerm(ast.Number(strconv.FormatInt(in.TimeNS, 10)))},
	), nil
}

func subjectValue(in *Input) (ast.Value, error) {
	s := &in.Subject
	claims := ast.Value(ast.NewObject())
	if len(s.Claims) > 0 {
		v, err := ast.InterfaceToValue(s.Claims)
		if err != nil {
			// The claim values are not named: they may be personal data.
			return nil, fmt.Errorf("%w: subject claims cannot be converted", ErrEvaluation)
		}
		claims = v
	}
	return ast.NewObject(
		[2]*ast.Term{kAuthenticated, ast.InternedTerm(s.Authenticated)},
		[2]*ast.Term{kID, ast.StringTerm(s.ID)},
		[2]*ast.Term{kRoles, ast.NewTerm(stringArray(s.Roles))},
		[2]*ast.Term{kClaims, ast.NewTerm(claims)},
		[2]*ast.Term{kMethod, ast.StringTerm(s.Method)},
	), nil
}

func stringArray(ss []string) *ast.Array {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.NewArray(ts...)
}

// multiMap turns ordered (name, value) pairs into {name: [values...]},
// keeping every value in order and skipping names in drop (lower-case,
// compared case-insensitively). Lists are short: the quadratic grouping
// costs less than a map.
func multiMap(pairs [][2]string, drop []string) ast.Object {
	obj := ast.NewObjectWithCapacity(len(pairs))
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
		vals := make([]*ast.Term, 0, n)
		vals = append(vals, ast.StringTerm(p[1]))
		for _, q := range pairs[i+1:] {
			if q[0] == name {
				vals = append(vals, ast.StringTerm(q[1]))
			}
		}
		obj.Insert(ast.StringTerm(name), ast.NewTerm(ast.NewArray(vals...)))
	}
	return obj
}
