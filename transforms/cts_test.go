package transforms

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/veilgw/veil/internal/testvectors"
)

// TestMatcherCTS runs every valid query of the JSONPath Compliance Test
// Suite through the streaming matcher in select-only mode (the record id
// query of a Program without rules) and compares the SET of selected
// normalized paths with the suite's result paths and with the reference
// evaluator jsonpath.Query.Select. A rewriter visits each node once, so
// node order and duplicates (e.g. $[0,0]) do not matter and are ignored.
func TestMatcherCTS(t *testing.T) {
	t.Parallel()
	dir := testvectors.Dir(t, "jsonpath-cts")
	data, err := os.ReadFile(filepath.Join(dir, "cts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests []struct {
			Name         string          `json:"name"`
			Selector     string          `json:"selector"`
			Document     json.RawMessage `json:"document"`
			Invalid      bool            `json:"invalid_selector"`
			ResultPaths  []string        `json:"result_paths"`
			ResultsPaths [][]string      `json:"results_paths"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(data, &suite); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, tc := range suite.Tests {
		if tc.Invalid {
			continue
		}
		ran++
		p, err := Compile(nil, Options{RecordIDs: tc.Selector})
		if err != nil {
			t.Errorf("%s: compile %q: %v", tc.Name, tc.Selector, err)
			continue
		}
		got, err := p.selectPaths(tc.Document)
		if err != nil {
			t.Errorf("%s: %v", tc.Name, err)
			continue
		}
		got = pathSet(got)
		want := tc.ResultPaths
		if want == nil && len(tc.ResultsPaths) > 0 {
			want = tc.ResultsPaths[0]
		}
		if want = pathSet(want); !slices.Equal(got, want) {
			t.Errorf("%s: %s\n got  %q\n want %q", tc.Name, tc.Selector, got, want)
		}
		q := p.m.queries[p.recordQ]
		nodes, err := q.Select(tc.Document)
		if err != nil {
			t.Errorf("%s: Select: %v", tc.Name, err)
			continue
		}
		var ref []string
		for _, n := range nodes {
			ref = append(ref, n.Path)
		}
		if ref = pathSet(ref); !slices.Equal(got, ref) {
			t.Errorf("%s: %s: streaming %q, reference %q", tc.Name, tc.Selector, got, ref)
		}
	}
	t.Logf("%d valid CTS cases", ran)
	if ran < 400 {
		t.Errorf("only %d valid cases ran", ran)
	}
}

func pathSet(p []string) []string {
	p = slices.Clone(p)
	slices.Sort(p)
	return slices.Compact(p)
}
