package rego

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/open-policy-agent/opa/v1/tester"
)

// minRegoTests guards against tests silently disappearing (a renamed
// package, a file left out of the embed pattern).
const minRegoTests = 70

// loadModules parses the embedded files; tests selects *_test.rego files
// too.
func loadModules(t testing.TB, tests bool) map[string]*ast.Module {
	t.Helper()
	mods := map[string]*ast.Module{}
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		if !tests && strings.HasSuffix(path, "_test.rego") {
			return nil
		}
		src, err := fs.ReadFile(FS, path)
		if err != nil {
			return err
		}
		m, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return err
		}
		mods[path] = m
		return nil
	})
	if err != nil {
		t.Fatalf("loading embedded policies: %v", err)
	}
	return mods
}

// runRegoTests runs every test_ rule of mods through OPA's test runner,
// as `veil policy test` does, and returns how many ran and one line per
// failure.
func runRegoTests(t *testing.T, mods map[string]*ast.Module) (ran int, failures []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetModules(mods).
		SetTimeout(5*time.Second).
		RaiseBuiltinErrors(true).
		RunTests(ctx, nil)
	if err != nil {
		t.Fatalf("compiling policies and tests: %v", err)
	}
	for r := range ch {
		ran++
		switch {
		case r.Error != nil:
			failures = append(failures, fmt.Sprintf("%s.%s: error: %v", r.Package, r.Name, r.Error))
		case r.Skip:
			failures = append(failures, fmt.Sprintf("%s.%s: skipped (no todo_test_ in shipped policies)", r.Package, r.Name))
		case r.Fail:
			failures = append(failures, fmt.Sprintf("%s.%s: FAIL (%s)", r.Package, r.Name, r.Location))
		}
	}
	slices.Sort(failures)
	return ran, failures
}

// TestRegoUnitTests makes `go test ./rego/` fail when any Rego test fails.
func TestRegoUnitTests(t *testing.T) {
	t.Parallel()
	ran, failures := runRegoTests(t, loadModules(t, true))
	for _, f := range failures {
		t.Error(f)
	}
	if ran < minRegoTests {
		t.Errorf("ran %d Rego tests, want at least %d", ran, minRegoTests)
	}
	t.Logf("%d Rego tests ran", ran)
}

// TestRegoRunnerReportsFailures proves the harness above can fail: a
// failing, an erroring and a skipped test added to the shipped modules are
// each reported, and the shipped tests still all run.
func TestRegoRunnerReportsFailures(t *testing.T) {
	t.Parallel()
	mods := loadModules(t, true)
	const src = `package veil.harness_test

import data.veil

test_wrong_status if {
	veil.decision.status == 500 with input as {}
}

test_type_error if {
	1 / 0 == 1
}

todo_test_later if {
	true
}
`
	m, err := ast.ParseModuleWithOpts("harness_test.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	mods["harness_test.rego"] = m
	shipped, _ := runRegoTests(t, loadModules(t, true))
	ran, failures := runRegoTests(t, mods)
	if ran != shipped+3 {
		t.Errorf("ran %d tests, want %d", ran, shipped+3)
	}
	want := []string{
		"data.veil.harness_test.test_type_error: error",
		"data.veil.harness_test.test_wrong_status: FAIL",
		"data.veil.harness_test.todo_test_later: skipped",
	}
	if len(failures) != len(want) {
		t.Fatalf("failures = %q, want %d entries", failures, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(failures[i], w) {
			t.Errorf("failure %d = %q, want prefix %q", i, failures[i], w)
		}
	}
}

// TestPoliciesAreFormatted keeps every shipped file as `opa fmt` writes it.
func TestPoliciesAreFormatted(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(FS, path)
		if err != nil {
			return err
		}
		out, err := format.SourceWithOpts(path, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		if !bytes.Equal(out, src) {
			t.Errorf("%s is not formatted as `opa fmt` would", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
