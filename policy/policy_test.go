package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/veilgw/veil/transforms"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expr    string // Rego expression of data.veil.decision; "" leaves it undefined
		want    *Decision
		wantErr error
	}{
		{
			name: "allow",
			expr: `{"allow": "support" in input.subject.roles}`,
			want: &Decision{Allow: true},
		},
		{
			name: "deny with status and reason",
			expr: `{"allow": false, "status": 451, "reason": "legal hold"}`,
			want: &Decision{Status: 451, Reason: "legal hold"},
		},
		{
			name: "missing allow denies",
			expr: `{"reason": "nothing said"}`,
			want: &Decision{Reason: "nothing said"},
		},
		{
			name: "input reaches the policy",
			expr: `{"allow": true, "reason": concat(" ", [input.request.method, input.request.path, input.route.name, input.subject.id, input.request.id, input.request.client_ip, input.request.body_state, format_int(input.time_ns, 10), input.subject.claims.tenant])}`,
			want: &Decision{Allow: true, Reason: "GET /crm/customers/42 crm alice req-1 10.0.0.7 absent 1700000000000000000 t1"},
		},
		{
			name:    "undefined",
			expr:    "",
			wantErr: ErrUndefined,
		},
		{
			name:    "undefined when rule body fails",
			expr:    `{"allow": true} if { input.subject.id == "bob" }`,
			wantErr: ErrUndefined,
		},
		{
			name:    "conflict is an evaluation error",
			expr:    `{"allow": true} if { true }` + "\ndecision := {\"allow\": false} if { true }",
			wantErr: ErrEvaluation,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := decisionPolicy(tc.expr)
			if tc.expr == "" {
				files = map[string]string{"veil.rego": "package veil\n\nother := true\n"}
			}
			e, _, _ := newEngine(t, files, Options{})
			got, err := e.Decide(context.Background(), supportInput())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Decide error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			tc.want.Revision = e.Revision()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecideEvaluationErrorHidesValues(t *testing.T) {
	t.Parallel()
	// A built-in error message would quote the operand, an input value.
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": count({"k": v | some v in input.request.headers["x-secret"]}) > 0}`), Options{})
	in := supportInput()
	in.Headers = append(in.Headers, [2]string{"x-secret", "s3cr3t-value"}, [2]string{"x-secret", "other-s3cr3t"})
	_, err := e.Decide(context.Background(), in)
	if !errors.Is(err, ErrEvaluation) {
		t.Fatalf("Decide error = %v, want ErrEvaluation", err)
	}
	if want := "policy: evaluation error: eval_conflict_error at veil.rego:3"; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestDecideTimeout(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(
		`{"allow": count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) > 0}`),
		Options{Timeout: time.Millisecond})
	start := time.Now()
	_, err := e.Decide(context.Background(), supportInput())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Decide error = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestDecideCallerCancel(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": true}`), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Decide(ctx, supportInput())
	if !errors.Is(err, ErrEvaluation) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Decide error = %v, want ErrEvaluation wrapping context.Canceled", err)
	}
}

func TestInvalidDecisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, reason string
	}{
		{"not an object", `true`, "decision must be an object, got boolean"},
		{"allow not boolean", `{"allow": "yes"}`, "allow must be a boolean, got string"},
		{"status not a number", `{"allow": false, "status": "403"}`, "status must be an integer, got string"},
		{"status 2xx", `{"allow": false, "status": 200}`, "status must be an integer within 400..499"},
		{"status 5xx", `{"allow": false, "status": 500}`, "status must be an integer within 400..499"},
		{"status fraction", `{"allow": false, "status": 403.5}`, "status must be an integer within 400..499"},
		{"reason not string", `{"allow": false, "reason": 7}`, "reason must be a string, got number"},
		{"transforms not array", `{"allow": true, "response_transforms": {"path": "$.a", "action": "redact"}}`, "response_transforms must be an array, got object"},
		{"rule not object", `{"allow": true, "request_transforms": ["$.a"]}`, "request_transforms: rule 0: must be an object"},
		{"path not string", `{"allow": true, "response_transforms": [{"path": 1, "action": "redact"}]}`, "response_transforms: rule 0: path must be a string"},
		{"path missing", `{"allow": true, "response_transforms": [{"path": "$.a", "action": "redact"}, {"action": "redact"}]}`, "response_transforms: rule 1: path is required"},
		{"action not string", `{"allow": true, "response_transforms": [{"path": "$.a", "action": ["redact"]}]}`, "response_transforms: rule 0: action must be a string"},
		{"action missing", `{"allow": true, "response_transforms": [{"path": "$.a"}]}`, "response_transforms: rule 0 ($.a): action is required"},
		{"where not object", `{"allow": true, "response_transforms": [{"path": "$.a", "action": "redact", "where": "x"}]}`, "response_transforms: rule 0: where must be an object with field, op and value"},
		{"where unknown key", `{"allow": true, "response_transforms": [{"path": "$.a", "action": "redact", "where": {"feild": "a", "op": "exists"}}]}`, `response_transforms: rule 0: where: unknown key "feild" (accepted: field, op, value)`},
		{"where op not string", `{"allow": true, "response_transforms": [{"path": "$.a", "action": "redact", "where": {"field": "a", "op": 1}}]}`, "response_transforms: rule 0: where.op must be a string"},
		{"audit not object", `{"allow": true, "audit": "x"}`, "audit must be an object, got string"},
		{"audit record_ids not string", `{"allow": true, "audit": {"record_ids": ["$.id"]}}`, "audit.record_ids must be a string, got array"},
		{"audit path not string", `{"allow": true, "audit": {"path": 1}}`, "audit.path must be a string, got number"},
		{"audit tags not object", `{"allow": true, "audit": {"tags": ["a"]}}`, "audit.tags must be an object, got array"},
		{"audit tag not string", `{"allow": true, "audit": {"tags": {"n": 1}}}`, "audit.tags must map strings to strings"},
		{"audit unknown key", `{"allow": true, "audit": {"record_id": "$.id"}}`, `audit: unknown key "record_id"`},
		{"unknown top-level key", `{"alow": true}`, `unknown decision key "alow"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, logs := newEngine(t, decisionPolicy(tc.expr), Options{})
			d, err := e.Decide(context.Background(), supportInput())
			if !errors.Is(err, ErrInvalidDecision) || d != nil {
				t.Fatalf("Decide = %+v, %v; want ErrInvalidDecision", d, err)
			}
			if want := "policy: invalid decision: " + tc.reason; err.Error() != want {
				t.Fatalf("error = %q, want %q", err, want)
			}
			entries := logs.FilterMessage("policy decision invalid").All()
			if len(entries) != 1 {
				t.Fatalf("got %d warn entries, want 1", len(entries))
			}
			fields := entries[0].ContextMap()
			if fields["revision"] != e.Revision() || fields["reason"] != tc.reason {
				t.Fatalf("log fields = %v", fields)
			}
		})
	}
}

func TestDecisionDecoding(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, map[string]string{"veil.rego": `package veil

decision := {
	"allow": true,
	"request_transforms": [{"path": "$.ssn", "action": "encrypt", "key": "pii"}],
	"response_transforms": rules,
	"audit": {"record_ids": "$.customers[*].id", "path": "/crm/customers/{id}", "tags": {"purpose": "support"}},
}

rules contains {"path": "$.customers[*].ssn", "action": "mask", "keep_last": 4, "ignore": ["-"]}
rules contains {"path": "$.customers[*]", "action": "redact",
	"where": {"field": "owner_id", "op": "!=", "value": input.subject.id}}
`}, Options{})
	got, err := e.Decide(context.Background(), supportInput())
	if err != nil {
		t.Fatal(err)
	}
	want := &Decision{
		Allow:             true,
		RequestTransforms: []transforms.Rule{{Path: "$.ssn", Action: "encrypt", Params: map[string]any{"key": "pii"}}},
		// A set comes out sorted (objects compare by sorted keys first: "action").
		ResponseTransforms: []transforms.Rule{
			{Path: "$.customers[*].ssn", Action: "mask", Params: map[string]any{"keep_last": json.Number("4"), "ignore": []any{"-"}}},
			{Path: "$.customers[*]", Action: "redact", Where: &transforms.Where{Field: "owner_id", Op: "!=", Value: "alice"}},
		},
		Audit:    AuditSpec{RecordIDs: "$.customers[*].id", Path: "/crm/customers/{id}", Tags: map[string]string{"purpose": "support"}},
		Revision: e.Revision(),
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		t.Fatalf("Decide =\n%s\nwant\n%s", gj, wj)
	}
}

// bodyPolicy reports what the policy saw of the body.
const bodyPolicy = `package veil

decision := {"allow": true, "reason": sprintf("%s %s", [input.request.body_state, json.marshal(object.get(input.request, "body", "none"))])}
`

func TestBody(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, map[string]string{"veil.rego": bodyPolicy}, Options{MaxJSONDepth: 3})
	tests := []struct {
		name, state, body string
		wantReason        string
		wantErr           error
	}{
		{"parsed", BodyParsed, `{"a": [1, 2.50, -3e2], "s\u0073n": "x\"y", "t": true, "n": null}`, `parsed {"a":[1,2.50,-3e2],"n":null,"ssn":"x\"y","t":true}`, nil},
		{"depth at limit", BodyParsed, `{"a": [{"b": 1}]}`, `parsed {"a":[{"b":1}]}`, nil},
		{"too deep", BodyParsed, `{"a": [{"b": [1]}]}`, "", ErrBodyTooDeep},
		{"duplicate key", BodyParsed, `{"a": 1, "b": 2, "a": 3}`, "", ErrDuplicateKey},
		{"duplicate key nested", BodyParsed, `[{"x": {"k": 1, "k": 1}}]`, "", ErrDuplicateKey},
		{"duplicate key after unescaping", BodyParsed, `{"ssn": 1, "s\u0073n": 2}`, "", ErrDuplicateKey},
		{"syntax error seen as invalid", BodyParsed, `{"a": 1,}`, `invalid "none"`, nil},
		{"trailing data seen as invalid", BodyParsed, `{} {}`, `invalid "none"`, nil},
		{"not parsed: body ignored", BodyTooLarge, `{"a": 1, "a": 2}`, `too_large "none"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := supportInput()
			in.BodyState, in.Body = tc.state, []byte(tc.body)
			d, err := e.Decide(context.Background(), in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Decide error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), `"a"`) || strings.Contains(err.Error(), "ssn") {
					t.Fatalf("error %q quotes the body", err)
				}
				return
			}
			if d.Reason != tc.wantReason {
				t.Fatalf("reason = %s, want %s", d.Reason, tc.wantReason)
			}
		})
	}
}

