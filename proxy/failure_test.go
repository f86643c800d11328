package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// flakyWriter fails every write while broken is set.
type flakyWriter struct {
	broken atomic.Bool
	buf    syncBuffer
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	if w.broken.Load() {
		return 0, errors.New("sink down")
	}
	return w.buf.Write(p)
}

// TestAuditDownDeniesInDenyMode: while a sink fails, requests are refused
// before the upstream (503 audit_unavailable); every event, the refused
// requests' included, is kept and delivered once the sink recovers.
func TestAuditDownDeniesInDenyMode(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	w := &flakyWriter{}
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), auditW: w})
	if resp, _ := tg.do(t, "GET", "/api/1", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthy: %d", resp.StatusCode)
	}
	w.broken.Store(true)
	tg.do(t, "GET", "/api/2", nil, nil) // its event cannot be delivered: the pipeline turns unhealthy
	waitUntil(t, func() bool { return tg.g.audit.Healthy() != nil })
	hits := up.hits.Load()
	resp, body := tg.do(t, "GET", "/api/3", nil, nil)
	if resp.StatusCode != 503 || decodeError(t, body).Error.Code != "audit_unavailable" {
		t.Fatalf("audit down: %d %s", resp.StatusCode, body)
	}
	if up.hits.Load() != hits {
		t.Fatal("a request reached the upstream while the audit trail was down")
	}
	w.broken.Store(false)
	waitUntil(t, func() bool { return tg.g.audit.Healthy() == nil })
	if resp, _ := tg.do(t, "GET", "/api/4", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("after recovery: %d", resp.StatusCode)
	}
	waitUntil(t, func() bool { return len(w.buf.lines()) == 4 })
	for i, l := range w.buf.lines() {
		if !strings.Contains(l, `"path":"/api/`+strconv.Itoa(i+1)+`"`) {
			t.Fatalf("event %d after recovery: %s", i+1, l)
		}
	}
	if !strings.Contains(w.buf.lines()[2], `"status":503`) {
		t.Fatalf("the refused request's event: %s", w.buf.lines()[2])
	}
	metrics := tg.metricsText(t)
	if !strings.Contains(metrics, `veil_audit_sink_healthy{sink="stdout",type="stdout"} 1`) ||
		!strings.Contains(metrics, `veil_audit_sink_dropped_total{sink="stdout",type="stdout"} 0`) ||
		strings.Contains(metrics, `veil_audit_sink_errors_total{sink="stdout",type="stdout"} 0`) {
		t.Fatalf("audit sink metrics:\n%s", metrics)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuditDownContinueModeServes(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	w := &flakyWriter{}
	w.broken.Store(true)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), auditW: w, mutate: func(c *Config) { c.Audit.OnFailure = "continue" }})
	for i := 0; i < 3; i++ {
		if resp, _ := tg.do(t, "GET", "/api/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("continue mode: %d", resp.StatusCode)
		}
	}
}

func TestSmugglingAndMalformedRequests(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	for name, req := range map[string]string{
		"CL and TE":       "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two CL":          "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
		"bad chunk":       "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
		"TE not chunked":  "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
		"asterisk target": "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		code, body := tg.raw(t, req)
		if code != 400 {
			t.Errorf("%s: %d %s", name, code, body)
			continue
		}
		if !strings.Contains(body, `"error"`) {
			t.Errorf("%s: not a JSON error: %q", name, body)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("upstream reached %d times", n)
	}
	// A large bearer token fits; headers beyond 16 KiB get 431.
	big := "Bearer " + strings.Repeat("a", 8000)
	if code, _ := tg.raw(t, "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: "+big+"\r\n\r\n"); code != 401 {
		t.Errorf("8 KB token: %d, want 401 (parsed, then refused as invalid)", code)
	}
	if code, body := tg.raw(t, "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 20000)+"\r\n\r\n"); code != 431 || !strings.Contains(body, "headers_too_large") {
		t.Errorf("20 KB header: %d %s", code, body)
	}
	// Without a policy that reads the body, a broken chunked body streams
	// until the break: the client still gets 400, the upstream never a
	// complete request.
	var complete atomic.Int64
	up2 := startUpstream(t, nil)
	up2.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil {
			complete.Add(1)
		}
	})
	tg2 := startGateway(t, gatewayOpts{policy: "package veil\ndecision := {\"allow\": true}", routes: catchAll(up2)})
	code, body := tg2.raw(t, "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")
	if code != 400 || complete.Load() != 0 {
		t.Fatalf("broken stream: %d %s; upstream completed %d", code, body, complete.Load())
	}
}

