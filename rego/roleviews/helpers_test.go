package roleviews

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	veilrego "github.com/veilgw/veil/rego"
)

// prepare compiles the shipped policies without their tests, as the
// gateway loads a revision.
func prepare(t *testing.T) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){rego.Query("data.veil.decision"), rego.SetRegoVersion(ast.RegoV1)}
	err := fs.WalkDir(veilrego.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		src, err := fs.ReadFile(veilrego.FS, path)
		if err != nil {
			return err
		}
		opts = append(opts, rego.Module(path, string(src)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("preparing data.veil.decision: %v", err)
	}
	return pq
}

func decide(t *testing.T, pq rego.PreparedEvalQuery, input map[string]any) map[string]any {
	t.Helper()
	rs, err := pq.Eval(context.Background(), rego.EvalInput(input))
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		t.Fatalf("decision undefined for input %v", input)
	}
	d, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		t.Fatalf("decision is %T, want an object", rs[0].Expressions[0].Value)
	}
	return d
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
