package transforms

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"

	"github.com/veilgw/veil/internal/testvectors"
	"github.com/veilgw/veil/vault"
)

// ring is a test keyring with several versions per key name, activation
// times and a minimum decryption version; it counts its lookups.
type ring struct {
	keys     map[string][]vault.Key // ascending by version
	minDec   map[string]int
	primary  atomic.Int32
	versions atomic.Int32
}

// newRing returns a keyring holding versions 1..n of name, version v
// activated in 2019+v with 32-byte material filled with seed+v. Versions
// listed in future activate in 2100.
func newRing(name string, n int, seed byte, future ...int) *ring {
	k := &ring{keys: map[string][]vault.Key{}, minDec: map[string]int{}}
	k.add(name, n, seed, future...)
	return k
}

func (k *ring) add(name string, n int, seed byte, future ...int) *ring {
	for v := 1; v <= n; v++ {
		mat := make([]byte, 32)
		for i := range mat {
			mat[i] = seed + byte(v)
		}
		act := time.Date(2019+v, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, f := range future {
			if f == v {
				act = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
			}
		}
		k.keys[name] = append(k.keys[name], vault.Key{Name: name, Version: v, Material: mat, Activation: act})
	}
	return k
}

func (k *ring) Primary(name string, now time.Time) (vault.Key, error) {
	k.primary.Add(1)
	ks := k.keys[name]
	for i := len(ks) - 1; i >= 0; i-- {
		if !ks[i].Activation.After(now) {
			return ks[i], nil
		}
	}
	return vault.Key{}, fmt.Errorf("%w: %q", vault.ErrKeyNotFound, name)
}

func (k *ring) Version(name string, version int) (vault.Key, error) {
	k.versions.Add(1)
	if version < k.minDec[name] {
		return vault.Key{}, fmt.Errorf("%w: %q v%d", vault.ErrKeyRetired, name, version)
	}
	for _, key := range k.keys[name] {
		if key.Version == version {
			return key, nil
		}
	}
	return vault.Key{}, fmt.Errorf("%w: %q v%d", vault.ErrKeyNotFound, name, version)
}

func (k *ring) Status() []vault.KeyStatus { return nil }
func (k *ring) Ready() error              { return nil }

// rewriteString compiles rules under keys and rewrites doc.
func rewriteString(t testing.TB, rules []Rule, keys vault.Keyring, doc string) (string, Result) {
	t.Helper()
	var res Result
	out, err := compileTest(t, rules, Options{Keys: keys}).Rewrite(nil, []byte(doc), &res)
	if err != nil {
		t.Fatalf("rewrite %s: %v", doc, err)
	}
	return string(out), res
}

// cryptoPair is a reversible action and its reversal.
type cryptoPair struct {
	protect, reveal, prefix string
}

var cryptoPairs = []cryptoPair{{"tokenize", "detokenize", "tok_"}, {"encrypt", "decrypt", "enc_"}}

// typedInputs are JSON values of every type and the canonical text the
// reversal must restore.
var typedInputs = []struct{ in, want string }{
	{`"alice@example.com"`, `"alice@example.com"`},
	{`"\u0061\"é\u00e9\n"`, `"a\"éé\n"`},
	{`""`, `""`},
	{`"42"`, `"42"`},
	{`42`, `42`},
	{`-1.5e-3`, `-1.5e-3`},
	{`true`, `true`},
	{`false`, `false`},
	{`null`, `null`},
	{`{ "a" : "x\u0079", "b" : [ 1 , { "c" : null } ] }`, `{"a":"xy","b":[1,{"c":null}]}`},
	{`[]`, `[]`},
	{`{}`, `{}`},
	{`[1,"two",[true]]`, `[1,"two",[true]]`},
	{`"` + strings.Repeat("long value ", 40) + `"`, `"` + strings.Repeat("long value ", 40) + `"`},
}

// protected returns the protected form of the member v of out ({"v":...}).
func protected(t testing.TB, out string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	return string(m["v"])
}

// TestCryptoRoundTrip protects every JSON type under each key version of
// a key rotated twice (v1, v2, v3 primary) and reverses it with the
// rotated keyring: old versions still open and the original type comes
// back.
func TestCryptoRoundTrip(t *testing.T) {
	t.Parallel()
	full := newRing("pii", 3, 0)
	for _, pair := range cryptoPairs {
		for v := 1; v <= 3; v++ {
			at := newRing("pii", v, 0) // primary v, same material as full
			shape := regexp.MustCompile(`^"` + pair.prefix + fmt.Sprintf("v%d", v) + `_[A-Za-z0-9_-]+"$`)
			for _, tc := range typedInputs {
				t.Run(fmt.Sprintf("%s/v%d/%s", pair.protect, v, tc.in), func(t *testing.T) {
					t.Parallel()
					out, res := rewriteString(t, []Rule{r("$.v", pair.protect, "key", "pii")}, at, `{"v":`+tc.in+`}`)
					tok := protected(t, out)
					if !shape.MatchString(tok) || res.Failed != 0 || res.Rules[0].Count != 1 {
						t.Fatalf("protected form %s (failed %d, count %d)", tok, res.Failed, res.Rules[0].Count)
					}
					back, res := rewriteString(t, []Rule{r("$.v", pair.reveal, "key", "pii")}, full, out)
					if want := `{"v":` + tc.want + `}`; back != want || res.Failed != 0 {
						t.Errorf("reversed to %s (failed %d), want %s", back, res.Failed, want)
					}
				})
			}
		}
	}
}

func TestTokenizeDeterministic(t *testing.T) {
	t.Parallel()
	rule := []Rule{r("$[*]", "tokenize", "key", "pii")}
	doc := `["alice","\u0061lice","bob",42,"42",{"a":1},{ "a" : 1 }]`
	tokens := func(k vault.Keyring) []string {
		out, _ := rewriteString(t, rule, k, doc)
		var toks []string
		if err := json.Unmarshal([]byte(out), &toks); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return toks
	}
	a, b := tokens(newRing("pii", 3, 0)), tokens(newRing("pii", 3, 0)) // two replicas
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("two keyrings with the same material disagree:\n%v\n%v", a, b)
	}
	if a[0] != a[1] || a[5] != a[6] {
		t.Errorf("same value, different tokens: %v", a)
	}
	if a[0] == a[2] || a[3] == a[4] {
		t.Errorf("different values, same token: %v", a)
	}
	other := tokens(newRing("pii", 3, 100))
	v2 := tokens(newRing("pii", 2, 0))
	renamed := tokens(newRing("pii", 3, 0).add("other", 3, 0))
	for i := range a {
		if other[i] == a[i] || v2[i] == a[i] {
			t.Errorf("value %d: token unchanged by another key or version: %s", i, a[i])
		}
	}
	if renamed[0] != a[0] {
		t.Errorf("adding another key name changed a token")
	}
	// The key name is bound: the same material under another name opens
	// nothing of pii.
	sameMat := newRing("pii", 3, 0).add("other", 3, 0)
	out, res := rewriteString(t, []Rule{r("$[*]", "detokenize", "key", "other")}, sameMat, `["`+a[0]+`"]`)
	if out != `[]` || res.Failed != 1 {
		t.Errorf("token of pii opened under key other: %s", out)
	}
}

