package jsonpath

import (
	"regexp"
)

// exprKind is the kind of a filter expression node.
type exprKind uint8

const (
	eOr      exprKind = iota // args: operands
	eAnd                     // args: operands
	eNot                     // args[0]
	eCmp                     // args[0] op args[1]
	eQuery                   // query: existence test, nodelist or singular value
	eLiteral                 // lit
	eFunc                    // fn(args...)
)

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOpText = [...]string{opEq: "==", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">="}

// fnType is a type of the RFC 9535 function type system (2.4.1).
type fnType uint8

const (
	typeValue fnType = iota
	typeLogical
	typeNodes
)

// function describes a function extension.
type function struct {
	name   string
	params []fnType
	result fnType
}

// functions is the registry of supported function extensions (RFC 9535
// 2.4.4-2.4.8).
var functions = map[string]*function{
	"length": {name: "length", params: []fnType{typeValue}, result: typeValue},
	"count":  {name: "count", params: []fnType{typeNodes}, result: typeValue},
	"match":  {name: "match", params: []fnType{typeValue, typeValue}, result: typeLogical},
	"search": {name: "search", params: []fnType{typeValue, typeValue}, result: typeLogical},
	"value":  {name: "value", params: []fnType{typeNodes}, result: typeValue},
}

// expr is a node of a filter expression.
type expr struct {
	kind  exprKind
	op    cmpOp
	paren bool // written in parentheses (a paren-expr)
	args  []*expr
	query *Query
	lit   *value
	fn    *function
	// re is the compiled literal pattern of match()/search(); reBad is set
	// when the literal is not a valid I-Regexp (the call is then false).
	re    *regexp.Regexp
	reBad bool
	// singular caches query.IsSingular() for eQuery.
	singular bool
	pos      int
}

// logicalExpr parses logical-or-expr and checks it is a logical expression.
func (p *parser) logicalExpr() (*expr, error) {
	e, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	return e, p.checkLogical(e)
}

// checkLogical verifies e may stand where a LogicalType is expected: a
// comparison, a logical operator, an existence test of a query, or a
// function returning LogicalType or NodesType.
func (p *parser) checkLogical(e *expr) error {
	switch e.kind {
	case eLiteral:
		return p.errorf(e.pos, "a literal must be compared")
	case eFunc:
		if e.fn.result == typeValue {
			return p.errorf(e.pos, "the result of %s() must be compared", e.fn.name)
		}
	}
	return nil
}

// checkComparable verifies e may be an operand of a comparison: a literal,
// a singular query or a function returning ValueType.
func (p *parser) checkComparable(e *expr) error {
	switch {
	case e.paren || e.kind == eOr || e.kind == eAnd || e.kind == eNot || e.kind == eCmp:
		return p.errorf(e.pos, "a logical expression cannot be compared")
	case e.kind == eQuery && !e.query.IsSingular():
		return p.errorf(e.pos, "a non-singular query cannot be compared")
	case e.kind == eFunc && e.fn.result != typeValue:
		return p.errorf(e.pos, "the result of %s() cannot be compared", e.fn.name)
	}
	return nil
}

func (p *parser) orExpr() (*expr, error) {
	pos := p.i
	first, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	ops := []*expr{first}
	for {
		save := p.i
		p.ws()
		if p.i+1 >= len(p.s) || p.s[p.i] != '|' || p.s[p.i+1] != '|' {
			p.i = save
			break
		}
		p.i += 2
		p.ws()
		e, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		ops = append(ops, e)
	}
	if len(ops) == 1 {
		return first, nil
	}
	for _, o := range ops {
		if err := p.checkLogical(o); err != nil {
			return nil, err
		}
	}
	return &expr{kind: eOr, args: ops, pos: pos}, nil
}