func TestBodyNotDecodedWhenPolicyIgnoresIt(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": input.request.method == "POST"}`), Options{})
	if e.ReadsBody() {
		t.Fatal("ReadsBody = true")
	}
	in := supportInput()
	in.Method, in.BodyState, in.Body = "POST", BodyParsed, []byte(`{"a": 1, "a": 2}`)
	d, err := e.Decide(context.Background(), in)
	if err != nil || !d.Allow {
		t.Fatalf("Decide = %+v, %v; want allow (the body is the transforms' business)", d, err)
	}
}

func TestCredentialHeadersDropped(t *testing.T) {
	t.Parallel()
	// The policy would leak every header name and value into the reason.
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": json.marshal(input.request.headers)}`),
		Options{CredentialHeaders: []string{"X-Session-Token"}})
	in := supportInput()
	in.Headers = [][2]string{
		{"accept", "application/json"},
		{"authorization", "Bearer eyJsecret"},
		{"Authorization", "Basic c2VjcmV0"},
		{"cookie", "sid=secret"},
		{"proxy-authorization", "Basic secret"},
		{"x-api-key", "secret-key"},
		{"x-session-token", "secret-session"},
		{"x-trace", "t1"},
	}
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"accept":["application/json"],"x-trace":["t1"]}`; d.Reason != want {
		t.Fatalf("headers seen by policy = %s, want %s", d.Reason, want)
	}
}

func TestMultiValuedQueryAndHeaders(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": json.marshal([input.request.query, input.request.headers, input.request.segments])}`), Options{})
	in := supportInput()
	in.Query = [][2]string{{"id", "1"}, {"limit", "10"}, {"id", "2"}, {"id", "1"}, {"empty", ""}}
	in.Headers = [][2]string{{"accept", "a"}, {"x-forwarded-for", "1.1.1.1"}, {"accept", "b"}}
	in.Segments = nil
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"empty":[""],"id":["1","2","1"],"limit":["10"]},{"accept":["a","b"],"x-forwarded-for":["1.1.1.1"]},[]]`
	if d.Reason != want {
		t.Fatalf("input = %s, want %s", d.Reason, want)
	}
}

func TestAnonymousSubject(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": json.marshal(input.subject)}`), Options{})
	d, err := e.Decide(context.Background(), &Input{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"authenticated":false,"claims":{},"id":"","method":"","roles":[]}`; d.Reason != want {
		t.Fatalf("subject = %s, want %s", d.Reason, want)
	}
}

func TestReadsBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, rules string
		want        bool
	}{
		{"no input", `decision := {"allow": true}`, false},
		{"subject and method only", `decision := {"allow": "x" in input.subject.roles}
r if input.request.method == "GET"`, false},
		{"headers and query", `decision := {"allow": input.request.headers.accept[0] == input.request.query.a[0]}`, false},
		{"body field", `decision := {"allow": input.request.body.amount < 10}`, true},
		{"whole body", `decision := {"allow": is_object(input.request.body)}`, true},
		{"body_state only", `decision := {"allow": input.request.body_state == "parsed"}`, true},
		{"whole request", `decision := {"allow": true, "reason": json.marshal(input.request)}`, true},
		{"whole input", `decision := {"allow": true, "reason": json.marshal(input)}`, true},
		{"input passed to a function", `decision := {"allow": f(input)}
f(x) := x.request.body.ok`, true},
		{"dynamic key into request", `decision := {"allow": true} if { some k; input.request[k] == "x" }`, true},
		{"dynamic key into input", `decision := {"allow": true} if { some k; input[k].body }`, true},
		{"object.get on request", `decision := {"allow": object.get(input.request, ["body", "a"], false)}`, true},
		{"import alias", "import input.request.body as b\ndecision := {\"allow\": b.ok}", true},
		{"import alias of headers", "import input.request.headers as h\ndecision := {\"allow\": h.a[0] == \"1\"}", false},
		{"body in a helper rule", `decision := {"allow": small}
small if count(input.request.body.items) < 3`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, _ := newEngine(t, map[string]string{"veil.rego": "package veil\n\n" + tc.rules + "\n"}, Options{})
			if got := e.ReadsBody(); got != tc.want {
				t.Fatalf("ReadsBody = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRevision(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"veil.rego":     "package veil\n\ndecision := {\"allow\": helper}\n",
		"lib/help.rego": "package veil\n\nhelper := true\n",
	}
	e1, dir, _ := newEngine(t, base, Options{})
	e2, _, _ := newEngine(t, base, Options{})
	if len(e1.Revision()) != 16 || e1.Revision() != e2.Revision() {
		t.Fatalf("revisions %q, %q: want equal, 16 hex characters", e1.Revision(), e2.Revision())
	}
	rev := e1.Revision()

	// Tests, other files and an unchanged reload keep the revision.
	writeFiles(t, dir, map[string]string{
		"veil_test.rego": "package veil\n\ntest_x if true\n",
		"notes.md":       "hello",
		// A ConfigMap volume's hidden copies and editor leftovers.
		"..2026_11_22/veil.rego": "package veil\n\ndecision := {\"allow\": false}\n",
		".#veil.rego":            "package veil\n\nbroken {\n",
	})
	if err := e1.Reload(); err != nil || e1.Revision() != rev {
		t.Fatalf("Reload = %v, revision %s; want nil, %s", err, e1.Revision(), rev)
	}

	// A change in a subdirectory changes it.
	writeFiles(t, dir, map[string]string{"lib/help.rego": "package veil\n\nhelper := false\n"})
	if err := e1.Reload(); err != nil {
		t.Fatal(err)
	}
	if e1.Revision() == rev {
		t.Fatal("revision unchanged after content change")
	}
	d, err := e1.Decide(context.Background(), supportInput())
	if err != nil || d.Allow || d.Revision != e1.Revision() {
		t.Fatalf("Decide = %+v, %v; want deny from the new revision", d, err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		query string
		want  string // substring of the error
	}{
		{"parse error", map[string]string{"veil.rego": "package veil\n\ndecision := {\n"}, "", "veil.rego:"},
		{"rego v0 syntax refused", map[string]string{"veil.rego": "package veil\n\nallow { true }\n"}, "", "veil.rego:3"},
		{"compile error", map[string]string{"veil.rego": "package veil\n\ndecision := {\"allow\": nope}\n"}, "", "var nope is unsafe"},
		{"no policy files", map[string]string{"only_test.rego": "package veil\n"}, "", "no *.rego files"},
		{"bad query", map[string]string{"veil.rego": "package veil\n"}, "data.veil[", "query"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := New(Config{Dir: dir, Query: tc.query}, Options{})
			if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want ErrCompile containing %q", err, tc.want)
			}
		})
	}
}

func TestReloadRefusesBrokenRevision(t *testing.T) {
	t.Parallel()
	e, dir, _ := newEngine(t, decisionPolicy(`{"allow": true}`), Options{})
	rev := e.Revision()
	writeFiles(t, dir, map[string]string{"veil.rego": "package veil\n\ndecision := {\"allow\": \n"})
	if err := e.Reload(); !errors.Is(err, ErrCompile) {
		t.Fatalf("Reload error = %v, want ErrCompile", err)
	}
	d, err := e.Decide(context.Background(), supportInput())
	if err != nil || !d.Allow || d.Revision != rev || e.Revision() != rev {
		t.Fatalf("Decide = %+v, %v; want the old revision %s to keep serving", d, err, rev)
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	e, dir, logs := newEngine(t, decisionPolicy(`{"allow": false}`), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch = %v", err)
		}
	}()
	// The watcher registers asynchronously: probe until a write is seen.
	for attempt := 0; logs.FilterMessage("policy reloaded").Len() == 0; attempt++ {
		if attempt == 10 {
			t.Fatal("watcher never reloaded")
		}
		writeFiles(t, dir, map[string]string{"probe.rego": fmt.Sprintf("package probe\n\nx := %d\n", attempt)})
		for i := 0; i < 25 && logs.FilterMessage("policy reloaded").Len() == 0; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	rev0 := e.Revision()

	// A new file in a new subdirectory is picked up.
	writeFiles(t, dir, map[string]string{"sub/override.rego": "package veil\n\nallowed := true\n"})
	writeFiles(t, dir, map[string]string{"veil.rego": "package veil\n\ndecision := {\"allow\": allowed}\n"})
	waitFor(t, "new revision", func() bool { return e.Revision() != rev0 })
	rev1 := e.Revision()
	d, err := e.Decide(context.Background(), supportInput())
	if err != nil || !d.Allow || d.Revision != rev1 {
		t.Fatalf("Decide = %+v, %v; want allow from %s", d, err, rev1)
	}

	// A broken revision is refused and logged; the old one keeps serving.
	writeFiles(t, dir, map[string]string{"sub/override.rego": "package veil\n\nallowed := \n"})
	waitFor(t, "refusal", func() bool { return logs.FilterMessage("policy reload refused").Len() > 0 })
	if e.Revision() != rev1 {
		t.Fatalf("revision = %s, want %s still serving", e.Revision(), rev1)
	}
	if d, err := e.Decide(context.Background(), supportInput()); err != nil || !d.Allow {
		t.Fatalf("Decide after refusal = %+v, %v", d, err)
	}
}

func TestWatchRefusesFS(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"veil.rego": {Data: []byte("package veil\n\ndecision := {\"allow\": true}\n")}}
	e, err := New(Config{}, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Watch(context.Background()); err == nil {
		t.Fatal("Watch on an fs.FS engine returned nil")
	}
}

func TestLoadFromFS(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"policies/veil.rego":      {Data: []byte("package veil\n\ndecision := {\"allow\": true, \"reason\": data.veil.lib.r}\n")},
		"policies/lib/lib.rego":   {Data: []byte("package veil.lib\n\nr := \"from fs\"\n")},
		"policies/veil_test.rego": {Data: []byte("package veil\n\nbroken {\n")}, // excluded
	}
	e, err := New(Config{Dir: "policies"}, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), supportInput())
	if err != nil || !d.Allow || d.Reason != "from fs" {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": "support" in input.subject.roles}`), Options{})
	var buf bytes.Buffer
	d, err := e.Explain(context.Background(), supportInput(), &buf)
	if err != nil || !d.Allow {
		t.Fatalf("Explain = %+v, %v", d, err)
	}
	trace := buf.String()
	for _, want := range []string{"Enter data.veil.decision", "veil.rego:3", "Exit data.veil.decision"} {
		if !strings.Contains(trace, want) {
			t.Fatalf("trace lacks %q:\n%s", want, trace)
		}
	}
}