func TestEncryptRandomised(t *testing.T) {
	t.Parallel()
	out, _ := rewriteString(t, []Rule{r("$[*]", "encrypt", "key", "pii")}, newRing("pii", 1, 0), `["alice","alice"]`)
	var envs []string
	if err := json.Unmarshal([]byte(out), &envs); err != nil {
		t.Fatal(err)
	}
	if envs[0] == envs[1] {
		t.Errorf("encrypt is deterministic: %v", envs)
	}
	// nonce 12 + "alice" 7 (quoted) + tag 16
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(envs[0], "enc_v1_")); err != nil || len(raw) != 12+7+16 {
		t.Errorf("envelope %s: %d bytes, %v", envs[0], len(raw), err)
	}
}

// variants returns tampered forms of the valid token tok (prefix+v<N>_+b64).
func variants(t *testing.T, tok, prefix string) map[string]string {
	t.Helper()
	rest := strings.TrimPrefix(tok, prefix)
	ver, b64, ok := strings.Cut(rest, "_")
	if !ok {
		t.Fatalf("token %s", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	vs := map[string]string{}
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for i := range payload {
		for _, bit := range []byte{0x01, 0x80} {
			p := []byte(string(payload))
			p[i] ^= bit
			vs[fmt.Sprintf("flip byte %d bit %#x", i, bit)] = quote(prefix + ver + "_" + base64.RawURLEncoding.EncodeToString(p))
		}
	}
	for i := 0; i < len(tok); i++ {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		vs[fmt.Sprintf("char %d", i)] = quote(string(b))
		vs[fmt.Sprintf("truncate %d", i)] = quote(tok[:i])
	}
	for _, v := range []string{"v0", "v2", "v4", "v03", "v", "v-3", "V3", "v99999999999"} {
		vs["version "+v] = quote(prefix + v + "_" + b64)
	}
	for name, s := range map[string]string{
		"prefix swapped":    "enc_" + rest,
		"prefix tok":        "tok_" + rest,
		"no prefix":         rest,
		"padding":           tok + "=",
		"std alphabet":      prefix + ver + "_" + base64.StdEncoding.EncodeToString(payload),
		"inner newline":     prefix + ver + "_" + b64[:4] + "\n" + b64[4:],
		"trailing space":    tok + " ",
		"extra block":       tok + "AAAAAAAAAAAAAAAAAAAAAA",
		"empty payload":     prefix + ver + "_",
		"non-canonical b64": prefix + ver + "_" + b64[:len(b64)-1] + nonCanonical(b64),
	} {
		if s != tok {
			vs[name] = quote(s)
		}
	}
	vs["escaped token"] = `"` + strings.ReplaceAll(tok, "_", `\u005f`) + `"` // the same token, escaped: valid
	for name, s := range map[string]string{"number": `3`, "object": `{"t":` + quote(tok) + `}`, "array": `[` + quote(tok) + `]`,
		"bool": `true`, "null": `null`} {
		vs["type "+name] = s
	}
	return vs
}

// nonCanonical returns a last base64 character decoding to the same bytes
// as the last character of b64 with non-zero trailing bits, or the
// character itself when the length has no trailing bits.
func nonCanonical(b64 string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alpha, b64[len(b64)-1])
	switch len(b64) % 4 {
	case 2:
		return string(alpha[last|1])
	case 3:
		return string(alpha[last|1])
	}
	return string(b64[len(b64)-1])
}

// TestCryptoTamper: every modified token or envelope is redacted and
// counted, never restored to anything.
func TestCryptoTamper(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 3, 0)
	for _, pair := range cryptoPairs {
		t.Run(pair.protect, func(t *testing.T) {
			t.Parallel()
			out, _ := rewriteString(t, []Rule{r("$.v", pair.protect, "key", "pii")}, keys, `{"v":"alice"}`)
			var tok string
			if err := json.Unmarshal([]byte(protected(t, out)), &tok); err != nil {
				t.Fatal(err)
			}
			p := compileTest(t, []Rule{r("$.v", pair.reveal, "key", "pii")}, Options{Keys: keys})
			vs := variants(t, tok, pair.prefix)
			names := make([]string, 0, len(vs))
			for n := range vs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, name := range names {
				var res Result
				got, err := p.Rewrite(nil, []byte(`{"v":`+vs[name]+`}`), &res)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want, failed := `{}`, 1
				if name == "escaped token" || (name == "non-canonical b64" && vs[name] == `"`+tok+`"`) {
					want, failed = `{"v":"alice"}`, 0
				}
				if string(got) != want || res.Failed != failed {
					t.Errorf("%s: %s -> %s (failed %d), want %s", name, vs[name], got, res.Failed, want)
				}
			}
		})
	}
}

