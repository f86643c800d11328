package transforms

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/veilgw/veil/transforms/jsonpath"
)

// Program is a compiled rule set. It is immutable (its matcher caches
// grow, guarded for concurrent use) and safe for concurrent use by many
// goroutines.
type Program struct {
	rules   []compiledRule
	m       *matcher
	opts    Options
	recordQ int32 // query index of Options.RecordIDs, -1 if none
	subkeys subkeys
	pool    sync.Pool
}

type compiledRule struct {
	path, action string
	rank         int
	whole        bool
	remove       bool // redact without mode null
	act          action
	where        *whereCond
}

// maxDynSelectors bounds the index, slice and filter selectors of one
// Program (their outcomes key the matcher's element transitions).
const maxDynSelectors = 63

// Compile validates rules strictly and compiles them, with their paths and
// opts.RecordIDs, into a Program. Every error wraps ErrInvalidRule and
// names the rule index, its action and path, and what to fix.
func Compile(rules []Rule, opts Options) (*Program, error) {
	queries := make([]*jsonpath.Query, len(rules))
	for i, r := range rules {
		q, err := jsonpath.Parse(r.Path)
		if err != nil {
			return nil, ruleErr(i, r, "path is not a valid JSONPath: "+err.Error())
		}
		queries[i] = q
	}
	var rq *jsonpath.Query
	if opts.RecordIDs != "" {
		q, err := jsonpath.Parse(opts.RecordIDs)
		if err != nil {
			return nil, fmt.Errorf("%w: record_ids: not a valid JSONPath: %w", ErrInvalidRule, err)
		}
		rq = q
	}
	return compileQueries(rules, queries, rq, opts)
}

func ruleErr(i int, r Rule, reason string) error {
	return fmt.Errorf("%w: rule %d (%s %s): %s", ErrInvalidRule, i, r.Action, r.Path, reason)
}

// compileQueries compiles rules whose paths are already parsed (queries[i]
// for rules[i]); recordIDs may be nil.
func compileQueries(rules []Rule, queries []*jsonpath.Query, recordIDs *jsonpath.Query, opts Options) (*Program, error) {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 128
	}
	if opts.MaxDepth > jsonpath.MaxDepth {
		// Filters evaluate through jsonpath, which cannot read deeper
		// documents: they would quietly not match.
		return nil, fmt.Errorf("transforms: max depth %d is above %d, the deepest document filters can read", opts.MaxDepth, jsonpath.MaxDepth)
	}
	if opts.MaxRecordIDs <= 0 {
		opts.MaxRecordIDs = 100
	}
	if opts.TransitTimeout <= 0 {
		opts.TransitTimeout = defaultTransitTimeout
	}
	p := &Program{opts: opts, recordQ: -1, rules: make([]compiledRule, len(rules))}
	for i, r := range rules {
		act, spec, err := compileAction(r.Action, r.Params, &p.opts)
		if err != nil {
			return nil, ruleErr(i, r, err.Error())
		}
		cr := compiledRule{path: r.Path, action: r.Action, rank: precedence[r.Action], whole: spec.whole, act: act}
		if ra, ok := act.(*redactAction); ok {
			cr.remove = !ra.keepNull
		}
		if r.Where != nil {
			w, err := compileWhere(r.Where)
			if err != nil {
				return nil, ruleErr(i, r, err.Error())
			}
			cr.where = w
		}
		p.rules[i] = cr
	}
	all := queries
	if recordIDs != nil {
		p.recordQ = int32(len(all))
		all = append(append([]*jsonpath.Query(nil), queries...), recordIDs)
	}
	n := 0
	for _, q := range all {
		for _, seg := range q.Segments {
			for _, sel := range seg.Selectors {
				if sel.Kind == jsonpath.SelIndex || sel.Kind == jsonpath.SelSlice || sel.Kind == jsonpath.SelFilter {
					n++
				}
				if sel.Kind == jsonpath.SelFilter && sel.Filter == nil {
					return nil, fmt.Errorf("%w: %s: filter selector without a filter", ErrInvalidRule, q.Text)
				}
			}
		}
	}
	if n > maxDynSelectors {
		return nil, fmt.Errorf("%w: the rules hold %d index, slice and filter selectors (at most %d)", ErrInvalidRule, n, maxDynSelectors)
	}
	p.m = newMatcher(all)
	p.pool.New = func() any { return &rewriter{p: p} }
	return p, nil
}

// ParseRules decodes a decision's transform list, as OPA returns it (a
// []any of map[string]any), into Rules: "path", "action" and "where" go to
// their fields and every other key into Params. Numbers may be json.Number
// or float64. It checks shapes only; Compile validates the rest.
func ParseRules(v any) ([]Rule, error) {
	if v == nil {
		return nil, nil
	}
	var items []any
	switch t := v.(type) {
	case []any:
		items = t
	case []map[string]any:
		for _, m := range t {
			items = append(items, m)
		}
	default:
		return nil, fmt.Errorf("%w: transforms must be an array of rule objects", ErrInvalidRule)
	}
	rules := make([]Rule, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: rule %d: must be an object", ErrInvalidRule, i)
		}
		var r Rule
		for k, val := range m {
			switch k {
			case "path", "action":
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("%w: rule %d: %s must be a string", ErrInvalidRule, i, k)
				}
				if k == "path" {
					r.Path = s
				} else {
					r.Action = s
				}
			case "where":
				w, err := parseWhere(val)
				if err != nil {
					return nil, fmt.Errorf("%w: rule %d: %w", ErrInvalidRule, i, err)
				}
				r.Where = w
			default:
				if r.Params == nil {
					r.Params = make(map[string]any)
				}
				r.Params[k] = val
			}
		}
		if r.Path == "" {
			return nil, fmt.Errorf("%w: rule %d: path is required", ErrInvalidRule, i)
		}
		if r.Action == "" {
			return nil, fmt.Errorf("%w: rule %d (%s): action is required", ErrInvalidRule, i, r.Path)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseWhere(v any) (*Where, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("where must be an object with field, op and value")
	}
	w := &Where{}
	for k, val := range m {
		switch k {
		case "field", "op":
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("where.%s must be a string", k)
			}
			if k == "field" {
				w.Field = s
			} else {
				w.Op = s
			}
		case "value":
			w.Value = val
		default:
			return nil, fmt.Errorf("where: unknown key %q (accepted: field, op, value)", k)
		}
	}
	return w, nil
}

// canonicalKey is the cache key of a rule set: its canonical JSON text
// (map keys sorted by encoding/json) and the record id path.
func canonicalKey(rules []Rule, recordIDs string) (string, error) {
	type ruleText struct {
		Path   string         `json:"p"`
		Action string         `json:"a"`
		Where  *Where         `json:"w,omitempty"`
		Params map[string]any `json:"x,omitempty"`
	}
	rt := make([]ruleText, len(rules))
	for i, r := range rules {
		rt[i] = ruleText(r)
	}
	b, err := json.Marshal(struct {
		R  []ruleText `json:"r"`
		ID string     `json:"id"`
	}{rt, recordIDs})
	if err != nil {
		return "", fmt.Errorf("%w: rules are not JSON values: %w", ErrInvalidRule, err)
	}
	return string(b), nil
}
