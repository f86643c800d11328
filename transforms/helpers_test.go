package transforms

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/veilgw/veil/transforms/jsonpath"
	"github.com/veilgw/veil/vault"
)

// parseQuery parses a JSONPath with jsonpath.Parse, or, while the parser
// is not available, with miniParse (names, wildcards, indices, slices,
// descendants; no filters).
func parseQuery(t testing.TB, text string) *jsonpath.Query {
	t.Helper()
	if q, err := jsonpath.Parse(text); err == nil {
		return q
	}
	q, ok := miniParse(text)
	if !ok {
		t.Fatalf("test query %q: not supported without jsonpath.Parse", text)
	}
	return q
}

func parserReady() bool {
	_, err := jsonpath.Parse("$.a")
	return err == nil
}

func miniParse(s string) (*jsonpath.Query, bool) {
	if !strings.HasPrefix(s, "$") {
		return nil, false
	}
	q := &jsonpath.Query{Text: s}
	i := 1
	for i < len(s) {
		kind := jsonpath.Child
		dotted := false
		switch {
		case strings.HasPrefix(s[i:], ".."):
			kind, i = jsonpath.Descendant, i+2
			dotted = i < len(s) && s[i] != '['
		case s[i] == '.':
			i++
			dotted = true
		}
		if i >= len(s) {
			return nil, false
		}
		var sel jsonpath.Selector
		switch {
		case dotted:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			if s[i:j] == "*" {
				sel.Kind = jsonpath.SelWildcard
			} else {
				sel.Kind, sel.Name = jsonpath.SelName, s[i:j]
			}
			i = j
		case s[i] == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, false
			}
			body := s[i+1 : i+j]
			i += j + 1
			switch {
			case body == "*":
				sel.Kind = jsonpath.SelWildcard
			case strings.HasPrefix(body, "'"):
				sel.Kind, sel.Name = jsonpath.SelName, strings.Trim(body, "'")
			case strings.Contains(body, ":"):
				parts := strings.Split(body, ":")
				sel.Kind = jsonpath.SelSlice
				for k, p := range parts {
					if p == "" {
						continue
					}
					n, err := strconv.ParseInt(p, 10, 64)
					if err != nil {
						return nil, false
					}
					switch k {
					case 0:
						sel.Slice.Start, sel.Slice.HasStart = n, true
					case 1:
						sel.Slice.End, sel.Slice.HasEnd = n, true
					case 2:
						sel.Slice.Step, sel.Slice.HasStep = n, true
					}
				}
			default:
				n, err := strconv.ParseInt(body, 10, 64)
				if err != nil {
					return nil, false
				}
				sel.Kind, sel.Index = jsonpath.SelIndex, n
			}
		default:
			return nil, false
		}
		q.Segments = append(q.Segments, jsonpath.Segment{Kind: kind, Selectors: []jsonpath.Selector{sel}})
	}
	return q, true
}

// compileTest compiles rules, parsing their paths with parseQuery.
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
	if parserReady() {
		return Compile(rules, opts)
	}
	qs := make([]*jsonpath.Query, len(rules))
	for i, r := range rules {
		qs[i] = parseQuery(t, r.Path)
	}
	var rq *jsonpath.Query
	if opts.RecordIDs != "" {
		rq = parseQuery(t, opts.RecordIDs)
	}
	return compileQueries(rules, qs, rq, opts)
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