func TestRunTests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"veil.rego": "package veil\n\ndecision := {\"allow\": \"support\" in input.subject.roles}\n",
		"veil_test.rego": `package veil_test

import data.veil

test_support_allowed if veil.decision.allow with input as {"subject": {"roles": ["support"]}}

test_guest_allowed if veil.decision.allow with input as {"subject": {"roles": ["guest"]}}
`,
	})
	for _, verbose := range []bool{false, true} {
		var out bytes.Buffer
		pass, fail, err := RunTests(context.Background(), dir, nil, &out, verbose)
		if err != nil || pass != 1 || fail != 1 {
			t.Fatalf("RunTests(verbose=%v) = %d, %d, %v; want 1, 1, nil\n%s", verbose, pass, fail, err, out.String())
		}
		for _, want := range []string{"FAIL", "data.veil_test.test_guest_allowed", "PASS: 1/2", "FAIL: 1/2"} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("output lacks %q:\n%s", want, out.String())
			}
		}
		if verbose != strings.Contains(out.String(), "data.veil_test.test_support_allowed") {
			t.Fatalf("verbose=%v: passing test listed = %v\n%s", verbose, !verbose, out.String())
		}
	}

	// The same from an fs.FS.
	var out bytes.Buffer
	pass, fail, err := RunTests(context.Background(), ".", os.DirFS(dir), &out, false)
	if err != nil || pass != 1 || fail != 1 {
		t.Fatalf("RunTests(fs) = %d, %d, %v\n%s", pass, fail, err, out.String())
	}

	// A compile error is an error, not a failing test.
	writeFiles(t, dir, map[string]string{"broken.rego": "package broken\n\nx := y\n"})
	if _, _, err := RunTests(context.Background(), dir, nil, &out, false); err == nil {
		t.Fatal("RunTests with a compile error returned nil")
	}
}

