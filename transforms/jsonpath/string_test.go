package jsonpath

import "testing"

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"$", "$"},
		{"$.a", "$['a']"},
		{"$..*", "$..[*]"},
		{`$["it's"]`, `$['it\'s']`},
		{"$['\\u0001\\n']", `$['\u0001\n']`},
		{"$[1, -2, :, 1:, ::-1, 0:3:2]", "$[1,-2,:,1:,::-1,0:3:2]"},
		{"$[?@.a==1&&(@.b||!@.c)]", "$[?@['a'] == 1 && (@['b'] || !@['c'])]"},
		{"$[?(@.a)]", "$[?(@['a'])]"},
		{"$[?!(@.a==1)]", "$[?!(@['a'] == 1)]"},
		{`$[?match(@.n, 'a\'"b') && length(@.x) >= 1.5e3]`, `$[?match(@['n'], "a'\"b") && length(@['x']) >= 1.5e3]`},
		{"$[?@[?@.x == $.y[0]]]", "$[?@[?@['x'] == $['y'][0]]]"},
		{"$[?count(@..*) > 2 || value(@[*]) == null]", "$[?count(@..[*]) > 2 || value(@[*]) == null]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			q := MustParse(tt.in)
			if got := q.String(); got != tt.want {
				t.Fatalf("String() = %s, want %s", got, tt.want)
			}
			q2, err := Parse(tt.want)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if !equalQuery(q, q2) {
				t.Fatalf("re-parsed AST differs")
			}
		})
	}
}
