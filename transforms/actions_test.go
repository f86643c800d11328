package transforms

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veilgw/veil/vault"
)

// TestActionTypes runs every action on every JSON type: the value of "v"
// in {"v": <in>} becomes want ("-" means the member is removed).
func TestActionTypes(t *testing.T) {
	t.Parallel()
	inputs := []string{`"secret"`, `1234.5`, `true`, `null`, `{"a":"xy","b":7}`, `[1,"ab"]`}
	tests := []struct {
		name string
		rule Rule
		want []string // per input
	}{
		{"redact", r("$.v", "redact"), []string{"-", "-", "-", "-", "-", "-"}},
		{"redact null", r("$.v", "redact", "mode", "null"), []string{"null", "null", "null", "null", "null", "null"}},
		{"replace", r("$.v", "replace", "value", "X"), []string{`"X"`, `"X"`, `"X"`, `"X"`, `"X"`, `"X"`}},
		{"mask", r("$.v", "mask"), []string{`"******"`, `"******"`, `"****"`, `"****"`, `{"a":"**","b":"*"}`, `["*","**"]`}},
		{"mask keep", r("$.v", "mask", "keep_first", 1, "keep_last", 1, "char", "#"),
			[]string{`"s####t"`, `"1####5"`, `"####"`, `"####"`, `{"a":"##","b":"#"}`, `["#","##"]`}},
		{"generalize bucket", r("$.v", "generalize", "bucket", 1000),
			[]string{"-", `"1000-2000"`, "-", "-", `{"b":"0-1000"}`, `["0-1000"]`}},
		{"generalize keep_first", r("$.v", "generalize", "keep_first", 2),
			[]string{`"se*"`, "-", "-", "-", `{"a":"x*"}`, `["a*"]`}},
		{"generalize date", r("$.v", "generalize", "date", "year"), []string{"-", "-", "-", "-", `{}`, `[]`}},
	}
	for _, tt := range tests {
		for i, in := range inputs {
			t.Run(tt.name+"/"+in, func(t *testing.T) {
				t.Parallel()
				p := compileTest(t, []Rule{tt.rule}, Options{})
				out, err := p.Rewrite(nil, []byte(`{"v":`+in+`}`), nil)
				if err != nil {
					t.Fatal(err)
				}
				want := `{"v":` + tt.want[i] + `}`
				if tt.want[i] == "-" {
					want = `{}`
				}
				if string(out) != want {
					t.Errorf("got %s want %s", out, want)
				}
			})
		}
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params []any
		in     string
		want   string
	}{
		{"keep last", []any{"keep_last", 4}, `"123-45-6789"`, `"*******6789"`},
		{"ignore", []any{"keep_last", 4, "ignore", "-"}, `"123-45-6789"`, `"***-**-6789"`},
		{"short fully masked", []any{"keep_first", 2, "keep_last", 2}, `"abcd"`, `"****"`},
		{"runes", []any{"keep_first", 1}, `"été"`, `"é**"`},
		{"escaped input", []any{"keep_last", 1}, `"a\"b\u00e9"`, `"***é"`},
		{"unicode char", []any{"char", "•"}, `"ab"`, `"••"`},
		{"email", []any{"format", "email"}, `"john.doe@example.com"`, `"********@example.com"`},
		{"email keep first", []any{"format", "email", "keep_first", 1}, `"john@ex.io"`, `"j***@ex.io"`},
		{"email no at", []any{"format", "email"}, `"johndoe"`, `"*******"`},
		{"email last at", []any{"format", "email"}, `"a@b@c.io"`, `"***@c.io"`},
		{"number", []any{"keep_last", 2}, `1234`, `"**34"`},
		{"backslash char", []any{"char", `\`}, `"ab"`, `"\\\\"`},
		{"empty string", []any{}, `""`, `""`},
		{"escaped kept part re-escaped", []any{"keep_last", 2}, `"ab\"c"`, `"**\"c"`},
		{"escaped control kept", []any{"keep_first", 1}, `"\txy"`, `"\t**"`},
		{"email escaped domain", []any{"format", "email"}, `"a\"b@x\\y.io"`, `"***@x\\y.io"`},
		{"email solidus escape", []any{"format", "email"}, `"ab@x\/y"`, `"**@x/y"`},
		{"email keeps cover local part", []any{"format", "email", "keep_first", 2, "keep_last", 2}, `"abc@x.io"`, `"***@x.io"`},
		{"email keeps", []any{"format", "email", "keep_first", 1, "keep_last", 1}, `"abcd@x.io"`, `"a**d@x.io"`},
		{"email non-ascii local", []any{"format", "email"}, `"éa@x.io"`, `"**@x.io"`},
		{"email empty local", []any{"format", "email"}, `"@x.io"`, `"@x.io"`},
		{"long ascii", []any{"keep_first", 3, "keep_last", 3}, `"` + strings.Repeat("x", 100) + `"`, `"xxx` + strings.Repeat("*", 94) + `xxx"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := compileTest(t, []Rule{r("$[0]", "mask", tt.params...)}, Options{})
			out, err := p.Rewrite(nil, []byte("["+tt.in+"]"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := "[" + tt.want + "]"; string(out) != want {
				t.Errorf("got %s want %s", out, want)
			}
		})
	}
}

func TestGeneralize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params []any
		in     string
		want   string // "-" removed (failed)
	}{
		{"bucket", []any{"bucket", 10000}, `53250`, `"50000-60000"`},
		{"bucket exact lower bound", []any{"bucket", 10}, `20`, `"20-30"`},
		{"bucket negative", []any{"bucket", 10}, `-5`, `"-10-0"`},
		{"bucket fraction", []any{"bucket", 0.5}, `1.7`, `"1.5-2"`},
		{"bucket big no exponent", []any{"bucket", 1e6}, `2.5e7`, `"25000000-26000000"`},
		{"bucket numeric string", []any{"bucket", 10}, `"42"`, `"40-50"`},
		{"bucket non numeric string", []any{"bucket", 10}, `"4x"`, "-"},
		{"bucket bool", []any{"bucket", 10}, `true`, "-"},
		{"date year", []any{"date", "year"}, `"1984-06-17"`, `"1984"`},
		{"date month", []any{"date", "month"}, `"1984-06-17"`, `"1984-06"`},
		{"date time", []any{"date", "month"}, `"1984-06-17T10:00:00+02:00"`, `"1984-06"`},
		{"date invalid", []any{"date", "year"}, `"1984-13-01"`, "-"},
		{"date number", []any{"date", "year"}, `1984`, "-"},
		{"keep first", []any{"keep_first", 1}, `"Lyon"`, `"L*"`},
		{"keep first short", []any{"keep_first", 4}, `"Lyon"`, `"Lyo*"`},
		{"keep first empty", []any{"keep_first", 1}, `""`, `"*"`},
		{"keep first null", []any{"keep_first", 1}, `null`, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := compileTest(t, []Rule{r("$[0]", "generalize", tt.params...)}, Options{})
			var res Result
			out, err := p.Rewrite(nil, []byte("["+tt.in+"]"), &res)
			if err != nil {
				t.Fatal(err)
			}
			want := "[" + tt.want + "]"
			if tt.want == "-" {
				want = "[]"
			}
			if string(out) != want {
				t.Errorf("got %s want %s", out, want)
			}
			if failed := tt.want == "-"; (res.Failed == 1) != failed {
				t.Errorf("Failed = %d", res.Failed)
			}
		})
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	k, err := keys.Primary("pii", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := k.Subkey("veil/hash", 32)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(canon string, n int, prefix string) string {
		m := hmac.New(sha256.New, sub)
		m.Write([]byte(canon))
		return `"` + prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:n]) + `"`
	}
	tests := []struct {
		name   string
		params []any
		in     string
		want   string
	}{
		{"string", nil, `"alice"`, expect(`"alice"`, 16, "h_")},
		{"escaped string same as plain", nil, `"\u0061lice"`, expect(`"alice"`, 16, "h_")},
		{"number differs from string", nil, `42`, expect(`42`, 16, "h_")},
		{"number as string", nil, `"42"`, expect(`"42"`, 16, "h_")},
		{"true", nil, `true`, expect(`true`, 16, "h_")},
		{"null", nil, `null`, expect(`null`, 16, "h_")},
		{"object canonical", nil, `{ "b" : [1, "x\n"], "a":2 }`, expect(`{"b":[1,"x\n"],"a":2}`, 16, "h_")},
		{"length and prefix", []any{"length", 8, "prefix", "id-"}, `"alice"`, expect(`"alice"`, 8, "id-")},
		{"multi-block message", nil, `"` + strings.Repeat("ab", 70) + `"`, expect(`"`+strings.Repeat("ab", 70)+`"`, 16, "h_")},
		{"length 32", []any{"length", 32}, `"alice"`, expect(`"alice"`, 32, "h_")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			params := append([]any{"key", "pii"}, tt.params...)
			p := compileTest(t, []Rule{r("$[0]", "hash", params...)}, Options{Keys: keys})
			out, err := p.Rewrite(nil, []byte("["+tt.in+"]"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := "[" + tt.want + "]"; string(out) != want {
				t.Errorf("got %s want %s", out, want)
			}
		})
	}
	t.Run("42 and \"42\" differ", func(t *testing.T) {
		if expect(`42`, 16, "") == expect(`"42"`, 16, "") {
			t.Fatal("same pseudonym")
		}
	})
	t.Run("key unavailable", func(t *testing.T) {
		p := compileTest(t, []Rule{r("$.a", "hash", "key", "missing")}, Options{Keys: keys})
		out, err := p.Rewrite([]byte("x"), []byte(`{"a":"v"}`), nil)
		if !errors.Is(err, ErrKeyUnavailable) || !errors.Is(err, vault.ErrKeyNotFound) {
			t.Fatalf("err = %v", err)
		}
		if string(out) != "x" {
			t.Errorf("dst = %q", out)
		}
		// Nothing hashed: no key needed.
		if _, err := p.Rewrite(nil, []byte(`{"b":"v"}`), nil); err != nil {
			t.Errorf("err = %v", err)
		}
	})
}

