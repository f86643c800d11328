package jsonpath

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseAST(t *testing.T) {
	t.Parallel()
	name := func(n string) Selector { return Selector{Kind: SelName, Name: n} }
	tests := []struct {
		in   string
		want []Segment
	}{
		{"$", nil},
		{"$.a", []Segment{{Kind: Child, Selectors: []Selector{name("a")}}}},
		{"$ .a [ 'b' , \"c\" ]", []Segment{
			{Kind: Child, Selectors: []Selector{name("a")}},
			{Kind: Child, Selectors: []Selector{name("b"), name("c")}},
		}},
		{"$..*", []Segment{{Kind: Descendant, Selectors: []Selector{{Kind: SelWildcard}}}}},
		{"$..name", []Segment{{Kind: Descendant, Selectors: []Selector{name("name")}}}},
		{"$.☺_1", []Segment{{Kind: Child, Selectors: []Selector{name("☺_1")}}}},
		{`$['\u00e9\uD83D\uDE00\'\b']`, []Segment{{Kind: Child, Selectors: []Selector{name("é😀'\b")}}}},
		{"$[-9007199254740991, 9007199254740991]", []Segment{{Kind: Child, Selectors: []Selector{
			{Kind: SelIndex, Index: -9007199254740991}, {Kind: SelIndex, Index: 9007199254740991},
		}}}},
		{"$[1:-1:2, :, ::-1, 3 :]", []Segment{{Kind: Child, Selectors: []Selector{
			{Kind: SelSlice, Slice: Slice{Start: 1, End: -1, Step: 2, HasStart: true, HasEnd: true, HasStep: true}},
			{Kind: SelSlice},
			{Kind: SelSlice, Slice: Slice{Step: -1, HasStep: true}},
			{Kind: SelSlice, Slice: Slice{Start: 3, HasStart: true}},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if q.Relative || q.Text != tt.in || !reflect.DeepEqual(q.Segments, tt.want) {
				t.Fatalf("Parse(%q) = %+v, want segments %+v", tt.in, q, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "at offset 0: expected '$', found end of query"},
		{"a", "at offset 0: expected '$', found 'a'"},
		{" $", "at offset 0: expected '$', found ' '"},
		{"$ ", "at offset 1: expected a segment or end of query, found ' '"},
		{"$.", "at offset 2: expected '*' or a member name after '.', found end of query"},
		{"$. a", "at offset 2: expected '*' or a member name after '.', found ' '"},
		{"$.1", "at offset 2: expected '*' or a member name after '.', found '1'"},
		{"$..", "at offset 3: expected '[', '*' or a member name after '..', found end of query"},
		{"$[", "at offset 2: expected a selector, found end of query"},
		{"$[1", "at offset 3: expected ',' or ']', found end of query"},
		{"$[01]", "at offset 2: leading zeros are not allowed, found '0'"},
		{"$[-0]", "at offset 2: -0 is not allowed, found '-'"},
		{"$[9007199254740992]", "at offset 2: integer outside the I-JSON range, found '9'"},
		{"$[::-9007199254740992]", "at offset 4: integer outside the I-JSON range, found '-'"},
		{"$['a", "at offset 4: expected a closing quote, found end of query"},
		{"$['a\x01']", "at offset 4: control characters must be escaped in string literals, found '\\x01'"},
		{`$["\'"]`, `at offset 3: invalid escape \' in "-quoted string, found '\\'`},
		{`$['\"']`, `at offset 3: invalid escape \" in '-quoted string, found '\\'`},
		{`$['\x']`, `at offset 3: invalid escape sequence, found '\\'`},
		{`$['\u12']`, `at offset 3: expected four hex digits after \u, found '\\'`},
		{`$['\uD800']`, `at offset 9: expected a low surrogate escape, found '\''`},
		{`$['\uD800\u0041']`, `at offset 9: expected a low surrogate escape, found '\\'`},
		{`$['\uDC00x']`, `at offset 3: lone low surrogate, found '\\'`},
		{"$[?@.a]x", "at offset 7: expected a segment or end of query, found 'x'"},
		{"$[?1]", "at offset 3: a literal must be compared, found '1'"},
		{"$[?true]", "at offset 3: a literal must be compared, found 't'"},
		{"$[?@.a || 'x']", "at offset 10: a literal must be compared, found '\\''"},
		{"$[?length(@.a)]", "at offset 3: the result of length() must be compared, found 'l'"},
		{"$[?value(@.a) && @.b]", "at offset 3: the result of value() must be compared, found 'v'"},
		{"$[?length(@.*) == 1]", "at offset 10: argument must be a value: a literal, a singular query or a value function, found '@'"},
		{"$[?length(@.a == 1) == 1]", "at offset 10: argument must be a value: a literal, a singular query or a value function, found '@'"},
		{"$[?@.* == 1]", "at offset 3: a non-singular query cannot be compared, found '@'"},
		{"$[?1 == $..a]", "at offset 8: a non-singular query cannot be compared, found '$'"},
		{"$[?match(@.a, 'x') == true]", "at offset 3: the result of match() cannot be compared, found 'm'"},
		{"$[?match(@.a)]", "at offset 3: match() takes 2 argument(s), got 1, found 'm'"},
		{"$[?foo(@.a)]", "at offset 3: unknown function \"foo\", found 'f'"},
		{"$[?Length(@.a) == 1]", "at offset 3: expected a literal, a query or a function call, found 'L'"},
		{"$[?length (@.a) == 1]", "at offset 3: expected a literal, a query or a function call, found 'l'"},
		{"$[?count(1) == 1]", "at offset 9: argument must be a query, found '1'"},
		{"$[?count((@.a)) == 1]", "at offset 10: argument must be a query, found '@'"},
		{"$[?(@.a) == 1]", "at offset 9: a logical expression cannot be compared, found '='"},
		{"$[?!@.a == 1]", "at offset 8: a logical expression cannot be compared, found '='"},
		{"$[?!!@.a]", "at offset 4: expected a query, a function or '(' after '!', found '!'"},
		{"$[?!'a']", "at offset 4: expected a query, a function or '(' after '!', found '\\''"},
		{"$[?@.a == 1.]", "at offset 10: expected a number, found '1'"},
		{"$[?@.a == 01]", "at offset 11: malformed number, found '1'"},
		{"$[?@.a == TRUE]", "at offset 10: expected a literal, a query or a function call, found 'T'"},
		{"$[?@.a === 1]", "at offset 9: expected a literal, a query or a function call, found '='"},
		{"$[?@.a = 1]", "at offset 7: expected ',' or ']', found '='"},
		{"$[?(@.a]", "at offset 7: expected ')', found ']'"},
		{"$[?@.a == (1)]", "at offset 10: expected a literal, a singular query or a function, found '('"},
		{"$" + strings.Repeat("[?@", 70) + strings.Repeat("]", 70), "at offset 193: nesting too deep, found '['"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error", tt.in, q)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			if want := "jsonpath: invalid query: " + tt.want; err.Error() != want {
				t.Fatalf("Parse(%q) error\n got: %s\nwant: %s", tt.in, err, want)
			}
		})
	}
}

func TestParseErrorDoesNotEchoInput(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s3cr3t", 100)
	_, err := Parse("$['" + secret)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v echoes the query", err)
	}
}

func TestIsSingular(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"$", true},
		{"$.a[0]['b'][-1]", true},
		{"$.a ['b']", true},
		{"$[*]", false},
		{"$..a", false},
		{"$['a','b']", false},
		{"$[0:1]", false},
		{"$[?@]", false},
	}
	for _, tt := range tests {
		if got := MustParse(tt.in).IsSingular(); got != tt.want {
			t.Errorf("IsSingular(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestAppendNormalized(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"a", `['a']`},
		{"", `['']`},
		{"it's", `['it\'s']`},
		{`back\slash "q"`, `['back\\slash "q"']`},
		{"\b\f\n\r\t", `['\b\f\n\r\t']`},
		{"\x00\x0b\x1f\x7f", `['\u0000\u000b\u001f` + "\x7f" + `']`},
		{"☺/é", `['☺/é']`},
	}
	for _, tt := range tests {
		if got := string(AppendNormalizedName([]byte("$"), tt.name)); got != "$"+tt.want {
			t.Errorf("AppendNormalizedName(%q) = %s, want $%s", tt.name, got, tt.want)
		}
	}
	if got := string(AppendNormalizedIndex([]byte("$"), 42)); got != "$[42]" {
		t.Errorf("AppendNormalizedIndex = %s", got)
	}
}
