// Package jsonpath parses RFC 9535 JSONPath queries and evaluates them.
//
// It owns the grammar (Parse), the abstract syntax tree that the streaming
// rewriter in package transforms compiles into its matcher, filter-expression
// evaluation on raw JSON values (Filter.Test), a reference tree evaluator
// (Query.Select) used by tests as the oracle, and normalized paths
// (RFC 9535 section 2.7). It knows nothing about HTTP, policies or actions.
package jsonpath

// Query is a parsed JSONPath query: an absolute query ("$...") or, inside
// filter expressions, a relative one ("@...").
type Query struct {
	// Relative is true for "@" queries (only inside filters).
	Relative bool
	// Segments are applied left to right.
	Segments []Segment
	// Text is the source text of the query.
	Text string
}

// SegmentKind tells a child segment ("[...]", ".name", ".*") from a
// descendant segment ("..[...]", "..name", "..*").
type SegmentKind uint8

const (
	// Child selects from the children of each input node.
	Child SegmentKind = iota
	// Descendant selects from the children of each input node and of all
	// its descendants.
	Descendant
)

// Segment is one child or descendant segment with its selectors.
type Segment struct {
	Kind      SegmentKind
	Selectors []Selector
}

// SelectorKind names the five selector kinds of RFC 9535.
type SelectorKind uint8

const (
	// SelName selects the member with name Name (after unescaping).
	SelName SelectorKind = iota
	// SelWildcard selects every member of an object or element of an array.
	SelWildcard
	// SelIndex selects the array element at Index (negative: from the end).
	SelIndex
	// SelSlice selects array elements by Slice.
	SelSlice
	// SelFilter selects children for which Filter holds.
	SelFilter
)

// Selector is one selector of a segment.
type Selector struct {
	Kind   SelectorKind
	Name   string  // SelName: the unescaped member name
	Index  int64   // SelIndex
	Slice  Slice   // SelSlice
	Filter *Filter // SelFilter
}

// Slice is an array slice selector "start:end:step" (RFC 9535 2.3.4).
// Absent parts have their Has* flag false and take the RFC defaults.
type Slice struct {
	Start, End, Step          int64
	HasStart, HasEnd, HasStep bool
}
