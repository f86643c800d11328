package transforms

import (
	"bytes"
	"testing"

	"github.com/veilgw/veil/transforms/ff1"
)

// TestKeyCachesFollowTheKeyring: a Program caches the subkeys it derives,
// and the gateway keeps Programs for the life of the process. When the
// keyring serves other material under the same name and version (a key
// deleted in Vault and created again: vault kv metadata delete, then
// veil keys rotate), a cached Program must use the new material: not keep
// hashing, tokenizing and encrypting with the destroyed key, nor keep
// opening values sealed with it.
func TestKeyCachesFollowTheKeyring(t *testing.T) {
	t.Parallel()
	keys := newRing("pii", 1, 0x51)
	progs := map[string]*Program{}
	for _, a := range []string{"hash", "tokenize", "detokenize", "encrypt", "decrypt"} {
		progs[a] = compileTest(t, []Rule{r("$.v", a, "key", "pii")}, Options{Keys: keys})
	}
	run := func(p *Program, doc string) (string, Result) {
		t.Helper()
		var res Result
		out, err := p.Rewrite(nil, []byte(doc), &res)
		if err != nil {
			t.Fatal(err)
		}
		return string(out), res
	}
	oldTok, _ := run(progs["tokenize"], `{"v":"alice"}`)
	oldEnv, _ := run(progs["encrypt"], `{"v":"alice"}`)
	oldHash, _ := run(progs["hash"], `{"v":"alice"}`)
	if back, _ := run(progs["detokenize"], oldTok); back != `{"v":"alice"}` {
		t.Fatalf("setup: detokenize %s", back)
	}
	if back, _ := run(progs["decrypt"], oldEnv); back != `{"v":"alice"}` {
		t.Fatalf("setup: decrypt %s", back)
	}

	keys.keys["pii"][0].Material = bytes.Repeat([]byte{0xEE}, 32)

	fresh := func(action string) string {
		out, _ := run(compileTest(t, []Rule{r("$.v", action, "key", "pii")}, Options{Keys: keys}), `{"v":"alice"}`)
		return out
	}
	if got, want := first(run(progs["hash"], `{"v":"alice"}`)), fresh("hash"); got != want || got == oldHash {
		t.Errorf("hash after the key changed: %s, a fresh Program gives %s (before: %s)", got, want, oldHash)
	}
	if got, want := first(run(progs["tokenize"], `{"v":"alice"}`)), fresh("tokenize"); got != want || got == oldTok {
		t.Errorf("tokenize after the key changed: %s, a fresh Program gives %s (before: %s)", got, want, oldTok)
	}
	for _, c := range []struct{ action, doc string }{{"detokenize", oldTok}, {"decrypt", oldEnv}} {
		if back, res := run(progs[c.action], c.doc); back != `{}` || res.Failed != 1 {
			t.Errorf("%s of a value sealed with the destroyed key: %s (failed %d), want it removed and counted", c.action, back, res.Failed)
		}
	}
	// And the new key's values open with the cached Programs.
	newEnv, _ := run(progs["encrypt"], `{"v":"bob"}`)
	if back, _ := run(progs["decrypt"], newEnv); back != `{"v":"bob"}` {
		t.Errorf("decrypt of the new key's envelope: %s", back)
	}
}

func first(s string, _ Result) string { return s }

// TestFPECipherPerKeyName: the FF1 subkey is derived from the key's
// material, name and version, so two key names sharing material are two
// ciphers; the cipher cache once keyed them by material alone, and the
// second name got the first one's cipher.
func TestFPECipherPerKeyName(t *testing.T) {
	t.Parallel()
	keys := newRing("fa", 1, 0xC3).add("fb", 1, 0xC3) // the same material
	want := func(name string) string {
		k, err := keys.Version(name, 1)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := k.Subkey(fpePurpose, 32)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ff1.New(sub, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Encrypt(nil, []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := []byte(`{"v":"`)
		for i, d := range out {
			if i == 3 || i == 5 {
				b = append(b, '-')
			}
			b = append(b, byte('0'+d))
		}
		return string(append(b, `"}`...))
	}
	for _, name := range []string{"fa", "fb"} {
		if got, _ := rewriteString(t, []Rule{r("$.v", "fpe", "key", name)}, keys, `{"v":"123-45-6789"}`); got != want(name) {
			t.Errorf("fpe with key %q: %s, want %s", name, got, want(name))
		}
	}
}