func (p *parser) andExpr() (*expr, error) {
	pos := p.i
	first, err := p.basicExpr()
	if err != nil {
		return nil, err
	}
	ops := []*expr{first}
	for {
		save := p.i
		p.ws()
		if p.i+1 >= len(p.s) || p.s[p.i] != '&' || p.s[p.i+1] != '&' {
			p.i = save
			break
		}
		p.i += 2
		p.ws()
		e, err := p.basicExpr()
		if err != nil {
			return nil, err
		}
		ops = append(ops, e)
	}
	if len(ops) == 1 {
		return first, nil
	}
	for _, o := range ops {
		if err := p.checkLogical(o); err != nil {
			return nil, err
		}
	}
	return &expr{kind: eAnd, args: ops, pos: pos}, nil
}

// basicExpr parses paren-expr / comparison-expr / test-expr. A bare
// literal, query or function is returned as is: the caller checks it
// against the type its position needs.
func (p *parser) basicExpr() (*expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxNesting {
		return nil, p.errorf(p.i, "nesting too deep")
	}
	pos := p.i
	switch p.peek() {
	case '!':
		p.i++
		p.ws()
		var inner *expr
		var err error
		switch c := p.peek(); {
		case c == '(':
			inner, err = p.parenExpr()
		case c == '@' || c == '$' || (c >= 'a' && c <= 'z'):
			inner, err = p.primary()
			if err == nil && inner.kind == eLiteral {
				err = p.errorf(inner.pos, "expected a query, a function or '(' after '!'")
			}
		default:
			err = p.errorf(p.i, "expected a query, a function or '(' after '!'")
		}
		if err != nil {
			return nil, err
		}
		if err := p.checkLogical(inner); err != nil {
			return nil, err
		}
		return &expr{kind: eNot, args: []*expr{inner}, pos: pos}, p.noComparison()
	case '(':
		e, err := p.parenExpr()
		if err != nil {
			return nil, err
		}
		return e, p.noComparison()
	}
	left, err := p.primary()
	if err != nil {
		return nil, err
	}
	save := p.i
	p.ws()
	op, ok := p.cmpOp()
	if !ok {
		p.i = save
		return left, nil
	}
	if err := p.checkComparable(left); err != nil {
		return nil, err
	}
	p.ws()
	if c := p.peek(); c == '(' || c == '!' {
		return nil, p.errorf(p.i, "expected a literal, a singular query or a function")
	}
	right, err := p.primary()
	if err != nil {
		return nil, err
	}
	if err := p.checkComparable(right); err != nil {
		return nil, err
	}
	return &expr{kind: eCmp, op: op, args: []*expr{left, right}, pos: pos}, nil
}

// noComparison reports an error when a comparison operator follows a
// negation or a parenthesized expression (neither is comparable).
func (p *parser) noComparison() error {
	save := p.i
	p.ws()
	at := p.i
	_, ok := p.cmpOp()
	p.i = save
	if ok {
		return p.errorf(at, "a logical expression cannot be compared")
	}
	return nil
}

func (p *parser) cmpOp() (cmpOp, bool) {
	if p.i >= len(p.s) {
		return 0, false
	}
	next := byte(0)
	if p.i+1 < len(p.s) {
		next = p.s[p.i+1]
	}
	switch p.s[p.i] {
	case '=':
		if next == '=' {
			p.i += 2
			return opEq, true
		}
	case '!':
		if next == '=' {
			p.i += 2
			return opNe, true
		}
	case '<':
		if next == '=' {
			p.i += 2
			return opLe, true
		}
		p.i++
		return opLt, true
	case '>':
		if next == '=' {
			p.i += 2
			return opGe, true
		}
		p.i++
		return opGt, true
	}
	return 0, false
}

func (p *parser) parenExpr() (*expr, error) {
	p.i++ // '('
	p.ws()
	e, err := p.logicalExpr()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.peek() != ')' {
		return nil, p.errorf(p.i, "expected ')'")
	}
	p.i++
	if e.paren || e.kind == eQuery || e.kind == eFunc {
		// Keep the parentheses visible to the comparison check without
		// changing the operand: wrap in a one-operand "or".
		e = &expr{kind: eOr, args: []*expr{e}, pos: e.pos}
	}
	e.paren = true
	return e, nil
}

