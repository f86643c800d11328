package transforms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fakeTransit is a reversible Transit: ciphertext "vault:v1:" +
// base64("fk|" + key + "|" + plaintext); it counts calls per direction.
type fakeTransit struct {
	mu         sync.Mutex
	enc, dec   int
	encN, decN []int    // batch sizes
	keys       []string // key of each call
	fail       error    // whole-call failure
}

func (f *fakeTransit) EncryptBatch(_ context.Context, key string, pts [][]byte) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enc++
	f.encN = append(f.encN, len(pts))
	f.keys = append(f.keys, "enc:"+key)
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]string, len(pts))
	for i, p := range pts {
		out[i] = fakeCT(key, string(p))
	}
	return out, nil
}

func (f *fakeTransit) DecryptBatch(_ context.Context, key string, cts []string) ([][]byte, []bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dec++
	f.decN = append(f.decN, len(cts))
	f.keys = append(f.keys, "dec:"+key)
	if f.fail != nil {
		return nil, nil, f.fail
	}
	pts, ok := make([][]byte, len(cts)), make([]bool, len(cts))
	for i, c := range cts {
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c, "vault:v1:"))
		if err != nil {
			continue
		}
		if p, found := bytes.CutPrefix(b, []byte("fk|"+key+"|")); found {
			pts[i], ok[i] = p, true
		}
	}
	return pts, ok, nil
}

func fakeCT(key, pt string) string {
	return "vault:v1:" + base64.StdEncoding.EncodeToString([]byte("fk|"+key+"|"+pt))
}

func transitRule(path, action string) Rule { return r(path, action, "key", "tk", "mode", "transit") }

func TestTransitEncryptPlaceholdersInDocumentOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		rules          []Rule
		calls          int
	}{
		{"every type", `{"s":"x\u00e9\"","n":-1.5e3,"t":true,"f":false,"z":null,"o":{"b":[1, 2],"a":"q"},"a":[{"k":1}, "v"],"keep":1}`,
			`{"s":` + q(fakeCT("tk", `"xé\""`)) + `,"n":` + q(fakeCT("tk", `-1.5e3`)) + `,"t":` + q(fakeCT("tk", `true`)) +
				`,"f":` + q(fakeCT("tk", `false`)) + `,"z":` + q(fakeCT("tk", `null`)) + `,"o":` + q(fakeCT("tk", `{"b":[1,2],"a":"q"}`)) +
				`,"a":` + q(fakeCT("tk", `[{"k":1},"v"]`)) + `,"keep":1}`,
			[]Rule{transitRule("$['s','n','t','f','z','o','a']", "encrypt")}, 1},
		{"nested", `[{"p":{"ssn":"1"}},{"q":[{"ssn":2}]},{"ssn":[3]}]`,
			`[{"p":{"ssn":` + q(fakeCT("tk", `"1"`)) + `}},{"q":[{"ssn":` + q(fakeCT("tk", `2`)) + `}]},{"ssn":` + q(fakeCT("tk", `[3]`)) + `}]`,
			[]Rule{transitRule("$..ssn", "encrypt")}, 1},
		{"with other actions", `{"a":"x","b":"secret","c":"y"}`,
			`{"a":` + q(fakeCT("tk", `"x"`)) + `,"c":` + q(fakeCT("tk", `"y"`)) + `}`,
			[]Rule{transitRule("$.*", "encrypt"), r("$.b", "redact")}, 1},
		{"nothing selected", `{"a":1}`, `{"a":1}`, []Rule{transitRule("$.zz", "encrypt")}, 0},
		{"root", `"x"`, q(fakeCT("tk", `"x"`)), []Rule{transitRule("$", "encrypt")}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := &fakeTransit{}
			p := compileTest(t, tc.rules, Options{Transit: ft})
			var res Result
			out, err := p.Rewrite([]byte("pre:"), []byte(tc.in), &res)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); got != "pre:"+tc.want {
				t.Fatalf("got  %s\nwant pre:%s", got, tc.want)
			}
			if ft.enc != tc.calls || ft.dec != 0 {
				t.Fatalf("calls: %d encrypt, %d decrypt; want %d, 0", ft.enc, ft.dec, tc.calls)
			}
		})
	}
}