// TestCryptoPurposeSeparation: a token never opens as an envelope and
// the reverse, even under the same prefix (separate subkeys and AD).
func TestCryptoPurposeSeparation(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 1, 0)
	tok, _ := rewriteString(t, []Rule{r("$.v", "tokenize", "key", "pii", "prefix", "x_")}, keys, `{"v":"alice"}`)
	env, _ := rewriteString(t, []Rule{r("$.v", "encrypt", "key", "pii", "prefix", "x_")}, keys, `{"v":"alice"}`)
	for _, tc := range []struct{ doc, action string }{{tok, "decrypt"}, {env, "detokenize"}} {
		out, res := rewriteString(t, []Rule{r("$.v", tc.action, "key", "pii", "prefix", "x_")}, keys, tc.doc)
		if out != `{}` || res.Failed != 1 {
			t.Errorf("%s of %s: %s (failed %d)", tc.action, tc.doc, out, res.Failed)
		}
	}
}

// TestCryptoRetiredAndUnknownVersions: a retired (crypto-shredded) or
// unknown version is redacted and counted; newer versions still open; a
// future version is not primary yet.
func TestCryptoRetiredAndUnknownVersions(t *testing.T) {
	t.Parallel()
	for _, pair := range cryptoPairs {
		t.Run(pair.protect, func(t *testing.T) {
			t.Parallel()
			var toks []string
			for v := 1; v <= 3; v++ {
				out, _ := rewriteString(t, []Rule{r("$.v", pair.protect, "key", "pii")}, newRing("pii", v, 0), `{"v":"alice"}`)
				toks = append(toks, protected(t, out))
			}
			withFuture := newRing("pii", 4, 0, 4)
			out, _ := rewriteString(t, []Rule{r("$.v", pair.protect, "key", "pii")}, withFuture, `{"v":"alice"}`)
			if !strings.HasPrefix(protected(t, out), `"`+pair.prefix+"v3_") {
				t.Errorf("future version used as primary: %s", out)
			}
			retired := newRing("pii", 3, 0)
			retired.minDec["pii"] = 2
			doc := `[` + strings.Join(toks, ",") + `]`
			got, res := rewriteString(t, []Rule{r("$[*]", pair.reveal, "key", "pii")}, retired, doc)
			if got != `["alice","alice"]` || res.Failed != 1 {
				t.Errorf("min_decryption_version 2: %s (failed %d)", got, res.Failed)
			}
			unknown := newRing("pii", 2, 0) // v3 unknown
			got, res = rewriteString(t, []Rule{r("$[*]", pair.reveal, "key", "pii")}, unknown, doc)
			if got != `["alice","alice"]` || res.Failed != 1 {
				t.Errorf("v3 unknown: %s (failed %d)", got, res.Failed)
			}
		})
	}
}