func TestWhere(t *testing.T) {
	t.Parallel()
	doc := `[{"id":1,"o":"u-17","n":5,"t":["x"],"d":{"k":{"z":1}}},` +
		`{"id":2,"o":"u-2","n":10,"t":[],"d":{"k":[1,2]}},` +
		`{"id":3,"n":"10","o":null},` +
		`{"id":4,"o":"u-9","o":"u-17","n":7.5e0}]`
	tests := []struct {
		name string
		w    Where
		want string // ids redacted
	}{
		{"eq string", Where{Field: "o", Op: "==", Value: "u-17"}, "1,4"},
		{"ne string absent counts", Where{Field: "o", Op: "!=", Value: "u-17"}, "2,3,4"},
		{"eq null", Where{Field: "o", Op: "==", Value: nil}, "3"},
		{"lt number", Where{Field: "n", Op: "<", Value: 8.0}, "1,4"},
		{"le number json.Number", Where{Field: "n", Op: "<=", Value: json.Number("10")}, "1,2,4"},
		{"gt number", Where{Field: "n", Op: ">", Value: 5}, "2,4"},
		{"ge string", Where{Field: "o", Op: ">=", Value: "u-2"}, "2,4"},
		{"eq number vs string", Where{Field: "n", Op: "==", Value: "10"}, "3"},
		{"in", Where{Field: "id", Op: "in", Value: []any{2.0, "3", 4.0}}, "2,4"},
		{"not_in", Where{Field: "id", Op: "not_in", Value: []any{1.0, 2.0}}, "3,4"},
		{"exists", Where{Field: "t", Op: "exists"}, "1,2"},
		{"not_exists", Where{Field: "t", Op: "not_exists"}, "3,4"},
		{"relative path", Where{Field: "@.d.k.z", Op: "==", Value: 1}, "1"},
		{"relative index", Where{Field: "@.t[0]", Op: "==", Value: "x"}, "1"},
		{"relative negative index", Where{Field: "@['d']['k'][-1]", Op: "==", Value: 2}, "2"},
		{"container equality", Where{Field: "@.d.k", Op: "==", Value: []any{1.0, 2.0}}, "2"},
		{"empty array equality", Where{Field: "t", Op: "==", Value: []any{}}, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := tt.w
			p := compileTest(t, []Rule{rw("$[*]", "redact", &w)}, Options{RecordIDs: "$[*].id"})
			var res Result
			if _, err := p.Rewrite(nil, []byte(doc), &res); err != nil {
				t.Fatal(err)
			}
			kept := map[string]bool{}
			for _, id := range res.RecordIDs {
				kept[id] = true
			}
			var removed []string
			for _, id := range []string{"1", "2", "3", "4"} {
				if !kept[id] {
					removed = append(removed, id)
				}
			}
			if got := strings.Join(removed, ","); got != tt.want {
				t.Errorf("removed %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRecordIDs(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	doc := []byte(`{"c":[{"id":"a1","x":1},{"id":"b2","x":2},{"id":{"n":3}},{"id":4}]}`)
	t.Run("survivors original", func(t *testing.T) {
		p := compileTest(t, []Rule{rw("$.c[*]", "redact", &Where{Field: "x", Op: "==", Value: 2})}, Options{RecordIDs: "$.c[*].id"})
		var res Result
		if _, err := p.Rewrite(nil, doc, &res); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(res.RecordIDs, " "); got != `"a1" {"n":3} 4` {
			t.Errorf("got %s", got)
		}
	})
	t.Run("protected form", func(t *testing.T) {
		p := compileTest(t, []Rule{r("$.c[*].id", "hash", "key", "pii"), r("$.c[3].id", "replace", "value", 0)}, Options{Keys: keys, RecordIDs: "$.c[*].id"})
		var res Result
		out, err := p.Rewrite(nil, doc, &res)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.RecordIDs) != 4 || !strings.HasPrefix(res.RecordIDs[0], `"h_`) || res.RecordIDs[3] != "0" {
			t.Fatalf("got %q", res.RecordIDs)
		}
		for _, id := range res.RecordIDs {
			if !strings.Contains(string(out), id) {
				t.Errorf("record id %s is not the output form", id)
			}
		}
	})
	t.Run("cap", func(t *testing.T) {
		p := compileTest(t, nil, Options{RecordIDs: "$.c[*].id", MaxRecordIDs: 2})
		var res Result
		if _, err := p.Rewrite(nil, doc, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.RecordIDs) != 2 || !res.RecordIDsTruncated {
			t.Errorf("got %q truncated=%v", res.RecordIDs, res.RecordIDsTruncated)
		}
	})
}

// TestHMACSHA256 checks the midstate HMAC against crypto/hmac for keys
// shorter than, equal to and longer than the SHA-256 block, and messages
// around the padding boundaries (55/56 bytes, one and several blocks).
func TestHMACSHA256(t *testing.T) {
	t.Parallel()
	for _, kl := range []int{0, 1, 32, 63, 64, 65, 200} {
		key := make([]byte, kl)
		for i := range key {
			key[i] = byte(7*i + kl)
		}
		h, err := newHMACSHA256(key)
		if err != nil {
			t.Fatal(err)
		}
		var dst []byte
		for _, ml := range []int{0, 1, 10, 55, 56, 63, 64, 65, 119, 120, 200} {
			msg := make([]byte, ml)
			for i := range msg {
				msg[i] = byte(3*i + ml)
			}
			ref := hmac.New(sha256.New, key)
			ref.Write(msg)
			want := ref.Sum([]byte("prefix"))
			dst = h.appendSum(append(dst[:0], "prefix"...), msg)
			if !bytes.Equal(dst, want) {
				t.Errorf("key %d bytes, message %d bytes: got %x want %x", kl, ml, dst, want)
			}
		}
	}
}