// primary parses a literal, a query or a function expression.
func (p *parser) primary() (*expr, error) {
	pos := p.i
	switch c := p.peek(); {
	case c == '@' || c == '$':
		p.i++
		q, err := p.segments(c == '@')
		if err != nil {
			return nil, err
		}
		q.Text = p.s[pos:p.i]
		return &expr{kind: eQuery, query: q, singular: q.IsSingular(), pos: pos}, nil
	case c == '\'' || c == '"':
		s, err := p.stringLiteral()
		if err != nil {
			return nil, err
		}
		return &expr{kind: eLiteral, lit: stringValue(s), pos: pos}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c >= 'a' && c <= 'z':
		start := p.i
		for p.i < len(p.s) {
			c := p.s[p.i]
			if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' {
				p.i++
				continue
			}
			break
		}
		name := p.s[start:p.i]
		if p.peek() == '(' {
			return p.function(name, pos)
		}
		switch name {
		case "true":
			return &expr{kind: eLiteral, lit: &value{kind: kTrue, raw: []byte("true")}, pos: pos}, nil
		case "false":
			return &expr{kind: eLiteral, lit: &value{kind: kFalse, raw: []byte("false")}, pos: pos}, nil
		case "null":
			return &expr{kind: eLiteral, lit: &value{kind: kNull, raw: []byte("null")}, pos: pos}, nil
		}
		return nil, p.errorf(pos, "expected a literal, a query or a function call")
	}
	return nil, p.errorf(pos, "expected a literal, a query or a function call")
}

// number parses a number literal: (int / "-0") [frac] [exp].
func (p *parser) number() (*expr, error) {
	pos := p.i
	n := scanNumber([]byte(p.s[p.i:min(len(p.s), p.i+400)]))
	if n == 0 {
		return nil, p.errorf(pos, "expected a number")
	}
	raw := []byte(p.s[pos : pos+n])
	p.i += n
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9') {
		return nil, p.errorf(p.i, "malformed number")
	}
	return &expr{kind: eLiteral, lit: &value{kind: kNumber, raw: raw}, pos: pos}, nil
}

func (p *parser) function(name string, pos int) (*expr, error) {
	fn := functions[name]
	if fn == nil {
		return nil, p.errorf(pos, "unknown function %q", name)
	}
	p.i++ // '('
	p.ws()
	var args []*expr
	if p.peek() != ')' {
		for {
			a, err := p.orExpr()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			p.ws()
			if p.peek() != ',' {
				break
			}
			p.i++
			p.ws()
		}
	}
	if p.peek() != ')' {
		return nil, p.errorf(p.i, "expected ',' or ')'")
	}
	p.i++
	if len(args) != len(fn.params) {
		return nil, p.errorf(pos, "%s() takes %d argument(s), got %d", name, len(fn.params), len(args))
	}
	for i, a := range args {
		if err := p.checkArg(a, fn.params[i]); err != nil {
			return nil, err
		}
	}
	e := &expr{kind: eFunc, fn: fn, args: args, pos: pos}
	if (name == "match" || name == "search") && args[1].kind == eLiteral {
		if lit := args[1].lit; lit.kind == kString {
			re, err := compileIRegexp(lit.str, name == "match")
			e.re, e.reBad = re, err != nil
		} else {
			e.reBad = true
		}
	}
	return e, nil
}

// checkArg checks a function argument against its declared parameter type
// (RFC 9535 2.4.3).
func (p *parser) checkArg(a *expr, t fnType) error {
	switch t {
	case typeValue:
		switch {
		case a.paren:
		case a.kind == eLiteral:
			return nil
		case a.kind == eQuery && a.query.IsSingular():
			return nil
		case a.kind == eFunc && a.fn.result == typeValue:
			return nil
		}
		return p.errorf(a.pos, "argument must be a value: a literal, a singular query or a value function")
	case typeLogical:
		return p.checkLogical(a)
	default: // typeNodes
		if !a.paren && (a.kind == eQuery || (a.kind == eFunc && a.fn.result == typeNodes)) {
			return nil
		}
		return p.errorf(a.pos, "argument must be a query")
	}
}

// stringValue builds a string literal value with its JSON text.
func stringValue(s string) *value {
	return &value{kind: kString, str: s, raw: appendJSONString(nil, s)}
}
