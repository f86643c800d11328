package rego

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// prepare compiles the shipped policies without their tests, the way the
// gateway loads a revision, into one prepared query.
func prepare(t testing.TB) rego.PreparedEvalQuery {
	t.Helper()
	opts := []func(*rego.Rego){rego.Query("data.veil.decision"), rego.SetRegoVersion(ast.RegoV1)}
	for _, m := range loadModules(t, false) {
		opts = append(opts, rego.ParsedModule(m))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatalf("preparing data.veil.decision: %v", err)
	}
	return pq
}

func decide(t testing.TB, pq rego.PreparedEvalQuery, input map[string]any) map[string]any {
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

// Parameter names per action, as agreed with package transforms; required
// names are marked true.
var actionParams = map[string]map[string]bool{
	"redact":      {"mode": false},
	"replace":     {"value": true},
	"mask":        {"char": false, "keep_first": false, "keep_last": false, "ignore": false, "format": false},
	"hash":        {"key": true, "prefix": false, "length": false},
	"generalize":  {"bucket": false, "date": false, "keep_first": false},
	"tokenize":    {"key": true, "prefix": false},
	"detokenize":  {"key": true, "prefix": false},
	"encrypt":     {"key": true, "prefix": false},
	"decrypt":     {"key": true, "prefix": false},
	"fpe":         {"key": true, "alphabet": false, "keep": false, "tweak": false},
	"fpe_decrypt": {"key": true, "alphabet": false, "keep": false, "tweak": false},
}

// reversing are the actions that reveal what another action protected.
var reversing = []string{"decrypt", "detokenize", "fpe_decrypt"}

// checkReversal returns why the reversing rules of an allowing decision
// could serve as a decryption oracle, or "". The shipped policies reverse
// nothing on the request side (DESIGN: the response would have to cover
// it), and reverse responses only for an HR manager's own reports, with
// the record mask or removal that hides every non-report alongside.
func checkReversal(d map[string]any) string {
	for _, dir := range []string{"request_transforms", "response_transforms"} {
		for _, r := range d[dir].([]any) {
			rule := r.(map[string]any)
			if !slices.Contains(reversing, rule["action"].(string)) {
				continue
			}
			if dir == "request_transforms" {
				return "a request transform reverses a protection"
			}
			tags, _ := d["audit"].(map[string]any)["tags"].(map[string]any)
			if tags["role"] != "hr_manager" {
				return fmt.Sprintf("role %v gets %s", tags["role"], rule["action"])
			}
			guarded := false
			for _, o := range d[dir].([]any) {
				o := o.(map[string]any)
				w, _ := o["where"].(map[string]any)
				if (o["action"] == "mask" || o["action"] == "redact") && w["field"] == "manager_id" && w["op"] == "not_exists" {
					guarded = true
				}
			}
			if !guarded {
				return "decrypt without the non-report mask or removal"
			}
		}
	}
	return ""
}

var whereOps = []string{"==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists", "not_exists"}

// checkRule returns why a transform rule is malformed, or "".
func checkRule(r any) string {
	rule, ok := r.(map[string]any)
	if !ok {
		return "not an object"
	}
	path, _ := rule["path"].(string)
	if !strings.HasPrefix(path, "$") {
		return "path must be a JSONPath starting with $"
	}
	action, _ := rule["action"].(string)
	params, ok := actionParams[action]
	if !ok {
		return fmt.Sprintf("unknown action %q", action)
	}
	for k := range rule {
		if _, known := params[k]; !known && k != "path" && k != "action" && k != "where" {
			return fmt.Sprintf("unknown parameter %q for %s", k, action)
		}
	}
	for k, required := range params {
		if _, has := rule[k]; required && !has {
			return fmt.Sprintf("%s needs %q", action, k)
		}
	}
	if action == "generalize" {
		n := 0
		for _, k := range []string{"bucket", "date", "keep_first"} {
			if _, has := rule[k]; has {
				n++
			}
		}
		if n != 1 {
			return "generalize needs exactly one of bucket, date, keep_first"
		}
	}
	if w, has := rule["where"]; has {
		where, ok := w.(map[string]any)
		if !ok {
			return "where must be an object"
		}
		field, _ := where["field"].(string)
		op, _ := where["op"].(string)
		if field == "" || !slices.Contains(whereOps, op) {
			return "where needs a field and a known op"
		}
		_, hasValue := where["value"]
		if hasValue == (op == "exists" || op == "not_exists") {
			return "where value must be present exactly when the op compares"
		}
	}
	return ""
}

// checkDecision returns why d breaks DESIGN "Decision", or "".
func checkDecision(d map[string]any) string {
	for k := range d {
		switch k {
		case "allow", "status", "reason", "request_transforms", "response_transforms", "audit":
		default:
			return fmt.Sprintf("unknown key %q", k)
		}
	}
	allow, ok := d["allow"].(bool)
	if !ok {
		return "allow must be a boolean"
	}
	if !allow {
		status, ok := d["status"].(json.Number)
		n, err := status.Int64()
		if !ok || err != nil || n < 400 || n > 499 {
			return fmt.Sprintf("deny status %v is not 4xx", d["status"])
		}
		if r, _ := d["reason"].(string); r == "" {
			return "deny without a reason"
		}
		return ""
	}
	for _, dir := range []string{"request_transforms", "response_transforms"} {
		rules, ok := d[dir].([]any)
		if !ok {
			return dir + " must be an array"
		}
		for i, r := range rules {
			if why := checkRule(r); why != "" {
				return fmt.Sprintf("%s[%d]: %s", dir, i, why)
			}
		}
	}
	audit, ok := d["audit"].(map[string]any)
	if !ok {
		return "allow without audit"
	}
	if ids, _ := audit["record_ids"].(string); !strings.HasPrefix(ids, "$") {
		return "audit.record_ids must be a JSONPath"
	}
	if p, _ := audit["path"].(string); !strings.HasPrefix(p, "/") {
		return "audit.path must be a path template"
	}
	tags, _ := audit["tags"].(map[string]any)
	if p, _ := tags["purpose"].(string); p == "" {
		return "audit.tags.purpose missing"
	}
	return ""
}

// TestDecisionAlwaysWellFormed evaluates the shipped policies on every
// combination of route, method, path, body state and subject: the decision
// is always defined, well formed, never allows a write whose body the
// policy cannot see, never puts a path id in the audit path, and only the
// expected roles get each API.
func TestDecisionAlwaysWellFormed(t *testing.T) {
	t.Parallel()
	pq := prepare(t)
	subjects := map[string]map[string]any{
		"anonymous": {"authenticated": false, "id": "", "roles": []any{}, "claims": map[string]any{}},
		"support":   {"authenticated": true, "id": "u-03", "roles": []any{"support"}, "claims": map[string]any{}},
		"sales":     {"authenticated": true, "id": `u-"17'`, "roles": []any{"sales"}, "claims": map[string]any{}},
		"hr":        {"authenticated": true, "id": "e-0007", "roles": []any{"hr_manager"}, "claims": map[string]any{}},
		"analyst":   {"authenticated": true, "id": "u-42", "roles": []any{"analyst"}, "claims": map[string]any{}},
		"admin":     {"authenticated": true, "id": "u-01", "roles": []any{"admin"}, "claims": map[string]any{}},
		"many":      {"authenticated": true, "id": "u-9", "roles": []any{"analyst", "support", "hr_manager"}, "claims": map[string]any{}},
		"noroles":   {"authenticated": true, "id": "u-8", "roles": nil, "claims": map[string]any{}},
	}
	paths := [][]string{
		{"crm"}, {"crm", "customers"}, {"crm", "customers", "c-0001"}, {"crm", "customers", "c-0001", "x"},
		{"crm", "deals"}, {"crm", "deals", "d-0001"}, {"crm", "tickets"}, {"crm", "tickets", "t-0001"},
		{"hrm", "employees"}, {"hrm", "employees", "e-0001"}, {"hrm", "employees", "e-0001", "reviews"},
		{"hrm", "employees", "e-0001", "reviews", "2024"}, {"hrm", "salaries"}, {"other", "x"},
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	states := []string{"absent", "parsed", "not_json", "too_large", "invalid"}
	allowedRoles := map[string][]string{ // route -> subjects that may get anything
		"crm":   {"support", "sales", "analyst", "admin", "many"},
		"hrm":   {"hr", "analyst", "admin", "many"},
		"other": {},
	}
	n, hrmWrites := 0, 0
	for _, name := range slices.Sorted(maps.Keys(subjects)) {
		for _, segs := range paths {
			route := segs[0]
			for _, m := range methods {
				for _, st := range states {
					var body any = map[string]any{"owner_id": subjects[name]["id"]}
					if route == "hrm" {
						body = map[string]any{"name": "N", "manager_id": "e-0007", "national_id": "AB123456C", "bank_account": map[string]any{"iban": "GB00"}}
					}
					in := map[string]any{
						"request": map[string]any{
							"method": m, "path": "/" + strings.Join(segs, "/"), "segments": toAny(segs),
							"query": map[string]any{"manager_id": []any{"e-0007"}}, "headers": map[string]any{},
							"body_state": st, "body": body,
							"client_ip": "127.0.0.1", "id": "r1",
						},
						"route":   map[string]any{"name": route, "prefix": "/" + route + "/"},
						"subject": subjects[name],
						"time_ns": 0,
					}
					d := decide(t, pq, in)
					n++
					where := fmt.Sprintf("%s %s %s body=%s", name, m, in["request"].(map[string]any)["path"], st)
					if why := checkDecision(d); why != "" {
						t.Fatalf("%s: %s: %v", where, why, d)
					}
					if d["allow"] != true {
						continue
					}
					if why := checkReversal(d); why != "" {
						t.Errorf("%s: %s: %v", where, why, d)
					}
					if m == "POST" || m == "PUT" || m == "PATCH" {
						if route == "hrm" {
							hrmWrites++
						}
						if route == "hrm" && len(d["request_transforms"].([]any)) != 2 {
							t.Errorf("%s: HRM write without encryption at rest: %v", where, d["request_transforms"])
						}
					} else if len(d["request_transforms"].([]any)) != 0 {
						t.Errorf("%s: request transforms without a write body", where)
					}
					if !slices.Contains(allowedRoles[route], name) {
						t.Errorf("%s: allowed", where)
					}
					if m != "GET" && m != "HEAD" && st != "parsed" && (m != "DELETE" || st != "absent") {
						t.Errorf("%s: write allowed without a parsed body", where)
					}
					if p := d["audit"].(map[string]any)["path"].(string); strings.Contains(p, "-0001") || strings.Contains(p, "2024") {
						t.Errorf("%s: audit path %q contains an id", where, p)
					}
				}
			}
		}
	}
	// admin: POST, PUT and PATCH on the three HRM endpoints (9); "hr"
	// and "many" (hr_manager): POST employees only (1 each) — the sweep's
	// employee body names a manager_id, and updates that set manager_id
	// are for admins (an HR manager could otherwise make anyone a report).
	if hrmWrites != 11 {
		t.Errorf("%d HRM writes allowed, want 11", hrmWrites)
	}
	t.Logf("%d decisions checked", n)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestPoliciesAreDeterministic keeps decisions cacheable (DESIGN "Decision
// cache"): no time, randomness, network or uuid built-ins and no reference
// to input.time_ns or input.request.id in the shipped policies.
func TestPoliciesAreDeterministic(t *testing.T) {
	t.Parallel()
	banned := []string{"time.", "rand.", "http.send", "uuid.", "net.lookup", "opa.runtime", "trace", "print"}
	for path, m := range loadModules(t, false) {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() {
				name := e.Operator().String()
				for _, b := range banned {
					if strings.HasPrefix(name, b) {
						t.Errorf("%s:%d: calls %s", path, e.Location.Row, name)
					}
				}
			}
			return false
		})
		ast.WalkRefs(m, func(r ast.Ref) bool {
			s := r.String()
			if strings.HasPrefix(s, "input.time_ns") || strings.HasPrefix(s, "input.request.id") {
				t.Errorf("%s: references %s", path, s)
			}
			return false
		})
	}
}

// TestFSHoldsEveryPolicy checks the embed pattern picks up the library and
// the tests, so loaders and `veil policy test` see the whole tree.
func TestFSHoldsEveryPolicy(t *testing.T) {
	t.Parallel()
	mods := loadModules(t, true)
	for _, want := range []string{"main.rego", "crm.rego", "hrm.rego", "lib/lib.rego", "main_test.rego", "crm_test.rego", "hrm_test.rego", "lib/lib_test.rego"} {
		if _, ok := mods[want]; !ok {
			t.Errorf("FS lacks %s (has %v)", want, slices.Sorted(maps.Keys(mods)))
		}
	}
	if got := len(loadModules(t, false)); got != 4 {
		t.Errorf("%d policy modules without tests, want 4", got)
	}
}

// BenchmarkDecision measures one decision of the shipped policies for a
// sales rep listing customers (the heaviest view: where rules built from
// the subject).
func BenchmarkDecision(b *testing.B) {
	pq := prepare(b)
	in := map[string]any{
		"request": map[string]any{
			"method": "GET", "path": "/crm/customers", "segments": []any{"crm", "customers"},
			"query": map[string]any{"limit": []any{"10"}}, "headers": map[string]any{}, "body_state": "absent",
		},
		"route":   map[string]any{"name": "crm", "prefix": "/crm/"},
		"subject": map[string]any{"authenticated": true, "id": "u-17", "roles": []any{"sales"}, "claims": map[string]any{}},
	}
	v, err := ast.InterfaceToValue(in)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
		if err != nil || len(rs) != 1 {
			b.Fatalf("eval: %v %v", rs, err)
		}
	}
}
