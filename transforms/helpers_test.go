package transforms

import (
	"encoding/base64"
	"os"
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

// projectRoot walks up to the directory holding go.mod.
func projectRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// vectorDir returns a shared test vector folder, skipping the test when it
// is absent (failing under CI=true).
func vectorDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(projectRoot(t), "..", "shared", "testvectors", name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test vectors %s missing: %v", dir, err)
		}
		t.Skipf("SKIP: test vectors %s not found", dir)
	}
	return dir
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