func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestTransitRoundTripEveryType(t *testing.T) {
	t.Parallel()
	ft := &fakeTransit{}
	enc := compileTest(t, []Rule{transitRule("$..secret", "encrypt")}, Options{Transit: ft})
	dec := compileTest(t, []Rule{transitRule("$..secret", "decrypt")}, Options{Transit: ft})
	in := `{"l":[{"secret":"a\"b\u0001é"},{"secret":12.50},{"secret":true},{"secret":false},{"secret":null},` +
		`{"secret":{"x":[1,{"y":"z"}],"e":{}}},{"secret":[]},{"secret":"\ud83d\ude00"}],"other":"o"}`
	var res Result
	ct, err := enc.Rewrite(nil, []byte(in), &res)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("a\\\"b")) || bytes.Count(ct, []byte(`"vault:v1:`)) != 8 || res.Rules[0].Count != 8 {
		t.Fatalf("encrypt output %s (count %d)", ct, res.Rules[0].Count)
	}
	pt, err := dec.Rewrite(nil, ct, &res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"l":[{"secret":"a\"b\u0001é"},{"secret":12.50},{"secret":true},{"secret":false},{"secret":null},` +
		`{"secret":{"x":[1,{"y":"z"}],"e":{}}},{"secret":[]},{"secret":"😀"}],"other":"o"}`
	if string(pt) != want {
		t.Fatalf("round trip\n got %s\nwant %s", pt, want)
	}
	if ft.enc != 1 || ft.dec != 1 || ft.encN[0] != 8 || ft.decN[0] != 8 || res.Failed != 0 {
		t.Fatalf("calls enc %d %v dec %d %v, failed %d", ft.enc, ft.encN, ft.dec, ft.decN, res.Failed)
	}
}

func TestTransitOneCallPerDirectionAndKey(t *testing.T) {
	t.Parallel()
	ft := &fakeTransit{}
	p := compileTest(t, []Rule{
		transitRule("$.a[*]", "encrypt"),
		r("$.b[*]", "encrypt", "key", "tk2", "mode", "transit"),
		transitRule("$.c[*]", "decrypt"),
	}, Options{Transit: ft})
	in := `{"a":[1,2,3],"b":[4,5],"c":[` + q(fakeCT("tk", "6")) + `,` + q(fakeCT("tk", "7")) + `],"d":[8]}`
	out, err := p.Rewrite(nil, []byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":[` + q(fakeCT("tk", "1")) + `,` + q(fakeCT("tk", "2")) + `,` + q(fakeCT("tk", "3")) + `],"b":[` +
		q(fakeCT("tk2", "4")) + `,` + q(fakeCT("tk2", "5")) + `],"c":[6,7],"d":[8]}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if got := strings.Join(ft.keys, " "); got != "enc:tk enc:tk2 dec:tk" {
		t.Fatalf("calls %s", got)
	}
	if ft.encN[0] != 3 || ft.encN[1] != 2 || ft.decN[0] != 2 {
		t.Fatalf("batch sizes %v %v", ft.encN, ft.decN)
	}
}

func TestTransitDecryptFailures(t *testing.T) {
	t.Parallel()
	badJSON := "vault:v1:" + base64.StdEncoding.EncodeToString([]byte("fk|tk|{bad"))
	rawNUL := "vault:v1:" + base64.StdEncoding.EncodeToString([]byte("fk|tk|\"a\x00b\""))
	tests := []struct {
		name, in, want string
		failed, calls  int
	}{
		{"item fails -> null", `{"a":"vault:v1:Z2FyYmFnZQ==","b":` + q(fakeCT("tk", `"ok"`)) + `}`, `{"a":null,"b":"ok"}`, 1, 1},
		{"other key -> null", `[` + q(fakeCT("other", `1`)) + `,` + q(fakeCT("tk", `2`)) + `]`, `[null,2]`, 1, 1},
		{"invalid JSON plaintext -> null", `{"a":` + q(badJSON) + `}`, `{"a":null}`, 1, 1},
		{"raw control byte in plaintext -> null", `{"a":` + q(rawNUL) + `,"b":` + q(fakeCT("tk", "[1 , 2]")) + `}`, `{"a":null,"b":[1 , 2]}`, 1, 1},
		{"not a string: redacted in the scan", `{"a":12,"b":{"x":1},"c":` + q(fakeCT("tk", `3`)) + `}`, `{"c":3}`, 2, 1},
		{"not a vault ciphertext: no call", `{"a":"plain","b":"vault:v:AA==","c":"vault:v1:","d":"vault:v1:a b"}`, `{}`, 4, 0},
		{"escaped ciphertext", `{"a":"vault\u003av1:` + strings.TrimPrefix(fakeCT("tk", `"e"`), "vault:v1:") + `"}`, `{"a":"e"}`, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := &fakeTransit{}
			p := compileTest(t, []Rule{transitRule("$.*", "decrypt")}, Options{Transit: ft})
			var res Result
			out, err := p.Rewrite(nil, []byte(tc.in), &res)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || res.Failed != tc.failed || ft.dec != tc.calls || ft.enc != 0 {
				t.Fatalf("got %s failed %d calls %d; want %s failed %d calls %d", out, res.Failed, ft.dec, tc.want, tc.failed, tc.calls)
			}
		})
	}
}

func TestTransitUnavailable(t *testing.T) {
	t.Parallel()
	vaultDown := errors.New("vault down")
	tests := []struct {
		name    string
		transit Transit
		action  string
		in      string
		want    string
	}{
		{"call fails (encrypt)", &fakeTransit{fail: vaultDown}, "encrypt", `{"a":"x"}`,
			`transforms: key unavailable: transit encrypt with key "tk": vault down`},
		{"call fails (decrypt)", &fakeTransit{fail: vaultDown}, "decrypt", `{"a":` + q(fakeCT("tk", "1")) + `}`,
			`transforms: key unavailable: transit decrypt with key "tk": vault down`},
		{"nil Transit (encrypt)", nil, "encrypt", `{"a":"x"}`,
			`transforms: key unavailable: encrypt with mode transit (key "tk"): no Vault transit configured`},
		{"nil Transit (decrypt)", nil, "decrypt", `{"a":"x"}`,
			`transforms: key unavailable: decrypt with mode transit (key "tk"): no Vault transit configured`},
		{"short answer", &shortTransit{}, "encrypt", `{"a":"x","b":"y"}`,
			`transforms: key unavailable: transit encrypt with key "tk": 1 ciphertexts for 2 values`},
		{"not a vault ciphertext", &badCTTransit{}, "encrypt", `{"a":"x"}`,
			`transforms: key unavailable: transit encrypt with key "tk": answer 0 is not a Vault ciphertext`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := compileTest(t, []Rule{transitRule("$.*", tc.action)}, Options{Transit: tc.transit})
			dst := []byte("pre")
			out, err := p.Rewrite(dst, []byte(tc.in), nil)
			if !errors.Is(err, ErrKeyUnavailable) || err.Error() != tc.want {
				t.Fatalf("err %v\nwant %s", err, tc.want)
			}
			if string(out) != "pre" {
				t.Fatalf("output on error: %q", out)
			}
			if strings.HasSuffix(tc.want, "vault down") && !errors.Is(err, vaultDown) {
				t.Fatalf("cause not wrapped: %v", err)
			}
		})
	}
	// Nothing selected: no call, no error, even without a Transit.
	p := compileTest(t, []Rule{transitRule("$.zz", "encrypt")}, Options{})
	if out, err := p.Rewrite(nil, []byte(`{"a":1}`), nil); err != nil || string(out) != `{"a":1}` {
		t.Fatalf("got %s, %v", out, err)
	}
}

type shortTransit struct{ fakeTransit }

func (*shortTransit) EncryptBatch(context.Context, string, [][]byte) ([]string, error) {
	return []string{"vault:v1:AA=="}, nil
}

type badCTTransit struct{ fakeTransit }

func (*badCTTransit) EncryptBatch(_ context.Context, _ string, pts [][]byte) ([]string, error) {
	return []string{string(pts[0])}, nil
}

func TestTransitRecordIDs(t *testing.T) {
	t.Parallel()
	ft := &fakeTransit{}
	p := compileTest(t, []Rule{transitRule("$.items[*].id", "encrypt")}, Options{Transit: ft, RecordIDs: "$.items[*].id"})
	var res Result
	if _, err := p.Rewrite(nil, []byte(`{"items":[{"id":7},{"id":"b"}]}`), &res); err != nil {
		t.Fatal(err)
	}
	want := []string{q(fakeCT("tk", "7")), q(fakeCT("tk", `"b"`))}
	if strings.Join(res.RecordIDs, ",") != strings.Join(want, ",") {
		t.Fatalf("record ids %q, want %q", res.RecordIDs, want)
	}
}

func TestTransitCompile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule Rule
		want string // "" accepted
	}{
		{transitRule("$.a", "encrypt"), ""},
		{transitRule("$.a", "decrypt"), ""},
		{r("$.a", "encrypt", "mode", "transit"), `rule 0 (encrypt $.a): key is required (the name of a Vault transit key)`},
		{r("$.a", "decrypt", "key", "a/../b", "mode", "transit"), `rule 0 (decrypt $.a): key must be a Vault transit key name (letters, digits, - _ .)`},
		{r("$.a", "encrypt", "key", "tk", "mode", "transit", "prefix", "x_"),
			`rule 0 (encrypt $.a): prefix does not apply to mode "transit" (the ciphertext is Vault's vault:v<N>:... text)`},
		{r("$.a", "encrypt", "key", "tk", "mode", "aws-kms"), `rule 0 (encrypt $.a): mode must be "transit" or omitted (omitted: the keyring's data key)`},
		{r("$.a", "decrypt", "key", "tk", "mode", 1), `rule 0 (decrypt $.a): mode must be "transit" or omitted (omitted: the keyring's data key)`},
		{r("$.a", "tokenize", "key", "tk", "mode", "transit"), `rule 0 (tokenize $.a): unknown parameter mode for tokenize (accepted: key, prefix)`},
	}
	for _, tc := range tests {
		// No keyring and no Transit: transit rules still compile.
		_, err := Compile([]Rule{tc.rule}, Options{})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.rule, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidRule) || err.Error() != "transforms: invalid rule: "+tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

