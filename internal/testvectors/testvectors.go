// Package testvectors locates, for tests, the module root and the shared
// test vectors kept beside the clone (../shared/testvectors, with their
// sources and licences). A test whose vectors are absent is skipped with
// a visible message, except under CI=true, where it fails: a vector test
// that silently skips does not count.
package testvectors

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot walks up from the working directory (a test's package
// directory) to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Dir returns ../shared/testvectors/<name> beside the module root,
// skipping t when it is absent, or failing t under CI=true.
func Dir(t testing.TB, name string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "..", "shared", "testvectors", name)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test vectors %s missing (required when CI=true): %v", dir, err)
		}
		t.Skipf("SKIP: test vectors %s not found: %v", dir, err)
	}
	return dir
}
