package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

var jsonSeeds = []string{
	`{}`, `[]`, `0`, `-0`, `1.5e-3`, `-12.340E+2`, `123456789012345678901234567890`,
	`"plain"`, `"esc \" \\ \/ \b \f \n \r \t"`, `"\u00e9\u20ac\ud83d\ude00"`, `"h\u00e9llo wörld"`,
	`"\ud800"`, `"\udc00\u0041"`, `"\ud800\u0041"`,
	` { "a" : [ 1 , true , false , null , { } , [ ] ] } `,
	`{"customers": [{"id": 1, "ssn": "123-45-6789"}, {"id": 2, "ssn": null}], "next": null}`,
	`[[[[[[1]]]]]]`,
	// Invalid documents.
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[01]`, `[1.]`, `[.5]`, `[1e]`, `[+1]`,
	`[-]`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\nb\"", `"unterminated`, `tru`, `nul`, `[1] [2]`,
	`{"a":1}x`, "\"\xff\"", "\"\xc3\"", `'a'`, `[NaN]`, `[Infinity]`,
}

// FuzzDecodeJSON checks the decoder against
// encoding/json on the seeds (and, with -fuzz, on generated inputs).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeJSON(data, 10000)
		valid := json.Valid(data) && utf8.Valid(data)
		switch {
		case errors.Is(err, errSyntax):
			if valid {
				t.Fatalf("decodeJSON(%q) = syntax error; encoding/json accepts it", data)
			}
			return
		case errors.Is(err, ErrDuplicateKey):
			// Reported where it is found, possibly before a later
			// syntax error: both fail closed.
			if !bytes.Contains(data, []byte(":")) {
				t.Fatalf("decodeJSON(%q) = duplicate key without any member", data)
			}
			return
		case err != nil:
			t.Fatalf("decodeJSON(%q) = %v", data, err)
		}
		if !valid {
			t.Fatalf("decodeJSON(%q) accepted invalid JSON", data)
		}
		got, err := ast.JSON(v)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeJSON(%q) = %#v, want %#v", data, got, want)
		}
	})
}

func TestDecodeJSONLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		maxDepth  int
		want      error
	}{
		{"scalar at depth 0", `1`, 0, nil},
		{"object at limit", `{"a":{"b":{}}}`, 3, nil},
		{"object over limit", `{"a":{"b":{"c":{}}}}`, 3, ErrBodyTooDeep},
		{"mixed over limit", `[{"a":[[]]}]`, 3, ErrBodyTooDeep},
		{"deep attack", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), 128, ErrBodyTooDeep},
		{"duplicate top level", `{"a":1,"a":1}`, 10, ErrDuplicateKey},
		{"duplicate deep", `[[{"x":[{"k":1,"j":2,"k":3}]}]]`, 10, ErrDuplicateKey},
		{"duplicate by escape", `{"ssn":1,"\u0073sn":2}`, 10, ErrDuplicateKey},
		{"duplicate by surrogate pair", `{"😀":1,"\ud83d\ude00":2}`, 10, ErrDuplicateKey},
		{"same key in sibling objects", `[{"a":1},{"a":2}]`, 10, nil},
		{"same key at other depth", `{"a":{"a":{"a":1}}}`, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeJSON([]byte(tc.doc), tc.maxDepth)
			if !errors.Is(err, tc.want) {
				t.Fatalf("decodeJSON = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeJSONKeepsNumberText(t *testing.T) {
	t.Parallel()
	v, err := decodeJSON([]byte(`[1.10, 1e400, -0.0, 12345678901234567890123]`), 4)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.String(), `[1.10, 1e400, -0.0, 12345678901234567890123]`; got != want {
		t.Fatalf("decoded %s, want %s", got, want)
	}
}