func TestCryptoKeyUnavailable(t *testing.T) {
	t.Parallel()
	keys, err := vault.NewMemory("pii")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ action, purpose string }{
		{"tokenize", "veil/tokenize"}, {"detokenize", "veil/tokenize"}, {"encrypt", "veil/encrypt"}, {"decrypt", "veil/encrypt"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			t.Parallel()
			p := compileTest(t, []Rule{r("$.v", tc.action, "key", "nope")}, Options{Keys: keys})
			out, err := p.Rewrite([]byte("x"), []byte(`{"v":"tok_v1_AAAA"}`), nil)
			want := `transforms: key unavailable: ` + tc.purpose + ` key "nope": vault: key not available: "nope"`
			if !errors.Is(err, ErrKeyUnavailable) || !errors.Is(err, vault.ErrKeyNotFound) || err.Error() != want || string(out) != "x" {
				t.Errorf("got %q, %v; want %s", out, err, want)
			}
		})
	}
}

// TestCryptoResolvesKeysOncePerRewrite: one Primary call per key and
// Rewrite, one Version call per distinct version and Rewrite, whatever
// the number of values.
func TestCryptoResolvesKeysOncePerRewrite(t *testing.T) {
	t.Parallel()
	src := newRing("pii", 3, 0)
	var toks []string
	for v := 1; v <= 3; v++ {
		for i := range 10 {
			out, _ := rewriteString(t, []Rule{r("$.v", "tokenize", "key", "pii")}, newRing("pii", v, 0), fmt.Sprintf(`{"v":"user%d"}`, i))
			toks = append(toks, protected(t, out))
		}
	}
	doc := []byte(`[` + strings.Join(toks, ",") + `]`)
	p := compileTest(t, []Rule{r("$[*]", "detokenize", "key", "pii")}, Options{Keys: src})
	for i := int32(1); i <= 3; i++ {
		var res Result
		out, err := p.Rewrite(nil, doc, &res)
		if err != nil || res.Failed != 0 || !strings.HasPrefix(string(out), `["user0","user1"`) {
			t.Fatalf("rewrite: %s %v", out, err)
		}
		if pc, vc := src.primary.Load(), src.versions.Load(); pc != i || vc != 3*i {
			t.Fatalf("after %d rewrites: %d Primary and %d Version calls, want %d and %d", i, pc, vc, i, 3*i)
		}
	}
	enc := compileTest(t, []Rule{r("$.customers[*].ssn", "encrypt", "key", "pii"), r("$.customers[*].email", "tokenize", "key", "pii")}, Options{Keys: src})
	before := src.primary.Load()
	if _, err := enc.Rewrite(nil, customers(30), nil); err != nil {
		t.Fatal(err)
	}
	if n := src.primary.Load() - before; n != 2 {
		t.Errorf("encrypt+tokenize of 60 values: %d Primary calls, want 2", n)
	}
}

