package transforms

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// precedence ranks every action name of the design, most protective
// first: redact > replace > hash > encrypt > tokenize > fpe > mask >
// generalize > (decrypt, detokenize, fpe_decrypt). When several rules
// select the same node the rule with the lowest rank wins; between equal
// ranks the rule that comes first wins. Only the actions of the registry
// below are available; the others are reserved.
var precedence = map[string]int{
	"redact":      0,
	"replace":     1,
	"hash":        2,
	"encrypt":     3,
	"tokenize":    4,
	"fpe":         5,
	"mask":        6,
	"generalize":  7,
	"decrypt":     8,
	"detokenize":  8,
	"fpe_decrypt": 8,
}

// Precedence returns the rank of an action name (0 is the most
// protective) and whether the name is known to the design.
func Precedence(action string) (rank int, ok bool) {
	rank, ok = precedence[action]
	return rank, ok
}

// action is a compiled action: its parameters are parsed once by Compile.
type action interface {
	// apply appends to dst the JSON text replacing raw, a valid JSON
	// value (any type for whole-node actions, a scalar for leaf actions).
	// ok false means the action cannot handle this value: the rewriter
	// redacts it and counts it in Result.Failed.
	apply(rw *rewriter, dst, raw []byte) (out []byte, ok bool, err error)
}

// actionSpec is one entry of the registry.
type actionSpec struct {
	// whole: the action replaces a selected object or array as a whole;
	// otherwise it applies to every scalar leaf inside it.
	whole bool
	// params lists the accepted parameter names.
	params []string
	// compile parses the parameters once.
	compile func(p *params) (action, error)
}

// registry is the one table of available actions.
var registry = map[string]actionSpec{
	"redact":      {whole: true, params: []string{"mode"}, compile: compileRedact},
	"replace":     {whole: true, params: []string{"value"}, compile: compileReplace},
	"hash":        {whole: true, params: []string{"key", "prefix", "length"}, compile: compileHash},
	"mask":        {whole: false, params: []string{"char", "keep_first", "keep_last", "ignore", "format"}, compile: compileMask},
	"generalize":  {whole: false, params: []string{"bucket", "date", "keep_first"}, compile: compileGeneralize},
	"tokenize":    {whole: true, params: []string{"key", "prefix"}, compile: compileTokenize},
	"detokenize":  {whole: true, params: []string{"key", "prefix"}, compile: compileDetokenize},
	"encrypt":     {whole: true, params: []string{"key", "prefix", "mode"}, compile: compileEncrypt},
	"decrypt":     {whole: true, params: []string{"key", "prefix", "mode"}, compile: compileDecrypt},
	"fpe":         {whole: false, params: []string{"key", "alphabet", "keep", "tweak"}, compile: compileFPE},
	"fpe_decrypt": {whole: false, params: []string{"key", "alphabet", "keep", "tweak"}, compile: compileFPEDecrypt},
}

// params gives typed access to a rule's parameters for the action
// compilers; errors are reasons an author can act on and never echo values.
type params struct {
	m    map[string]any
	opts *Options
}

type paramError string

func (e paramError) Error() string { return string(e) }

func (p *params) has(k string) bool { _, ok := p.m[k]; return ok }

// number returns a numeric parameter as float64.
func (p *params) number(k string) (float64, bool, error) {
	v, ok := p.m[k]
	if !ok {
		return 0, false, nil
	}
	switch n := v.(type) {
	case float64:
		return n, true, nil
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return 0, true, paramError(k + " must be a number")
		}
		return f, true, nil
	case int:
		return float64(n), true, nil
	case int64:
		return float64(n), true, nil
	}
	return 0, true, paramError(k + " must be a number")
}

// intRange returns an integer parameter in [lo, hi], or def when absent.
func (p *params) intRange(k string, def, lo, hi int, what string) (int, error) {
	f, ok, err := p.number(k)
	if !ok {
		return def, nil
	}
	if err != nil || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, paramError(k + " must be " + what)
	}
	return int(f), nil
}

func (p *params) str(k string) (string, bool, error) {
	v, ok := p.m[k]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, paramError(k + " must be a string")
	}
	return s, true, nil
}

// compileAction validates action name and params and compiles them.
func compileAction(name string, m map[string]any, opts *Options) (action, actionSpec, error) {
	spec, ok := registry[name]
	if !ok {
		if name == "" {
			return nil, spec, paramError("action is required")
		}
		if _, known := precedence[name]; known {
			return nil, spec, paramError(fmt.Sprintf("action %q is not available in this version", name))
		}
		known := make([]string, 0, len(registry))
		for k := range registry {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, spec, paramError(fmt.Sprintf("unknown action %q (known: %s)", name, strings.Join(known, ", ")))
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(spec.params, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, spec, paramError(fmt.Sprintf("unknown parameter %s for %s (accepted: %s)",
			strings.Join(unknown, ", "), name, strings.Join(spec.params, ", ")))
	}
	a, err := spec.compile(&params{m: m, opts: opts})
	return a, spec, err
}
