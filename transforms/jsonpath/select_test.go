package jsonpath

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query, doc string
		want       []Node
	}{
		// Duplicate member names: a name selector selects every occurrence.
		{"$.a", `{"a":1,"b":0,"a":2}`, []Node{{"$['a']", []byte("1")}, {"$['a']", []byte("2")}}},
		{"$.*", `{"a":1,"a":2}`, []Node{{"$['a']", []byte("1")}, {"$['a']", []byte("2")}}},
		{"$[0,0]", `[ {"x" : 1} ]`, []Node{{"$[0]", []byte(`{"x" : 1}`)}, {"$[0]", []byte(`{"x" : 1}`)}}},
		{"$..['\\n']", `{"\n":{"\n":true}}`, []Node{{`$['\n']`, []byte(`{"\n":true}`)}, {`$['\n']['\n']`, []byte("true")}}},
		{"$[?@ == 1]", `[1, 1.0, 10e-1, "1", true]`, []Node{{"$[0]", []byte("1")}, {"$[1]", []byte("1.0")}, {"$[2]", []byte("10e-1")}}},
		{"$[?@ == 1e400]", `[1e400, 1]`, []Node{{"$[0]", []byte("1e400")}}},
		{"$[5:0:-2]", `[0,1,2,3,4,5,6]`, []Node{{"$[5]", []byte("5")}, {"$[3]", []byte("3")}, {"$[1]", []byte("1")}}},
		{"$.a[?@.b == $.a[0].b]", `{"a":[{"b":[1,{"c":null}]},{"b":[1,{"c":null}]},{"b":[1,{"c":0}]}]}`,
			[]Node{{"$['a'][0]", []byte(`{"b":[1,{"c":null}]}`)}, {"$['a'][1]", []byte(`{"b":[1,{"c":null}]}`)}}},
		{"$.x", `{"y":1}`, []Node{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			got, err := MustParse(tt.query).Select([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Select = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSelectInvalidJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc string
		at  int
	}{
		{``, 0}, {`{`, 1}, {`{"a":1,}`, 7}, {`[1] 2`, 4}, {`"\x01"`, 0}, {`01`, 1},
		{`{"a":tru}`, 5}, {"\"\xff\"", 0}, {`{"a" 1}`, 5}, {`[1 2]`, 3},
		{strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2), MaxDepth + 1},
	}
	for _, tt := range tests {
		_, err := MustParse("$").Select([]byte(tt.doc))
		want := fmt.Sprintf("jsonpath: invalid JSON at offset %d", tt.at)
		if !errors.Is(err, ErrInvalidJSON) || err.Error() != want {
			t.Errorf("Select(%.20q) error = %v, want %s", tt.doc, err, want)
		}
	}
}
