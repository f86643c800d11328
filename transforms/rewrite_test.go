package transforms

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []Rule
		in    string
		want  string
	}{
		{"no rules copies bytes", nil, ` {"a": [1, 2.5e3, "x\u00e9"], "b": null} `, ` {"a": [1, 2.5e3, "x\u00e9"], "b": null} `},
		{"redact member first", []Rule{r("$.a", "redact")}, `{"a":1,"b":2,"c":3}`, `{"b":2,"c":3}`},
		{"redact member middle", []Rule{r("$.b", "redact")}, `{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`},
		{"redact member last", []Rule{r("$.c", "redact")}, `{"a":1,"b":2,"c":3}`, `{"a":1,"b":2}`},
		{"redact first two", []Rule{r("$.a", "redact"), r("$.b", "redact")}, `{"a":1, "b":2, "c":3}`, `{ "c":3}`},
		{"redact all members", []Rule{r("$.*", "redact")}, `{"a":1,"b":{"x":2}}`, `{}`},
		{"redact only member", []Rule{r("$.a", "redact")}, `{ "a" : 1 }`, `{  }`},
		{"redact element first", []Rule{r("$[0]", "redact")}, `[1,2,3]`, `[2,3]`},
		{"redact element middle", []Rule{r("$[1]", "redact")}, `[1, 2, 3]`, `[1, 3]`},
		{"redact element last", []Rule{r("$[2]", "redact")}, `[1,2,3]`, `[1,2]`},
		{"redact negative index", []Rule{r("$[-1]", "redact")}, `[1,2,3]`, `[1,2]`},
		{"redact slice", []Rule{r("$[1:3]", "redact")}, `[0,1,2,3]`, `[0,3]`},
		{"redact slice step", []Rule{r("$[::2]", "redact")}, `[0,1,2,3,4]`, `[1,3]`},
		{"redact negative slice", []Rule{r("$[-2:]", "redact")}, `[0,1,2,3]`, `[0,1]`},
		{"redact reverse slice", []Rule{r("$[::-2]", "redact")}, `[0,1,2,3,4]`, `[1,3]`},
		{"redact all elements", []Rule{r("$[*]", "redact")}, `[1,[2],{"a":3}]`, `[]`},
		{"redact mode null", []Rule{r("$.a", "redact", "mode", "null")}, `{"a":{"x":1},"b":2}`, `{"a":null,"b":2}`},
		{"redact root", []Rule{r("$", "redact")}, ` {"a":1} `, ` null `},
		{"redact nested", []Rule{r("$.customers[*].ssn", "redact")},
			`{"customers":[{"id":1,"ssn":"123"},{"ssn":"456","id":2}]}`, `{"customers":[{"id":1},{"id":2}]}`},
		{"duplicate keys all transformed", []Rule{r("$.ssn", "mask")}, `{"ssn":"12","x":1,"ssn":"345"}`, `{"ssn":"**","x":1,"ssn":"***"}`},
		{"escaped key matches", []Rule{r("$.ssn", "redact")}, `{"s\u0073n":"123","b":1}`, `{"b":1}`},
		{"escaped key not other", []Rule{r("$.ssn", "redact")}, `{"s\u0073m":"123"}`, `{"s\u0073m":"123"}`},
		{"descendant", []Rule{r("$..email", "mask", "format", "email")},
			`{"a":{"email":"jo@x.io"},"b":[{"email":"al@y.io"}],"email":"z@q"}`,
			`{"a":{"email":"**@x.io"},"b":[{"email":"**@y.io"}],"email":"*@q"}`},
		{"top-level array", []Rule{r("$[*].ssn", "mask", "keep_last", 2)}, `[{"ssn":"1234"},{"ssn":"99"}]`, `[{"ssn":"**34"},{"ssn":"**"}]`},
		{"precedence redact over mask", []Rule{r("$.a", "mask"), r("$.a", "redact")}, `{"a":"xyz","b":1}`, `{"b":1}`},
		{"precedence replace over mask", []Rule{r("$.a", "mask"), r("$.*", "replace", "value", "R")}, `{"a":"xyz","b":1}`, `{"a":"R","b":"R"}`},
		{"precedence mask over generalize", []Rule{r("$.a", "generalize", "keep_first", 1), r("$.a", "mask")}, `{"a":"xyz"}`, `{"a":"***"}`},
		{"container mask applies to leaves", []Rule{r("$.a", "mask")}, `{"a":{"b":"xy","c":[12,true,null]}}`, `{"a":{"b":"**","c":["**","****","****"]}}`},
		{"inner redact wins in masked container", []Rule{r("$.a", "mask"), r("$.a.b", "redact")}, `{"a":{"b":"xy","c":"zz"}}`, `{"a":{"c":"**"}}`},
		{"inner generalize loses in masked container", []Rule{r("$.a", "mask"), r("$.a.b", "generalize", "keep_first", 1)}, `{"a":{"b":"xy"}}`, `{"a":{"b":"**"}}`},
		{"redact container wins over inner mask", []Rule{r("$.a.b", "mask"), r("$.a", "redact")}, `{"a":{"b":"xy"},"c":1}`, `{"c":1}`},
		{"replace container", []Rule{r("$.a", "replace", "value", map[string]any{"k": []any{1.0, "v"}})}, `{"a":[1,2]}`, `{"a":{"k":[1,"v"]}}`},
		{"replace null value", []Rule{r("$.a", "replace", "value", nil)}, `{"a":"s"}`, `{"a":null}`},
		{"generalize failure redacts and counts", []Rule{r("$[*]", "generalize", "bucket", 10)}, `[15,"x",25]`, `["10-20","20-30"]`},
		{"selectors see the original document", []Rule{r("$.a", "redact"), r("$.a.b", "mask")}, `{"a":{"b":"x"},"c":{"b":"y"}}`, `{"c":{"b":"y"}}`},
		{"whitespace kept", []Rule{r("$.b", "redact")}, "{\n  \"a\": 1,\n  \"b\": 2\n}", "{\n  \"a\": 1\n}"},
		{"mask number", []Rule{r("$.n", "mask", "keep_last", 2)}, `{"n":-12345}`, `{"n":"****45"}`},
		{"mask char needs escaping", []Rule{r("$.n", "mask", "char", `"`)}, `{"n":"ab"}`, `{"n":"\"\""}`},
		{"where on array element", []Rule{rw("$.c[*]", "redact", &Where{Field: "owner_id", Op: "!=", Value: "u-17"})},
			`{"c":[{"owner_id":"u-17","n":1},{"owner_id":"u-2","n":2},{"n":3}]}`, `{"c":[{"owner_id":"u-17","n":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := compileTest(t, tt.rules, Options{})
			var res Result
			out, err := p.Rewrite([]byte("prefix:"), []byte(tt.in), &res)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			got := strings.TrimPrefix(string(out), "prefix:")
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(out[len("prefix:"):]) {
				t.Errorf("output is not valid JSON: %s", got)
			}
			if res.Changed != (got != tt.in) {
				t.Errorf("Changed = %v", res.Changed)
			}
		})
	}
}

func TestRewriteCounts(t *testing.T) {
	t.Parallel()
	p := compileTest(t, []Rule{
		r("$[*].a", "mask"),
		r("$[*].a", "redact"),
		r("$[*].b", "generalize", "date", "year"),
		r("$[*]", "mask"),
	}, Options{})
	var res Result
	out, err := p.Rewrite(nil, []byte(`[{"a":"x","b":"1984-06-17"},{"a":"y","b":"no date"}]`), &res)
	if err != nil {
		t.Fatal(err)
	}
	// $[*] mask is the winner for each element (2); inner b nodes are
	// selected by generalize, which is less protective than the
	// inherited mask, so mask wins there too and generalize counts 0.
	if want := `[{"b":"**********"},{"b":"*******"}]`; string(out) != want {
		t.Errorf("got %s want %s", out, want)
	}
	want := []RuleCount{{"$[*].a", "mask", 0}, {"$[*].a", "redact", 2}, {"$[*].b", "generalize", 0}, {"$[*]", "mask", 2}}
	for i, w := range want {
		if res.Rules[i] != w {
			t.Errorf("Rules[%d] = %+v, want %+v", i, res.Rules[i], w)
		}
	}
	if res.Failed != 0 {
		t.Errorf("Failed = %d", res.Failed)
	}
	// Rules names them as Result.Rules does, with zero counts.
	for i, rc := range p.Rules() {
		if want := (RuleCount{Path: want[i].Path, Action: want[i].Action}); rc != want {
			t.Errorf("Rules()[%d] = %+v, want %+v", i, rc, want)
		}
	}
	p = compileTest(t, []Rule{r("$[*]", "generalize", "date", "month")}, Options{})
	out, err = p.Rewrite(nil, []byte(`["1984-06-17T10:00:00Z","nope",true]`), &res)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `["1984-06"]` || res.Failed != 2 || res.Rules[0].Count != 3 {
		t.Errorf("got %s failed=%d count=%d", out, res.Failed, res.Rules[0].Count)
	}
}

func TestRewriteInvalid(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 129) + strings.Repeat("]", 129)
	okDeep := strings.Repeat("[", 128) + strings.Repeat("]", 128)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, ErrInvalidJSON},
		{"whitespace only", " \n", ErrInvalidJSON},
		{"trailing comma object", `{"a":1,}`, ErrInvalidJSON},
		{"trailing comma array", `[1,2,]`, ErrInvalidJSON},
		{"leading comma", `[,1]`, ErrInvalidJSON},
		{"leading zero", `{"a":01}`, ErrInvalidJSON},
		{"plus sign", `[+1]`, ErrInvalidJSON},
		{"bare dot", `[1.]`, ErrInvalidJSON},
		{"exponent without digits", `[1e]`, ErrInvalidJSON},
		{"bad escape", `{"a":"\x"}`, ErrInvalidJSON},
		{"short unicode escape", `{"a":"\u12"}`, ErrInvalidJSON},
		{"lone high surrogate", `{"a":"\ud800"}`, ErrInvalidJSON},
		{"lone low surrogate", `{"a":"\udc00x"}`, ErrInvalidJSON},
		{"control char in string", "{\"a\":\"x\ty\"}", ErrInvalidJSON},
		{"control char in key", "{\"a\nb\":1}", ErrInvalidJSON},
		{"invalid utf8", "{\"a\":\"\xff\"}", ErrInvalidJSON},
		{"invalid utf8 in key", "{\"\xc3\x28\":1}", ErrInvalidJSON},
		{"two documents", `{} {}`, ErrInvalidJSON},
		{"two scalars", `1 2`, ErrInvalidJSON},
		{"unterminated string", `{"a":"abc`, ErrInvalidJSON},
		{"unterminated object", `{"a":1`, ErrInvalidJSON},
		{"unterminated array", `[1`, ErrInvalidJSON},
		{"missing colon", `{"a" 1}`, ErrInvalidJSON},
		{"single quotes", `{'a':1}`, ErrInvalidJSON},
		{"bad literal", `[tru]`, ErrInvalidJSON},
		{"nan", `[NaN]`, ErrInvalidJSON},
		{"unquoted key", `{a:1}`, ErrInvalidJSON},
		{"too deep", deep, ErrTooDeep},
		{"valid deep", okDeep, nil},
		{"valid surrogate pair", `{"a":"\ud83d\ude00"}`, nil},
	}
	progs := map[string]*Program{
		"no rules":   compileTest(t, nil, Options{}),
		"all nodes":  compileTest(t, []Rule{r("$..*", "mask")}, Options{}),
		"descendant": compileTest(t, []Rule{r("$..a", "redact")}, Options{}),
	}
	for _, tt := range tests {
		for pname, p := range progs {
			t.Run(tt.name+"/"+pname, func(t *testing.T) {
				t.Parallel()
				out, err := p.Rewrite([]byte("keep"), []byte(tt.in), nil)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if err != nil && string(out) != "keep" {
					t.Errorf("dst not restored on error: %q", out)
				}
				if err == nil && !json.Valid(out[4:]) {
					t.Errorf("invalid output %s", out)
				}
			})
		}
	}
}

// TestProtectedValuesAbsent rewrites the benchmark fixture and checks that
// no protected original value is left in the output.
func TestProtectedValuesAbsent(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	p := compileTest(t, benchRules4(), Options{Keys: keys})
	doc := customers(30)
	out, err := p.Rewrite(nil, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatal("invalid output")
	}
	var in struct {
		Customers []map[string]any `json:"customers"`
	}
	if err := json.Unmarshal(doc, &in); err != nil {
		t.Fatal(err)
	}
	for _, c := range in.Customers {
		ssn := c["ssn"].(string)
		local, _, _ := strings.Cut(c["email"].(string), "@")
		for _, v := range []string{`"` + ssn + `"`, ssn[:7], `"` + local + "@", `"` + c["id"].(string) + `"`, c["notes"].(string)} {
			if strings.Contains(string(out), v) {
				t.Errorf("protected value %q present in output", v)
			}
		}
	}
}

// TestDFAStateCap checks that past the state cap the matcher still
// selects correctly without caching new states.
func TestDFAStateCap(t *testing.T) {
	t.Parallel()
	rules := []Rule{r("$..a", "redact"), r("$.b[*].c", "mask"), r("$.b[1]", "replace", "value", 1)}
	in := []byte(`{"b":[{"c":"xy","a":1},{"c":"z"},{"d":{"a":2,"c":"q"}}],"a":3}`)
	want, err := compileTest(t, rules, Options{}).Rewrite(nil, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := compileTest(t, rules, Options{})
	p.m.mu.Lock()
	p.m.maxStates = len(p.m.states) // only empty and root stay cached
	p.m.mu.Unlock()
	for range 3 {
		got, err := p.Rewrite(nil, in, nil)
		if err != nil || string(got) != string(want) {
			t.Fatalf("got %s, %v; want %s", got, err, want)
		}
	}
	if n := len(p.m.states); n != 2 {
		t.Errorf("%d states cached past the cap", n)
	}
}