func TestCRMPolicy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "crm")
	e, err := New(Config{Dir: dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.ReadsBody() {
		t.Fatal("the CRM policy reads body_state: the gateway must read the body to classify it; ReadsBody = false")
	}
	tests := []struct {
		name    string
		roles   []string
		auth    bool
		allow   bool
		status  int
		actions []string
	}{
		{"support", []string{"support"}, true, true, 0, []string{"generalize", "mask", "redact"}},
		{"sales", []string{"sales"}, true, true, 0, []string{"generalize", "hash", "mask", "redact", "redact"}},
		{"admin", []string{"admin"}, true, true, 0, nil},
		{"guest", []string{"guest"}, true, false, 0, nil},
		{"anonymous", nil, false, false, 401, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := supportInput()
			in.Subject.Roles, in.Subject.Authenticated = tc.roles, tc.auth
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, r := range d.ResponseTransforms {
				actions = append(actions, r.Action)
			}
			if d.Allow != tc.allow || d.Status != tc.status || !reflect.DeepEqual(actions, tc.actions) {
				t.Fatalf("Decide = allow %v status %d actions %v; want %v %d %v", d.Allow, d.Status, actions, tc.allow, tc.status, tc.actions)
			}
			if tc.allow && d.Audit.Path != "/crm/customers/{id}" {
				t.Fatalf("audit path = %q", d.Audit.Path)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"veil.rego": {Data: []byte("package veil\n\ndecision := {\"allow\": true}\n")}}
	e, err := New(Config{}, Options{FS: fsys, CredentialHeaders: []string{"", "X-Token"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.Dir != "." || e.cfg.Query != "data.veil.decision" || e.timeout != 50*time.Millisecond || e.maxDepth != 128 {
		t.Fatalf("defaults: dir %q query %q timeout %v depth %d", e.cfg.Dir, e.cfg.Query, e.timeout, e.maxDepth)
	}
	if want := []string{"authorization", "cookie", "proxy-authorization", "x-api-key", "x-token"}; !reflect.DeepEqual(e.creds, want) {
		t.Fatalf("credential headers %q, want %q", e.creds, want)
	}
	if _, err := New(Config{Dir: filepath.Join(t.TempDir(), "missing")}, Options{}); !errors.Is(err, ErrCompile) {
		t.Fatalf("New on a missing dir = %v, want ErrCompile", err)
	}
}

func TestDecideDuringReload(t *testing.T) {
	t.Parallel()
	allowSrc := map[string]string{"veil.rego": "package veil\n\ndecision := {\"allow\": true}\n"}
	denySrc := map[string]string{"veil.rego": "package veil\n\ndecision := {\"allow\": false}\n"}
	e, dir, _ := newEngine(t, allowSrc, Options{})
	allowRev := e.Revision()
	writeFiles(t, dir, denySrc)
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	denyRev := e.Revision()

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var err error
			for i := 0; err == nil && ctx.Err() == nil && i < 5000; i++ {
				d, derr := e.Decide(context.Background(), supportInput())
				switch {
				case derr != nil:
					err = derr
				case d.Revision == allowRev && !d.Allow, d.Revision == denyRev && d.Allow:
					err = fmt.Errorf("decision %+v does not match its revision", d)
				case d.Revision != allowRev && d.Revision != denyRev:
					err = fmt.Errorf("unknown revision %s", d.Revision)
				}
			}
			errs <- err
		}()
	}
	for i := range 20 {
		src := allowSrc
		if i%2 == 1 {
			src = denySrc
		}
		writeFiles(t, dir, src)
		if err := e.Reload(); err != nil {
			t.Error(err)
		}
	}
	cancel()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if e.Revision() != denyRev {
		t.Fatalf("final revision %s, want %s", e.Revision(), denyRev)
	}
}

func TestExplainOnError(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": "maybe"}`), Options{})
	var buf bytes.Buffer
	_, err := e.Explain(context.Background(), supportInput(), &buf)
	if !errors.Is(err, ErrInvalidDecision) {
		t.Fatalf("Explain error = %v, want ErrInvalidDecision", err)
	}
	if !strings.Contains(buf.String(), "Exit data.veil.decision") {
		t.Fatalf("no trace written on error:\n%s", buf.String())
	}
}

// TestNetworkBuiltinsAreRefused: a policy cannot send request data out of
// the gateway (http.send, DNS lookups) or read its environment
// (opa.runtime): such a policy does not load.
func TestNetworkBuiltinsAreRefused(t *testing.T) {
	t.Parallel()
	for name, rule := range map[string]string{
		"http.send":          `decision := {"allow": true} if http.send({"method": "POST", "url": "http://127.0.0.1:1/x", "body": input})`,
		"net.lookup_ip_addr": `decision := {"allow": true} if net.lookup_ip_addr(concat(".", [input.subject.id, "example.com"]))`,
		"opa.runtime":        `decision := {"allow": true, "reason": json.marshal(opa.runtime().env)}`,
	} {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"veil.rego": "package veil\n\n" + rule + "\n"})
		_, err := New(Config{Dir: dir}, Options{})
		if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: loaded (%v)", name, err)
		}
	}
	// Ordinary built-ins still work.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"veil.rego": "package veil\n\ndecision := {\"allow\": startswith(input.request.path, \"/crm/\")}\n"})
	if _, err := New(Config{Dir: dir}, Options{}); err != nil {
		t.Fatal(err)
	}
}
