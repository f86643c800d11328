package jsonpath

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/veilgw/veil/internal/testvectors"
)

// ctsCase is one case of the RFC 9535 JSONPath Compliance Test Suite.
type ctsCase struct {
	Name         string              `json:"name"`
	Selector     string              `json:"selector"`
	Document     json.RawMessage     `json:"document"`
	Result       []json.RawMessage   `json:"result"`
	Results      [][]json.RawMessage `json:"results"`
	ResultPaths  []string            `json:"result_paths"`
	ResultsPaths [][]string          `json:"results_paths"`
	Invalid      bool                `json:"invalid_selector"`
}

// ctsKnownFailures lists CTS cases this package deliberately does not pass,
// with the reason. It is empty: every case passes.
var ctsKnownFailures = map[string]string{}

func loadCTS(t testing.TB) []ctsCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testvectors.Dir(t, "jsonpath-cts"), "cts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests []ctsCase `json:"tests"`
	}
	if err := json.Unmarshal(data, &suite); err != nil {
		t.Fatal(err)
	}
	cases := suite.Tests
	return cases
}

func TestCTS(t *testing.T) {
	t.Parallel()
	cases := loadCTS(t)
	if len(cases) != 703 {
		t.Errorf("CTS has %d cases, want 703", len(cases))
	}
	for name, reason := range ctsKnownFailures {
		t.Logf("known CTS failure %q: %s", name, reason)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			if reason, ok := ctsKnownFailures[c.Name]; ok {
				t.Skipf("known failure: %s", reason)
			}
			q, err := Parse(c.Selector)
			if c.Invalid {
				if err == nil {
					t.Fatalf("Parse(%q) succeeded, want ErrSyntax", c.Selector)
				}
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %v, want ErrSyntax", c.Selector, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.Selector, err)
			}
			nodes, err := q.Select(c.Document)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if c.Results == nil {
				if msg := diffNodes(nodes, c.Result, c.ResultPaths); msg != "" {
					t.Fatalf("%s: %s", c.Selector, msg)
				}
				return
			}
			var msgs []string
			for i, want := range c.Results {
				var paths []string
				if i < len(c.ResultsPaths) {
					paths = c.ResultsPaths[i]
				}
				msg := diffNodes(nodes, want, paths)
				if msg == "" {
					return
				}
				msgs = append(msgs, msg)
			}
			t.Fatalf("%s: matches none of the results: %v", c.Selector, msgs)
		})
	}
}

// diffNodes compares a nodelist with expected values and paths (nil paths:
// not checked); "" when equal.
func diffNodes(nodes []Node, want []json.RawMessage, paths []string) string {
	var got []any
	for _, n := range nodes {
		var v any
		if err := json.Unmarshal(n.Value, &v); err != nil {
			return "node value is not JSON: " + err.Error()
		}
		got = append(got, v)
	}
	var exp []any
	for _, w := range want {
		var v any
		if err := json.Unmarshal(w, &v); err != nil {
			return "expected value is not JSON: " + err.Error()
		}
		exp = append(exp, v)
	}
	if len(got) != len(exp) || (len(got) > 0 && !reflect.DeepEqual(got, exp)) {
		return "values " + mustJSON(got) + ", want " + mustJSON(exp)
	}
	if paths != nil {
		gp := make([]string, len(nodes))
		for i, n := range nodes {
			gp[i] = n.Path
		}
		if !reflect.DeepEqual(gp, paths) && !(len(gp) == 0 && len(paths) == 0) {
			return "paths " + mustJSON(gp) + ", want " + mustJSON(paths)
		}
	}
	return ""
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
