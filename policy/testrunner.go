package policy

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testTimeout bounds one Rego test case, as `opa test` does by default.
const testTimeout = 5 * time.Second

// RunTests runs the Rego unit tests under dir with the semantics of
// `opa test DIR` (Rego v1): every *.rego file (tests included) and data
// file (*.json, *.yaml) under dir is loaded, every rule named test_* is
// run, and a per-test summary like opa's pretty reporter is written to w
// (verbose: every test and its trace on failure). dir defaults to "."; with
// fsys it is a path inside fsys. Tests that fail or raise an error count in
// fail; skipped (todo_) tests count in neither. err is a load or compile
// failure, not a failing test.
func RunTests(ctx context.Context, dir string, fsys fs.FS, w io.Writer, verbose bool) (pass, fail int, err error) {
	if dir == "" {
		dir = "."
	}
	fl := loader.NewFileLoader().
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true)
	if fsys != nil {
		fl = fl.WithFS(fsys)
	}
	loaded, err := fl.Filtered([]string{dir}, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: test: loading %s: %w", dir, err)
	}
	modules := make(map[string]*ast.Module, len(loaded.Modules))
	for name, m := range loaded.Modules {
		modules[name] = m.Parsed
	}
	store := inmem.NewFromObject(loaded.Documents)

	var results []*tester.Result
	err = storage.Txn(ctx, store, storage.TransactionParams{}, func(txn storage.Transaction) error {
		compiler := ast.NewCompiler().
			WithDefaultRegoVersion(ast.RegoV1).
			WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
			WithEnablePrintStatements(true).
			WithCapabilities(capabilities()).
			WithUseTypeCheckAnnotations(true)
		runner := tester.NewRunner().
			SetDefaultRegoVersion(ast.RegoV1).
			SetCompiler(compiler).
			SetStore(store).
			CapturePrintOutput(true).
			EnableTracing(verbose).
			SetModules(modules).
			SetTimeout(testTimeout)
		ch, err := runner.RunTests(ctx, txn)
		if err != nil {
			return err
		}
		for r := range ch {
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("policy: test: %w", err)
	}

	report := make(chan *tester.Result, len(results))
	for _, r := range results {
		switch {
		case r.Skip:
		case r.Pass():
			pass++
		default:
			fail++
		}
		report <- r
	}
	close(report)
	if err := (tester.PrettyReporter{Output: w, Verbose: verbose}).Report(report); err != nil {
		return pass, fail, fmt.Errorf("policy: test: report: %w", err)
	}
	return pass, fail, nil
}