func TestTransitConcurrent(t *testing.T) {
	t.Parallel()
	ft := &fakeTransit{}
	enc := compileTest(t, []Rule{transitRule("$..v", "encrypt")}, Options{Transit: ft})
	dec := compileTest(t, []Rule{transitRule("$..v", "decrypt")}, Options{Transit: ft})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, back []byte
			for i := 0; i < 50; i++ {
				in := []byte(`{"v":[` + strings.Repeat(`"x",`, g) + `1],"w":2}`)
				var err error
				if out, err = enc.Rewrite(out[:0], in, nil); err == nil {
					back, err = dec.Rewrite(back[:0], out, nil)
				}
				if err != nil || !bytes.Equal(back, in) {
					errs <- errors.New("round trip: " + string(back))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// FuzzTransit: on any input, the output of encrypt/decrypt in transit mode
// never holds a 0x00 byte (no placeholder reaches a client) and is valid
// JSON; errors are only the invalid-input kinds.
func FuzzTransit(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":[1,{"c":null}]}`, `[` + q(fakeCT("tk", `"z"`)) + `,"vault:v1:AAAA",3]`,
		`"\u0000"`, `{"a":"\u0000\u0000\u0000\u0000"}`, `{"a":1,"a":2}`, `[]`, `{"x":{"a":"\"\u0000\""}}`,
	} {
		f.Add([]byte(s))
	}
	ft := &fakeTransit{}
	enc := compileTest(f, []Rule{transitRule("$..a", "encrypt"), transitRule("$[1]", "encrypt")}, Options{Transit: ft})
	dec := compileTest(f, []Rule{transitRule("$..a", "decrypt"), transitRule("$[0]", "decrypt")}, Options{Transit: ft})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, p := range []*Program{enc, dec} {
			out, err := p.Rewrite(nil, in, nil)
			if err != nil {
				if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrTooDeep) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if bytes.IndexByte(out, 0) >= 0 {
				t.Fatalf("0x00 in output %q", out)
			}
			if !json.Valid(out) {
				t.Fatalf("invalid output %q", out)
			}
		}
	})
}

// BenchmarkRewriteTransit1000 measures the transit overhead (placeholders,
// batching, substitution) with an in-process fake Transit: 1000 ssn values
// in one batch.
func BenchmarkRewriteTransit1000(b *testing.B) {
	p := compileTest(b, []Rule{transitRule("$.customers[*].ssn", "encrypt")}, Options{Transit: &fakeTransit{}})
	doc := customers(1000)
	out, err := p.Rewrite(nil, doc, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		out, _ = p.Rewrite(out[:0], doc, nil)
	}
}