// TestReasonQuotingRequestDataIsWithheld: a policy reason built from the
// request (body, query, templated path) never reaches the client or the
// audit trail; a reason that does not quote it is kept.
func TestReasonQuotingRequestDataIsWithheld(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	policy := `package veil

seg := input.request.segments

decision := {"allow": false, "status": 403, "reason": sprintf("ssn %s refused", [input.request.body.ssn])} if seg[0] == "body"

decision := {"allow": false, "status": 403, "reason": sprintf("lookup of %s refused", [input.request.query.email[0]])} if seg[0] == "query"

decision := {"allow": false, "status": 403, "reason": sprintf("customer %s is locked", [seg[1]]), "audit": {"path": "/path/{id}"}} if seg[0] == "path"

decision := {"allow": false, "status": 403, "reason": "customers are locked"} if seg[0] == "plain"

decision := {"allow": false, "status": 403, "reason": "customers are locked"} if seg[0] == "keys"
`
	tg := startGateway(t, gatewayOpts{policy: policy, routes: catchAll(up)})
	secrets := []string{"078-05-1120", "jane@example.com", "c-998877"}
	for _, c := range []struct {
		method, path, body, want string
	}{
		{"POST", "/body", `{"ssn":"078-05-1120"}`, reasonWithheld},
		{"GET", "/query?email=jane@example.com", "", reasonWithheld},
		{"GET", "/path/c-998877", "", reasonWithheld},
		{"GET", "/plain", "", "customers are locked"},
		// Field names are not data: a body with a "customers" key.
		{"POST", "/keys", `{"customers":[{"locked":true,"n":[1,{"are":2}]}],"x":"y"}`, "customers are locked"},
	} {
		var body []byte
		hdr := map[string]string{}
		if c.body != "" {
			body, hdr["Content-Type"] = []byte(c.body), "application/json"
		}
		resp, out := tg.do(t, c.method, c.path, body, hdr)
		if e := decodeError(t, out); resp.StatusCode != 403 || e.Error.Message != c.want {
			t.Errorf("%s: %d %q, want reason %q", c.path, resp.StatusCode, e.Error.Message, c.want)
		}
	}
	lines := tg.waitAudit(t, 5)
	for _, l := range lines {
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("audit event quotes %q: %s", s, l)
			}
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), `"reason":"customers are locked"`) {
		t.Error("a reason without request data was not logged")
	}
}

