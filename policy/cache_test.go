package policy

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestInputUses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, rules string
		want        inputUse
	}{
		{"no input", `decision := {"allow": true}`, 0},
		{"one field", `decision := {"allow": input.request.method == "GET"}`, useMethod},
		{"fields of three objects", `decision := {"allow": "x" in input.subject.roles}
r if input.route.prefix == input.request.path`, useRoles | useRoutePrefix | usePath},
		{"below a field", `decision := {"allow": input.request.query.a[0] == input.subject.claims.tenant}`, useQuery | useClaims},
		{"whole request", `decision := {"allow": true, "reason": json.marshal(input.request)}`, useRequest},
		{"whole input", `decision := {"allow": true, "reason": json.marshal(input)}`, useAll},
		{"input passed to a function", `decision := {"allow": f(input)}
f(x) := x.request.body.ok`, useAll},
		{"dynamic key into subject", `decision := {"allow": true} if { some k; input.subject[k] == "x" }`, useSubject},
		{"dynamic key into input", `decision := {"allow": true} if { some k; input[k].id }`, useAll},
		{"time", `decision := {"allow": input.time_ns > 0}`, useTimeNS},
		{"request id", `decision := {"allow": input.request.id != ""}`, useRequestID},
		{"import alias", "import input.subject as s\ndecision := {\"allow\": s.authenticated}", useAuthenticated},
		{"with target", `decision := {"allow": true} if { r with input.request.host as "x" }
r if input.subject.id == "a"`, useHost | useSubjectID},
		{"key the gateway never sets", `decision := {"allow": input.extra.x == 1}`, 0},
		{"ref inside a data ref", `decision := {"allow": m[input.request.method]}
m := {"GET": true}`, useMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, _ := newEngine(t, map[string]string{"veil.rego": "package veil\n\n" + tc.rules + "\n"}, Options{})
			if got := e.cur.Load().uses; got != tc.want {
				t.Fatalf("uses = %018b, want %018b", got, tc.want)
			}
		})
	}
}

// TestInputLeavesOutUnreadFields checks that the input holds exactly the
// fields the revision reads, with their values.
func TestInputLeavesOutUnreadFields(t *testing.T) {
	t.Parallel()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": input.request.method == "GET", "reason": input.subject.id}`), Options{})
	rev := e.cur.Load()
	v, err := e.buildInput(supportInput(), rev.readsBody, rev.uses)
	if err != nil {
		t.Fatal(err)
	}
	want := ast.MustParseTerm(`{"request": {"method": "GET"}, "subject": {"id": "alice"}}`).Value
	if v.Compare(want) != 0 {
		t.Fatalf("input = %v, want %v", v, want)
	}
}

func TestDecisionCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("a repeated input is decided once", func(t *testing.T) {
		t.Parallel()
		e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": input.subject.id}`), Options{})
		in := supportInput()
		d1, err1 := e.Decide(ctx, in)
		in.RequestID, in.TimeNS, in.Headers = "req-2", 42, nil // not read by the policy
		d2, err2 := e.Decide(ctx, in)
		if err1 != nil || err2 != nil || d1 != d2 {
			t.Fatalf("Decide = %p, %v then %p, %v; want one shared decision", d1, err1, d2, err2)
		}
	})

	t.Run("subjects never share what they should not", func(t *testing.T) {
		t.Parallel()
		e, _, _ := newEngine(t, decisionPolicy(`{"allow": "support" in input.subject.roles, "reason": input.subject.id}`), Options{})
		for range 2 { // the second round is served from the cache
			for _, s := range []struct {
				id, role string
				allow    bool
			}{{"alice", "support", true}, {"bob", "support", true}, {"alice", "intern", false}, {`al"ice`, "support", true}} {
				in := supportInput()
				in.Subject.ID, in.Subject.Roles = s.id, []string{s.role}
				d, err := e.Decide(ctx, in)
				if err != nil || d.Reason != s.id || d.Allow != s.allow {
					t.Fatalf("Decide(%s, %s) = %+v, %v; want reason %q, allow %v", s.id, s.role, d, err, s.id, s.allow)
				}
			}
		}
	})

	t.Run("equal decisions share one decoding", func(t *testing.T) {
		t.Parallel()
		e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "response_transforms": [{"path": "$..ssn", "action": "redact"}]} if "support" in input.subject.roles`), Options{})
		a, b := supportInput(), supportInput()
		b.Subject.ID = "bob"
		da, erra := e.Decide(ctx, a)
		db, errb := e.Decide(ctx, b)
		if erra != nil || errb != nil || da != db || len(da.ResponseTransforms) != 1 {
			t.Fatalf("Decide = %+v, %v and %+v, %v; want one shared decision", da, erra, db, errb)
		}
	})

	tests := []struct {
		name, expr string
		change     func(*Input)
	}{
		{"time_ns", `{"allow": true, "reason": format_int(input.time_ns, 10)}`, func(in *Input) { in.TimeNS++ }},
		{"request id", `{"allow": true, "reason": input.request.id}`, func(in *Input) { in.RequestID = "req-2" }},
		{"non-deterministic built-in", `{"allow": true, "reason": format_int(time.now_ns(), 10)}`, nil},
		{"non-deterministic built-in in a helper", `{"allow": true, "reason": r}
r := sprintf("%d", [x]) if { x := rand.intn("seed", 1000) }`, nil},
	}
	for _, tc := range tests {
		t.Run("not cached: "+tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, _ := newEngine(t, decisionPolicy(tc.expr), Options{})
			if e.cur.Load().byInput != nil {
				t.Fatal("revision caches decisions by input")
			}
			in := supportInput()
			d1, err := e.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.change == nil {
				return
			}
			tc.change(in)
			d2, err := e.Decide(ctx, in)
			if err != nil || d2.Reason == d1.Reason {
				t.Fatalf("second Decide = %+v, %v; want a new reason", d2, err)
			}
		})
	}

	t.Run("inputs with a body are not kept", func(t *testing.T) {
		t.Parallel()
		e, _, _ := newEngine(t, decisionPolicy(`{"allow": true} if input.request.body.ok == true`+
			"\ndecision := {\"allow\": true} if input.request.body_state == \"absent\""), Options{})
		in := supportInput()
		in.Method, in.BodyState, in.Body = "POST", BodyParsed, []byte(`{"ok": true}`)
		for range 2 {
			if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
				t.Fatalf("Decide = %+v, %v", d, err)
			}
		}
		if n := cachedInputs(e); n != 0 {
			t.Fatalf("%d inputs cached, want 0", n)
		}
		in.BodyState, in.Body = BodyAbsent, nil
		if _, err := e.Decide(ctx, in); err != nil {
			t.Fatal(err)
		}
		if n := cachedInputs(e); n != 1 {
			t.Fatalf("%d inputs cached, want 1", n)
		}
	})

	t.Run("a reload starts over", func(t *testing.T) {
		t.Parallel()
		e, dir, _ := newEngine(t, decisionPolicy(`{"allow": true}`), Options{})
		if d, err := e.Decide(ctx, supportInput()); err != nil || !d.Allow {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		writeFiles(t, dir, decisionPolicy(`{"allow": false}`))
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
		if d, err := e.Decide(ctx, supportInput()); err != nil || d.Allow || d.Revision != e.Revision() {
			t.Fatalf("Decide after reload = %+v, %v; want a denial of revision %s", d, err, e.Revision())
		}
	})

	t.Run("Explain traces a cached decision", func(t *testing.T) {
		t.Parallel()
		e, _, _ := newEngine(t, decisionPolicy(`{"allow": true}`), Options{})
		d1, err := e.Decide(ctx, supportInput())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		d2, err := e.Explain(ctx, supportInput(), &buf)
		if err != nil || d2 != d1 || !strings.Contains(buf.String(), "Exit data.veil.decision") {
			t.Fatalf("Explain = %+v, %v with trace:\n%s", d2, err, buf.String())
		}
	})

	t.Run("concurrent subjects", func(t *testing.T) {
		t.Parallel()
		e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": input.subject.id}`), Options{})
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Go(func() {
				for i := range 300 {
					in := supportInput()
					in.Subject.ID = fmt.Sprintf("u-%d", (i*7+g)%50)
					d, err := e.Decide(ctx, in)
					if err != nil || d.Reason != in.Subject.ID {
						errs <- fmt.Errorf("Decide(%s) = %+v, %v", in.Subject.ID, d, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

func TestDecisionCacheBound(t *testing.T) {
	t.Parallel()
	c := &decisionCache{max: 8}
	d := &Decision{}
	for i := range 20 {
		c.put(ast.Number(fmt.Sprint(i)), d)
		if n := c.len(); n > 8 {
			t.Fatalf("%d entries after %d puts, want at most 8", n, i+1)
		}
		if c.get(ast.Number(fmt.Sprint(i))) != d {
			t.Fatalf("entry %d missing right after put", i)
		}
	}
	if c.get(ast.Number("19")) != d || c.get(ast.String("19")) != nil {
		t.Fatal("lookup does not compare values exactly")
	}
}

func TestReadsHeadersAndQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rules          string
		headers, query bool
	}{
		{`decision := {"allow": input.subject.authenticated}`, false, false},
		{`decision := {"allow": input.request.headers.accept[0] == "x"}`, true, false},
		{`decision := {"allow": input.request.query.a == ["1"]}`, false, true},
		{`decision := {"allow": true, "reason": json.marshal(input.request)}`, true, true},
	} {
		e, _, _ := newEngine(t, map[string]string{"veil.rego": "package veil\n\n" + tc.rules + "\n"}, Options{})
		if e.ReadsHeaders() != tc.headers || e.ReadsQuery() != tc.query {
			t.Errorf("%s: headers %v query %v", tc.rules, e.ReadsHeaders(), e.ReadsQuery())
		}
	}
}

// TestPinnedRevisionDecidesAfterReload: a request that pinned a revision
// (and built its input for it) is decided by that revision even when a
// reload swaps in a new one meanwhile.
func TestPinnedRevisionDecidesAfterReload(t *testing.T) {
	t.Parallel()
	e, dir, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": "old"}`), Options{})
	pinned := e.Current()
	writeFiles(t, dir, decisionPolicy(`{"allow": object.get(input.request.headers, "x-ok", []) == ["1"], "reason": "new"}`))
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if pinned.ReadsHeaders() || !e.Current().ReadsHeaders() {
		t.Fatal("ReadsHeaders must follow the revision")
	}
	d, err := pinned.Decide(context.Background(), supportInput())
	if err != nil || d.Reason != "old" || d.Revision != pinned.ID() {
		t.Fatalf("pinned revision: %+v %v", d, err)
	}
	d, err = e.Current().Decide(context.Background(), supportInput())
	if err != nil || d.Reason != "new" || d.Revision == pinned.ID() {
		t.Fatalf("current revision: %+v %v", d, err)
	}
}

func cachedInputs(e *Engine) int {
	rev := e.cur.Load()
	return rev.byInput.len() + rev.byKey.len()
}

// TestInputKey: the cache key stands for the input document: every field
// the policy reads tells two inputs apart (also where a naive
// concatenation would not), fields it does not read and credential
// headers do not, and no credential is part of a key.
func TestInputKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": json.marshal([input.request.method, input.request.host,
	input.request.path, input.request.segments, input.request.query, input.request.headers, input.request.body_state,
	input.request.client_ip, input.route, input.subject.authenticated, input.subject.id, input.subject.roles, input.subject.method])}`), Options{})
	base := func() *Input {
		in := supportInput()
		in.Host, in.Segments, in.ClientIP, in.RouteName, in.RoutePrefix = "crm.local", []string{"ab", "c"}, "10.0.0.1", "crm", "/crm/"
		in.Query = [][2]string{{"a", "b"}}
		in.Headers = [][2]string{{"x-tenant", "t1"}, {"authorization", "Bearer secret-token"}}
		in.Subject.Roles = []string{"a", "b"}
		return in
	}
	variants := map[string]func(*Input){
		"method":         func(in *Input) { in.Method = "PUT" },
		"host":           func(in *Input) { in.Host = "hrm.local" },
		"path":           func(in *Input) { in.Path = "/other" },
		"segments":       func(in *Input) { in.Segments = []string{"a", "bc"} },
		"segment count":  func(in *Input) { in.Segments = []string{"abc"} },
		"query":          func(in *Input) { in.Query = [][2]string{{"ab", ""}} },
		"query value":    func(in *Input) { in.Query = [][2]string{{"a", "c"}} },
		"header":         func(in *Input) { in.Headers[0][1] = "t2" },
		"body state":     func(in *Input) { in.BodyState = BodyTooLarge },
		"client ip":      func(in *Input) { in.ClientIP = "10.0.0.2" },
		"route name":     func(in *Input) { in.RouteName = "hrm" },
		"route prefix":   func(in *Input) { in.RoutePrefix = "/crm/v2/" },
		"authenticated":  func(in *Input) { in.Subject.Authenticated = !in.Subject.Authenticated },
		"subject id":     func(in *Input) { in.Subject.ID = "bob" },
		"roles":          func(in *Input) { in.Subject.Roles = []string{"ab"} },
		"role split":     func(in *Input) { in.Subject.Roles = []string{"a", "b", ""} },
		"subject method": func(in *Input) { in.Subject.Method = "api_key" },
	}
	d0, err := e.Decide(ctx, base())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{d0.Reason: "base"}
	for name, vary := range variants {
		in := base()
		vary(in)
		d, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[d.Reason]; dup {
			t.Errorf("%s: got the decision of %s (%s)", name, prev, d.Reason)
		}
		seen[d.Reason] = name
	}
	// The cache answers the same inputs again, and unread fields or a
	// different credential do not split entries.
	in := base()
	in.Headers[1][1], in.RequestID, in.TimeNS = "Bearer other-token", "r-9", 7
	if d, err := e.Decide(ctx, in); err != nil || d != d0 {
		t.Fatalf("same input with another credential: %p %v, want the cached %p", d, err, d0)
	}
	key := e.appendInputKey(nil, base(), e.cur.Load().uses)
	if bytes.Contains(key, []byte("secret-token")) || !bytes.Contains(key, []byte("t1")) {
		t.Fatalf("key %q holds a credential or lacks a read header", key)
	}
	if hits, _ := e.CacheStats(); hits != 1 {
		t.Fatalf("%d cache hits, want 1", hits)
	}
}

// TestDecisionCacheBypassedForClockBuiltins: a revision whose policy calls
// a built-in that reads the current time does not cache decisions by
// input, also where OPA does not flag the built-in non-deterministic
// (x509 chain verification checks validity periods against the clock):
// a decision cached while a certificate chain or token was valid would be
// served after it expired. Each request is evaluated (the cache counts
// neither hits nor misses); the control, which parses certificates
// without verifying them, is cached, so the counts observe something.
func TestDecisionCacheBypassedForClockBuiltins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "test-secret-0123456789abcdef"
	chain := certChainPEM(t)
	token := hs256JWT(secret, fmt.Sprintf(`{"sub":"alice","exp":%d}`, time.Now().Add(time.Hour).Unix()))
	tests := []struct {
		name, check string
		cached      bool
	}{
		{"crypto.x509.parse_and_verify_certificates",
			`[ok, _] := crypto.x509.parse_and_verify_certificates(input.request.headers["x-cert-chain"][0])`, false},
		{"crypto.x509.parse_and_verify_certificates_with_options",
			`[ok, _] := crypto.x509.parse_and_verify_certificates_with_options(input.request.headers["x-cert-chain"][0], {"KeyUsages": ["KeyUsageServerAuth"]})`, false},
		{"io.jwt.decode_verify",
			`[ok, _, _] := io.jwt.decode_verify(input.request.headers["x-token"][0], {"secret": "` + secret + `"})`, false},
		{"control: crypto.x509.parse_certificates",
			`ok := count(crypto.x509.parse_certificates(input.request.headers["x-cert-chain"][0])) == 2`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, _, _ := newEngine(t, map[string]string{"veil.rego": "package veil\n\ndefault valid := false\n\nvalid if {\n\t" +
				tc.check + "\n\tok\n}\n\ndecision := {\"allow\": valid}\n"}, Options{})
			if cached := e.cur.Load().byInput != nil; cached != tc.cached {
				t.Fatalf("revision caches decisions by input: %v, want %v", cached, tc.cached)
			}
			in := supportInput()
			in.Headers = [][2]string{{"x-cert-chain", chain}, {"x-token", token}}
			for i := range 2 {
				if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
					t.Fatalf("Decide #%d = %+v, %v; want an allow", i+1, d, err)
				}
			}
			var wantHits, wantMisses uint64
			if tc.cached {
				wantHits, wantMisses = 1, 1
			}
			if hits, misses := e.CacheStats(); hits != wantHits || misses != wantMisses {
				t.Fatalf("cache hits %d, misses %d; want %d, %d", hits, misses, wantHits, wantMisses)
			}
		})
	}
}
