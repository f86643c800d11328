package transforms

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilgw/veil/vault"
)

// countingKeys wraps a real keyring and counts Primary calls.
type countingKeys struct {
	vault.Keyring
	n atomic.Int32
}

func (c *countingKeys) Primary(name string, now time.Time) (vault.Key, error) {
	c.n.Add(1)
	return c.Keyring.Primary(name, now)
}

func TestHashResolvesKeyOncePerRewrite(t *testing.T) {
	t.Parallel()
	keys := &countingKeys{Keyring: testKeys(t)}
	p := compileTest(t, []Rule{r("$.customers[*].id", "hash", "key", "pii"), r("$.customers[*].ssn", "hash", "key", "pii")}, Options{Keys: keys})
	doc := customers(30)
	for i := 1; i <= 3; i++ {
		if _, err := p.Rewrite(nil, doc, nil); err != nil {
			t.Fatal(err)
		}
		if n := keys.n.Load(); n != int32(i) {
			t.Fatalf("Primary called %d times after %d rewrites", n, i)
		}
	}
}

// keyFile writes a local key file holding the given versions of "pii"
// (32-byte materials filled with the version number).
func keyFile(t *testing.T, versions ...int) *vault.Local {
	t.Helper()
	text := `{"keys":{"pii":[`
	for i, v := range versions {
		if i > 0 {
			text += ","
		}
		mat := make([]byte, 32)
		for j := range mat {
			mat[j] = byte(v)
		}
		text += `{"version":` + string(rune('0'+v)) + `,"material":"` + b64(mat) + `","activation":"2020-0` + string(rune('0'+v)) + `-01T00:00:00Z"}`
	}
	text += `]}}`
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := vault.OpenLocal(vault.LocalConfig{File: path}, "pii")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHashRotation(t *testing.T) {
	t.Parallel()
	in := []byte(`["alice"]`)
	rule := []Rule{r("$[0]", "hash", "key", "pii")}
	out := func(k vault.Keyring) string {
		o, err := compileTest(t, rule, Options{Keys: k}).Rewrite(nil, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(o)
	}
	v1a, v1b, v2 := out(keyFile(t, 1)), out(keyFile(t, 1)), out(keyFile(t, 1, 2))
	if v1a != v1b {
		t.Errorf("pseudonym not stable for one key version: %s %s", v1a, v1b)
	}
	if v1a == v2 {
		t.Errorf("rotation to version 2 kept the pseudonym %s", v1a)
	}
}