// TestCryptoRotationTakesEffect: a pooled rewriter re-resolves the
// primary version on the next Rewrite.
func TestCryptoRotationTakesEffect(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 2, 0, 2)
	p := compileTest(t, []Rule{r("$.v", "encrypt", "key", "pii")}, Options{Keys: keys})
	out, err := p.Rewrite(nil, []byte(`{"v":1}`), nil)
	if err != nil || !strings.HasPrefix(string(out), `{"v":"enc_v1_`) {
		t.Fatalf("%s %v", out, err)
	}
	keys.keys["pii"][1].Activation = time.Unix(0, 0) // v2 becomes active (single goroutine)
	out, err = p.Rewrite(out[:0], []byte(`{"v":1}`), nil)
	if err != nil || !strings.HasPrefix(string(out), `{"v":"enc_v2_`) {
		t.Fatalf("after rotation: %s %v", out, err)
	}
}

func TestCryptoCompileErrors(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 1, 0)
	tests := []struct {
		rule Rule
		opts Options
		want string
	}{
		{r("$.a", "tokenize"), Options{Keys: keys}, `rule 0 (tokenize $.a): key is required (the name of a keyring key)`},
		{r("$.a", "detokenize", "key", ""), Options{Keys: keys}, `rule 0 (detokenize $.a): key is required (the name of a keyring key)`},
		{r("$.a", "encrypt", "key", 7), Options{Keys: keys}, `rule 0 (encrypt $.a): key is required (the name of a keyring key)`},
		{r("$.a", "decrypt", "key", "pii"), Options{}, `rule 0 (decrypt $.a): decrypt needs a keyring (Options.Keys is nil)`},
		{r("$.a", "tokenize", "key", "pii", "prefix", 1), Options{Keys: keys}, `rule 0 (tokenize $.a): prefix must be a string`},
		{r("$.a", "tokenize", "key", "pii", "mode", "transit"), Options{Keys: keys}, `rule 0 (tokenize $.a): unknown parameter mode for tokenize (accepted: key, prefix)`},
		{r("$.a", "encrypt", "key", "pii", "mode", "Transit"), Options{Keys: keys},
			`rule 0 (encrypt $.a): mode must be "transit" or omitted (omitted: the keyring's data key)`},
		{r("$.a", "decrypt", "key", "pii", "mode", "local"), Options{Keys: keys},
			`rule 0 (decrypt $.a): mode must be "transit" or omitted (omitted: the keyring's data key)`},
		{r("$.a", "detokenize", "key", "pii", "length", 8), Options{Keys: keys}, `rule 0 (detokenize $.a): unknown parameter length for detokenize (accepted: key, prefix)`},
	}
	for _, tc := range tests {
		_, err := Compile([]Rule{tc.rule}, tc.opts)
		if !errors.Is(err, ErrInvalidRule) || err.Error() != "transforms: invalid rule: "+tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

// TestCryptoPrecedence: the design's ranks decide between the crypto
// actions and the others.
func TestCryptoPrecedence(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 1, 0)
	tests := []struct {
		rules []Rule
		want  string // prefix of the member's output
	}{
		{[]Rule{r("$.v", "tokenize", "key", "pii"), r("$.v", "encrypt", "key", "pii")}, `{"v":"enc_v1_`},
		{[]Rule{r("$.v", "tokenize", "key", "pii"), r("$.v", "hash", "key", "pii")}, `{"v":"h_`},
		{[]Rule{r("$.v", "mask"), r("$.v", "tokenize", "key", "pii")}, `{"v":"tok_v1_`},
		{[]Rule{r("$.v", "detokenize", "key", "pii"), r("$.v", "mask")}, `{"v":"*****"}`},
		{[]Rule{r("$.v", "decrypt", "key", "pii"), r("$.v", "redact")}, `{}`},
	}
	for i, tc := range tests {
		out, _ := rewriteString(t, tc.rules, keys, `{"v":"alice"}`)
		if !strings.HasPrefix(out, tc.want) {
			t.Errorf("%d: %s, want %s...", i, out, tc.want)
		}
	}
}

