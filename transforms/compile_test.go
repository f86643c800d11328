package transforms

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"unknown action", r("$.a", "scramble"), `rule 0 (scramble $.a): unknown action "scramble" (known: decrypt, detokenize, encrypt, fpe, fpe_decrypt, generalize, hash, mask, redact, replace, tokenize)`},
		{"fpe without key", r("$.a", "fpe"), `rule 0 (fpe $.a): key is required (the keyring key name)`},
		{"fpe bad alphabet", r("$.a", "fpe", "key", "pii", "alphabet", "x"), `rule 0 (fpe $.a): alphabet must have 2 to 65536 characters (or be digits, lower, upper, alphanumeric_lower, alphanumeric)`},
		{"fpe repeated alphabet", r("$.a", "fpe", "key", "pii", "alphabet", "abca"), `rule 0 (fpe $.a): alphabet must not repeat a character`},
		{"fpe unknown param", r("$.a", "fpe", "key", "pii", "radix", 10), `rule 0 (fpe $.a): unknown parameter radix for fpe (accepted: key, alphabet, keep, tweak)`},
		{"bad path", r("$.a[", "redact"), `rule 0 (redact $.a[): path is not a valid JSONPath: `},
		{"unknown param", r("$.a", "redact", "keep_last", 4), `rule 0 (redact $.a): unknown parameter keep_last for redact (accepted: mode)`},
		{"bad mode", r("$.a", "redact", "mode", "nil"), `rule 0 (redact $.a): mode must be "remove" or "null"`},
		{"replace without value", r("$.a", "replace"), `rule 0 (replace $.a): value is required (any JSON value)`},
		{"keep_last negative", r("$.ssn", "mask", "keep_last", -1), `rule 0 (mask $.ssn): keep_last must be a non-negative integer`},
		{"keep_last fraction", r("$.ssn", "mask", "keep_last", 1.5), `rule 0 (mask $.ssn): keep_last must be a non-negative integer`},
		{"keep_last string", r("$.ssn", "mask", "keep_last", "4"), `rule 0 (mask $.ssn): keep_last must be a non-negative integer`},
		{"char two runes", r("$.a", "mask", "char", "**"), `rule 0 (mask $.a): char must be a string of exactly one character`},
		{"bad format", r("$.a", "mask", "format", "phone"), `rule 0 (mask $.a): format must be "email"`},
		{"hash no key", r("$.a", "hash"), `rule 0 (hash $.a): key is required (the name of a keyring key)`},
		{"hash length", r("$.a", "hash", "key", "pii", "length", 4), `rule 0 (hash $.a): length must be an integer from 8 to 32`},
		{"generalize none", r("$.a", "generalize"), `rule 0 (generalize $.a): exactly one of bucket, date, keep_first is required`},
		{"generalize two", r("$.a", "generalize", "bucket", 10, "date", "year"), `rule 0 (generalize $.a): exactly one of bucket, date, keep_first is required`},
		{"bucket zero", r("$.a", "generalize", "bucket", 0), `rule 0 (generalize $.a): bucket must be a number greater than 0`},
		{"bad date", r("$.a", "generalize", "date", "day"), `rule 0 (generalize $.a): date must be "year" or "month"`},
		{"where op", rw("$.a", "redact", &Where{Field: "x", Op: "~="}), `rule 0 (redact $.a): where.op must be one of ==, !=, <, <=, >, >=, in, not_in, exists, not_exists (got "~=")`},
		{"where no field", rw("$.a", "redact", &Where{Op: "=="}), `rule 0 (redact $.a): where.field is required (a member name or @-relative path)`},
		{"where bad path", rw("$.a", "redact", &Where{Field: "@.a[*]", Op: "exists"}), `rule 0 (redact $.a): where.field "@.a[*]" must be a member name or a singular path like @.a.b, @['a'] or @[0]`},
		{"where in not array", rw("$.a", "redact", &Where{Field: "x", Op: "in", Value: "u"}), `rule 0 (redact $.a): where.value must be an array for in`},
		{"where lt bool", rw("$.a", "redact", &Where{Field: "x", Op: "<", Value: true}), `rule 0 (redact $.a): where.value must be a number or a string for <`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile([]Rule{tt.rule}, Options{Keys: keys})
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("err = %v", err)
			}
			want := ErrInvalidRule.Error() + ": " + tt.want
			if got := err.Error(); got != want && !(tt.name == "bad path" && len(got) > len(want) && got[:len(want)] == want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
	t.Run("rule index", func(t *testing.T) {
		_, err := Compile([]Rule{r("$.a", "redact"), r("$.b", "redact"), r("$.ssn", "mask", "keep_last", -4)}, Options{})
		if want := ErrInvalidRule.Error() + ": rule 2 (mask $.ssn): keep_last must be a non-negative integer"; err == nil || err.Error() != want {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("hash without keyring", func(t *testing.T) {
		_, err := Compile([]Rule{r("$.a", "hash", "key", "pii")}, Options{})
		if err == nil || err.Error() != ErrInvalidRule.Error()+": rule 0 (hash $.a): hash needs a keyring (Options.Keys is nil)" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad record ids", func(t *testing.T) {
		if _, err := Compile(nil, Options{RecordIDs: "id"}); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestParseRules(t *testing.T) {
	t.Parallel()
	var decoded any
	dec := json.NewDecoder(bytesReader(`[{"path":"$.ssn","action":"mask","keep_last":4},
		{"path":"$.c[*]","action":"redact","where":{"field":"owner_id","op":"!=","value":"u-17"}},
		{"path":"$.n","action":"generalize","bucket":10000}]`))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	rules, err := ParseRules(decoded)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Path: "$.ssn", Action: "mask", Params: map[string]any{"keep_last": json.Number("4")}},
		{Path: "$.c[*]", Action: "redact", Where: &Where{Field: "owner_id", Op: "!=", Value: "u-17"}},
		{Path: "$.n", Action: "generalize", Params: map[string]any{"bucket": json.Number("10000")}},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("got %+v", rules)
	}
	if _, err := Compile(rules, Options{}); err != nil {
		t.Errorf("compile: %v", err)
	}
	// float64 numbers (encoding/json without UseNumber) compile too.
	if _, err := Compile([]Rule{{Path: "$.a", Action: "mask", Params: map[string]any{"keep_last": 4.0}}}, Options{}); err != nil {
		t.Errorf("float64: %v", err)
	}
	errs := []struct {
		name string
		in   any
		want string
	}{
		{"not array", map[string]any{}, "transforms must be an array of rule objects"},
		{"not object", []any{"x"}, "rule 0: must be an object"},
		{"path type", []any{map[string]any{"path": 1.0, "action": "redact"}}, "rule 0: path must be a string"},
		{"no path", []any{map[string]any{"action": "redact"}}, "rule 0: path is required"},
		{"no action", []any{map[string]any{"path": "$.a"}}, "rule 0 ($.a): action is required"},
		{"where shape", []any{map[string]any{"path": "$.a", "action": "redact", "where": "x"}}, "rule 0: where must be an object with field, op and value"},
		{"where key", []any{map[string]any{"path": "$.a", "action": "redact", "where": map[string]any{"fld": "x"}}}, `rule 0: where: unknown key "fld" (accepted: field, op, value)`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules(tt.in)
			if !errors.Is(err, ErrInvalidRule) || err.Error() != ErrInvalidRule.Error()+": "+tt.want {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	c := NewCache(2, Options{})
	a := []Rule{r("$.a", "redact")}
	p1, err := c.Get(a, "")
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := c.Get([]Rule{r("$.a", "redact")}, "")
	if p1 != p2 {
		t.Error("same rules compiled twice")
	}
	p3, _ := c.Get(a, "$.id")
	if p3 == p1 || p3.recordQ < 0 {
		t.Error("record id path not part of the key")
	}
	bad := []Rule{r("$.a", "nope")}
	_, e1 := c.Get(bad, "")
	_, e2 := c.Get(bad, "")
	if !errors.Is(e1, ErrInvalidRule) || e1 != e2 {
		t.Errorf("errors not cached: %v %v", e1, e2)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2 (bounded)", c.Len())
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if _, err := c.Get([]Rule{r(fmt.Sprintf("$.f%d", (i+j)%5), "redact")}, ""); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// TestConcurrentRewrite runs one Program from many goroutines (run with
// -race): the lazily built DFA and the pools must be safe.
func TestConcurrentRewrite(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	rules := append(benchRules4(), r("$.customers[?@.owner_id == 'u-3'].name", "redact"),
		rw("$.customers[-2:]", "mask", &Where{Field: "@.address.city", Op: "==", Value: "Lyon"}))
	opts := Options{Keys: keys, RecordIDs: "$.customers[*].id"}
	doc := customers(50)
	want, err := compileTest(t, rules, opts).Rewrite(nil, doc, nil)
	// A fresh Program: the goroutines build its DFA concurrently.
	p := compileTest(t, rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res Result
			var out []byte
			for range 20 {
				var err error
				if out, err = p.Rewrite(out[:0], doc, &res); err != nil || string(out) != string(want) {
					t.Errorf("concurrent output differs: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPrecedenceOrder(t *testing.T) {
	t.Parallel()
	order := []string{"redact", "replace", "hash", "encrypt", "tokenize", "fpe", "mask", "generalize", "decrypt"}
	for i := 1; i < len(order); i++ {
		a, okA := Precedence(order[i-1])
		b, okB := Precedence(order[i])
		if !okA || !okB || a >= b {
			t.Errorf("%s (%d) must rank before %s (%d)", order[i-1], a, order[i], b)
		}
	}
	for _, n := range []string{"detokenize", "fpe_decrypt"} {
		if r, _ := Precedence(n); r != 8 {
			t.Errorf("%s rank %d", n, r)
		}
	}
	for name := range registry {
		if _, ok := Precedence(name); !ok {
			t.Errorf("registered action %s has no rank", name)
		}
	}
	if _, ok := Precedence("scramble"); ok {
		t.Error("unknown action ranked")
	}
}
