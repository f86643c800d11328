package jsonpath

import "errors"

// This file holds the API contract that the parser/evaluator implements.
// The jsonpath owner replaces these bodies (and may move them to other
// files); the signatures are relied on by package transforms.

// ErrSyntax wraps every parse error of an invalid query.
var ErrSyntax = errors.New("jsonpath: invalid query")

// Parse parses an absolute RFC 9535 query ("$...").
func Parse(s string) (*Query, error) { return nil, errors.New("jsonpath: not implemented") }

// Filter is a compiled filter expression ("?<logical-expr>").
type Filter struct {
	impl any
}

// Test reports whether the filter holds for candidate (the raw JSON text of
// one child value) within the document of ctx.
func (f *Filter) Test(ctx *EvalContext, candidate []byte) bool { return false }

// EvalContext holds per-document state for filter evaluation: the raw root
// document (absolute queries inside filters read it) and caches. One per
// document; not safe for concurrent use.
type EvalContext struct {
	Root []byte
}

// NewEvalContext returns a context for the document root.
func NewEvalContext(root []byte) *EvalContext { return &EvalContext{Root: root} }

// Node is one selected node: its normalized path (RFC 9535 2.7) and raw
// JSON value text.
type Node struct {
	Path  string
	Value []byte
}

// Select evaluates q on doc with the reference (tree) evaluator, returning
// the nodelist in RFC order, duplicates included.
func (q *Query) Select(doc []byte) ([]Node, error) {
	return nil, errors.New("jsonpath: not implemented")
}

// IsSingular reports whether q is a singular query (names and indices only).
func (q *Query) IsSingular() bool { return false }