// TestCryptoConcurrent runs tokenize/detokenize and encrypt/decrypt on
// shared Programs from several goroutines (run with -race).
func TestCryptoConcurrent(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 3, 0)
	prot := compileTest(t, []Rule{r("$.customers[*].email", "tokenize", "key", "pii"), r("$.customers[*].ssn", "encrypt", "key", "pii")}, Options{Keys: keys})
	rev := compileTest(t, []Rule{r("$.customers[*].email", "detokenize", "key", "pii"), r("$.customers[*].ssn", "decrypt", "key", "pii")}, Options{Keys: keys})
	doc := customers(20)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 20 {
				mid, err := prot.Rewrite(nil, doc, nil)
				if err != nil {
					t.Error(err)
					return
				}
				back, err := rev.Rewrite(nil, mid, nil)
				if err != nil || string(back) != string(doc) {
					t.Errorf("goroutine %d: round trip differs (%v)", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestAESSIVWycheproof checks tink's AES-SIV, the primitive tokenize
// uses, against the Wycheproof AES-SIV-CMAC vectors with 64-byte keys
// (the only size tink's AES-SIV and Veil use).
func TestAESSIVWycheproof(t *testing.T) {
	t.Parallel()
	path := filepath.Join(testvectors.Dir(t, "wycheproof"), "aes_siv_cmac_test.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("SKIP: %v", err)
	}
	var file struct {
		TestGroups []struct {
			KeySize int `json:"keySize"`
			Tests   []struct {
				TcID   int    `json:"tcId"`
				KeyHex string `json:"key"`
				AadHex string `json:"aad"`
				MsgHex string `json:"msg"`
				CtHex  string `json:"ct"`
				Result string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	skipped := map[int]int{}
	valid, invalid := 0, 0
	for _, g := range file.TestGroups {
		if g.KeySize != 512 {
			skipped[g.KeySize] += len(g.Tests)
			continue
		}
		for _, tc := range g.Tests {
			key, _ := hex.DecodeString(tc.KeyHex)
			aad, _ := hex.DecodeString(tc.AadHex)
			msg, _ := hex.DecodeString(tc.MsgHex)
			ct, _ := hex.DecodeString(tc.CtHex)
			siv, err := subtle.NewAESSIV(key)
			if err != nil {
				t.Fatalf("tc %d: %v", tc.TcID, err)
			}
			pt, openErr := siv.DecryptDeterministically(ct, aad)
			switch tc.Result {
			case "valid":
				valid++
				got, err := siv.EncryptDeterministically(msg, aad)
				if err != nil || hex.EncodeToString(got) != tc.CtHex {
					t.Errorf("tc %d: encrypt %x, %v; want %s", tc.TcID, got, err, tc.CtHex)
				}
				if openErr != nil || hex.EncodeToString(pt) != tc.MsgHex {
					t.Errorf("tc %d: decrypt %x, %v", tc.TcID, pt, openErr)
				}
			case "invalid":
				invalid++
				if openErr == nil {
					t.Errorf("tc %d: invalid ciphertext opened to %x", tc.TcID, pt)
				}
			default:
				t.Errorf("tc %d: unexpected result %q", tc.TcID, tc.Result)
			}
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("no 64-byte-key vectors checked (valid %d, invalid %d)", valid, invalid)
	}
	t.Logf("checked %d valid and %d invalid 64-byte-key vectors; skipped (key size in bits: tests) %v: "+
		"tink's AES-SIV takes only 64-byte keys (AES-256 for S2V and CTR), the size tokenize derives", valid, invalid, skipped)
}

// TestCryptoBesideHash: crypto rules and hash rules on one key share a
// Program without disturbing each other (the hash pseudonym is the one a
// hash-only Program gives), and record ids of tokenized nodes are
// collected in their protected form.
func TestCryptoBesideHash(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 3, 0)
	doc := []byte(`{"customers":[{"id":"c-1","email":"a@x.io"},{"id":"c-2","email":"b@x.io"}]}`)
	hashOnly, _ := rewriteString(t, []Rule{r("$.customers[*].id", "hash", "key", "pii")}, keys, string(doc))
	p := compileTest(t, []Rule{
		r("$.customers[*].email", "tokenize", "key", "pii"),
		r("$.customers[*].id", "hash", "key", "pii"),
		r("$.customers[*].email", "encrypt", "key", "pii", "prefix", "unused_"), // encrypt outranks tokenize
	}, Options{Keys: keys, RecordIDs: "$.customers[*].email"})
	var res Result
	for range 2 { // the second Rewrite runs on a pooled rewriter with memos
		out, err := p.Rewrite(nil, doc, &res)
		if err != nil {
			t.Fatal(err)
		}
		var got, want struct{ Customers []map[string]string }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(hashOnly), &want); err != nil {
			t.Fatal(err)
		}
		for i, c := range got.Customers {
			if c["id"] != want.Customers[i]["id"] || !strings.HasPrefix(c["email"], "unused_v3_") {
				t.Errorf("customer %d: %v (hash alone gives %s)", i, c, want.Customers[i]["id"])
			}
			if len(res.RecordIDs) != 2 || res.RecordIDs[i] != `"`+c["email"]+`"` {
				t.Errorf("record ids %v, want the protected emails", res.RecordIDs)
			}
		}
		if r := res.Rules; r[0].Count != 0 || r[1].Count != 2 || r[2].Count != 2 {
			t.Errorf("rule counts %v", r)
		}
	}
}