// TestTransferEncodingOtherThanChunkedIsRefused: RFC 9112 6.3 (4): a
// request whose Transfer-Encoding does not end in chunked gets 400 and the
// connection is closed. fasthttp accepts "identity" and forgets it: without
// Content-Length the body was read as the next request on the connection.
// Both framings in one request close the connection too.
func TestTransferEncodingOtherThanChunkedIsRefused(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	smuggled := "GET /api/smuggled HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
	cases := []struct{ name, req string }{
		{"identity, the body a request", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Type: text/plain\r\n\r\n" + smuggled},
		{"Identity on GET", "GET /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Identity\r\n\r\n" + smuggled},
		{"CL then identity", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: identity\r\n\r\nabcd" + smuggled},
		{"identity then CL", "POST /api/x HTTP/1.1\r\nHost: x\r\ntransfer-encoding: identity\r\nContent-Length: 4\r\n\r\nabcd" + smuggled},
		{"CL and chunked", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
	}
	for _, c := range cases {
		// rawExchange reads until the gateway closes the connection.
		resp, body, wire := tg.rawExchange(t, c.req)
		if resp.StatusCode != 400 || !resp.Close {
			t.Errorf("%s: %d (close %v) %q", c.name, resp.StatusCode, resp.Close, body)
		}
		if e := decodeError(t, body); e.Error.Code != "bad_request" || e.Error.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: %+v", c.name, e)
		}
		if n := strings.Count(string(wire), "HTTP/1.1 "); n != 1 {
			t.Errorf("%s: %d responses on the connection:\n%s", c.name, n, wire)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("the upstream was reached %d times", n)
	}
	tg.waitAudit(t, len(cases))
	time.Sleep(50 * time.Millisecond)
	lines := tg.audit.lines()
	if len(lines) != len(cases) {
		t.Errorf("%d audit events for %d requests", len(lines), len(cases))
	}
	for _, l := range lines {
		if !strings.Contains(l, `"status":400`) || !strings.Contains(l, `"error_code":"bad_request"`) || strings.Contains(l, "smuggled") {
			t.Errorf("audit event: %s", l)
		}
	}
	// A chunked request still passes.
	if code, body := tg.raw(t, "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"); code != 200 {
		t.Errorf("chunked: %d %s", code, body)
	}
}

// TestUpstreamClosingIdleConnectionsIsNotAnError: an upstream that closes
// its idle keep-alive connections (Node's default after 5 s, here after
// 100 ms) races the gateway reusing one. An idempotent request that found
// its pooled connection closed before any answer is sent again on a fresh
// one (RFC 9110 9.2.2), as Go's net/http client does; it reaches the
// upstream once.
func TestUpstreamClosingIdleConnectionsIsNotAnError(t *testing.T) {
	t.Parallel()
	up := startUpstreamWith(t, nil, func(s *http.Server) { s.IdleTimeout = 100 * time.Millisecond })
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	for i, m := range []string{"GET", "GET", "PUT", "DELETE", "HEAD", "GET"} {
		if i > 0 {
			time.Sleep(200 * time.Millisecond) // the upstream has closed the pooled connection
		}
		before := up.hits.Load()
		resp, body := tg.do(t, m, "/api/c-1", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d (%s): %d %s", i, m, resp.StatusCode, body)
		}
		if n := up.hits.Load() - before; n != 1 {
			t.Fatalf("request %d (%s): the upstream saw it %d times", i, m, n)
		}
	}
}

// TestSilentConnectionTimesOut: a client that connects and sends nothing,
// or half a header, until read_timeout gets 408 request_timeout, and its
// audit event names no method (fasthttp's default, GET, was logged).
func TestSilentConnectionTimesOut(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), mutate: func(c *Config) { c.Limits.ReadTimeout = 300 * time.Millisecond }})
	for i, sent := range []string{"", "GET /api/x HTTP/1.1\r\nHost: x\r\n"} {
		c := tg.dial(t)
		if _, err := io.WriteString(c, sent); err != nil {
			t.Fatal(err)
		}
		wire, _ := io.ReadAll(c)
		c.Close()
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(wire)), nil)
		if err != nil {
			t.Fatalf("%q: %v (%q)", sent, err, wire)
		}
		body, _ := io.ReadAll(resp.Body)
		if e := decodeError(t, body); resp.StatusCode != 408 || e.Error.Code != "request_timeout" {
			t.Errorf("%q: %d %s", sent, resp.StatusCode, body)
		}
		lines := tg.waitAudit(t, i+1)
		var ev struct {
			Method    string `json:"method"`
			Status    int    `json:"status"`
			ErrorCode string `json:"error_code"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Status != 408 || ev.ErrorCode != "request_timeout" || ev.Method != "" {
			t.Errorf("%q: audit %s", sent, lines[i])
		}
	}
}
