package transforms

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRewrite checks on any input: Rewrite never panics; it accepts
// exactly the valid JSON documents (modulo the stricter rules: lone
// surrogates and invalid UTF-8 rejected, depth bounded); the output is
// valid JSON; no "secret" member survives anywhere, every scalar inside an
// "ssn" member is masked (or hashed, the more protective action), and
// every "id" is hashed.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		`{"ssn":"123-45-6789","secret":"x","id":7}`,
		`[{"ssn":{"a":[1,true,null,"z"],"secret":2,"id":"q"}},{"s\u0073n":"é\"x"}]`,
		`{"a":{"b":{"secret":[1,2],"c":{"ssn":12.5e3}}},"secret":null,"secret":"dup"}`,
		`[1,"a",{"id":{"k":"v"}},[],{}]`,
		`{"owner":"u-1","items":[{"owner":"u-2","v":1},{"v":2}]}`,
		`{"bad":01}`, `[1,]`, `"\ud800"`, "{\"a\":\"\xff\"}", `{} {}`, ` 42 `,
	} {
		f.Add([]byte(s))
	}
	keys := testKeys(f)
	p := compileTest(f, []Rule{
		r("$..ssn", "mask"),
		r("$..secret", "redact"),
		r("$..id", "hash", "key", "pii"),
		rw("$.items[*]", "redact", &Where{Field: "owner", Op: "!=", Value: "u-2"}),
		r("$..v", "generalize", "bucket", 10),
	}, Options{Keys: keys, MaxDepth: 64, RecordIDs: "$..owner"})
	f.Fuzz(func(t *testing.T, in []byte) {
		var res Result
		out, err := p.Rewrite(nil, in, &res)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if json.Valid(in) && utf8.Valid(in) && !hasSurrogateEscape(in) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("valid JSON rejected: %v", err)
			}
			if out != nil {
				t.Fatalf("output on error")
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("invalid JSON accepted: %q", in)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, in)
		}
		checkProtected(t, out)
	})
}

func hasSurrogateEscape(b []byte) bool {
	s := strings.ToLower(string(b))
	for _, p := range []string{`\ud8`, `\ud9`, `\uda`, `\udb`, `\udc`, `\udd`, `\ude`, `\udf`} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// checkProtected walks out (keeping duplicate members) and fails on a
// value the fuzz rules protect that is not protected.
func checkProtected(t *testing.T, out []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var walk func(under string) // under: "" or the protective context
	walk = func(under string) {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("walk: %v", err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' {
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						t.Fatal(err)
					}
					k := kt.(string)
					ctx := under
					switch k {
					case "secret":
						t.Fatalf("secret member survived in %s", out)
					case "id":
						ctx = "id"
					case "ssn":
						if ctx != "id" {
							ctx = "ssn"
						}
					}
					walk(ctx)
				}
			} else {
				for dec.More() {
					walk(under)
				}
			}
			if _, err := dec.Token(); err != nil {
				t.Fatal(err)
			}
		default:
			s, isStr := v.(string)
			switch under {
			case "id":
				if !isStr || !strings.HasPrefix(s, "h_") {
					t.Fatalf("id not hashed: %v in %s", v, out)
				}
			case "ssn":
				if !isStr || (strings.Trim(s, "*") != "" && !strings.HasPrefix(s, "h_")) {
					t.Fatalf("ssn leaf not masked: %v in %s", v, out)
				}
			}
		}
	}
	walk("")
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data")
	}
}
