package transforms

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilgw/veil/vault"
)

// compileTest compiles rules or fails the test.
func compileTest(t testing.TB, rules []Rule, opts Options) *Program {
	t.Helper()
	p, err := compileTestErr(t, rules, opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func compileTestErr(t testing.TB, rules []Rule, opts Options) (*Program, error) {
	t.Helper()
	return Compile(rules, opts)
}

// testKeys opens a real local keyring with a "pii" key in a temp dir.
func testKeys(t testing.TB) *vault.Local {
	t.Helper()
	k, err := vault.OpenLocal(vault.LocalConfig{File: filepath.Join(t.TempDir(), "keys.json")}, "pii")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func r(path, action string, kv ...any) Rule {
	rule := Rule{Path: path, Action: action}
	for i := 0; i+1 < len(kv); i += 2 {
		if rule.Params == nil {
			rule.Params = map[string]any{}
		}
		rule.Params[kv[i].(string)] = kv[i+1]
	}
	return rule
}

func rw(path, action string, w *Where, kv ...any) Rule {
	rule := r(path, action, kv...)
	rule.Where = w
	return rule
}

func bytesReader(s string) *strings.Reader { return strings.NewReader(s) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
