package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/veilgw/veil/identity"
)

// The upstream's customer record, and what a client of a /masked route
// (testPolicy: mask $..ssn, keep_last 4) may see of it.
const (
	leakSSN    = "123-45-6789"
	leakBody   = `{"id":"c-1","name":"Ann","ssn":"123-45-6789"}`
	leakMasked = `{"id":"c-1","name":"Ann","ssn":"*******6789"}`
)

func hexSHA256(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// representationHeaders describe the upstream's original bytes: under
// response transforms none of them may reach the client.
var representationHeaders = []string{"ETag", "Last-Modified", "Content-MD5", "Digest", "Repr-Digest",
	"Content-Digest", "Content-Range", "Accept-Ranges", "Content-Encoding"}

// TestBodilessAnswersUnderResponseTransforms: a HEAD, 204 or 304 answer on
// a route with response transforms carries none of the headers that
// describe the original representation (a digest or ETag of the unmasked
// body, its length), as the GET of the same resource does not.
func TestBodilessAnswersUnderResponseTransforms(t *testing.T) {
	t.Parallel()
	digest := hexSHA256(leakBody)
	repr := "ETag: \"" + digest + "\"\r\nLast-Modified: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-MD5: " + digest[:24] +
		"\r\nDigest: sha-256=" + digest + "\r\nRepr-Digest: sha-256=:" + digest + ":\r\nContent-Digest: sha-256=:" + digest +
		":\r\nAccept-Ranges: bytes\r\nContent-Type: application/json\r\n"
	up := startWireUpstream(t, func(head string) string {
		p := requestPath(head)
		switch {
		case strings.HasSuffix(p, "/304"):
			return "HTTP/1.1 304 Not Modified\r\n" + repr + "Content-Length: 45\r\nConnection: close\r\n\r\n"
		case strings.HasSuffix(p, "/204"):
			return "HTTP/1.1 204 No Content\r\n" + repr + "Connection: close\r\n\r\n"
		case strings.HasPrefix(head, "HEAD "):
			return "HTTP/1.1 200 OK\r\n" + repr + "Content-Length: 45\r\nConnection: close\r\n\r\n"
		}
		return "HTTP/1.1 200 OK\r\n" + repr + "Content-Length: 45\r\nConnection: close\r\n\r\n" + leakBody
	})
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: up.routes()})
	n := 0
	for _, c := range []struct{ method, path string }{
		{"GET", "/masked/c-1"}, {"HEAD", "/masked/c-1"}, {"GET", "/masked/304"}, {"GET", "/masked/204"},
	} {
		resp, body, wire := tg.rawExchange(t, c.method+" "+c.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		n++
		name := c.method + " " + c.path
		if bytes.Contains(wire, []byte(digest)) || bytes.Contains(wire, []byte(leakSSN)) {
			t.Errorf("%s: the original representation reached the client:\n%s", name, wire)
		}
		for _, k := range representationHeaders {
			if v, ok := resp.Header[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("%s: %s %q reached the client", name, k, v)
			}
		}
		switch {
		case c.method == "GET" && resp.StatusCode == 200:
			if string(body) != leakMasked || resp.ContentLength != int64(len(leakMasked)) {
				t.Errorf("%s: %d %q", name, resp.ContentLength, body)
			}
		default:
			// No length: the upstream's (45) is the unmasked body's, the
			// masked one's is unknown without the body.
			if v, ok := resp.Header["Content-Length"]; ok || len(body) != 0 {
				t.Errorf("%s: %d Content-Length %q body %q", name, resp.StatusCode, v, body)
			}
		}
	}
	lines := tg.waitAudit(t, n)
	time.Sleep(50 * time.Millisecond)
	if got := len(tg.audit.lines()); got != n {
		t.Errorf("%d audit events for %d requests", got, n)
	}
	for _, l := range lines {
		if strings.Contains(l, `"error_code"`) {
			t.Errorf("a bodiless answer audited as failed: %s", l)
		}
	}
	// Without response transforms the headers pass unchanged.
	resp, _, _ := tg.rawExchange(t, "HEAD /api/c-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.Header.Get("ETag") != `"`+digest+`"` || resp.Header.Get("Repr-Digest") == "" {
		t.Errorf("HEAD without transforms: %v", resp.Header)
	}
}

// TestConditionalRequestsUnderResponseTransforms: the upstream evaluates a
// conditional request against the original bytes, so a 304 (or 412) would
// tell the client whether its guess of the unmasked body is right. Under
// response transforms the conditional and range headers never reach the
// upstream; without them they do.
func TestConditionalRequestsUnderResponseTransforms(t *testing.T) {
	t.Parallel()
	etag := `"` + hexSHA256(leakBody) + `"` // a content-hash ETag, as many frameworks compute
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC), strings.NewReader(leakBody))
	})
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	conditional := map[string]string{
		"If-None-Match":       etag,
		"If-Match":            `"wrong"`,
		"If-Modified-Since":   "Mon, 02 Jan 2006 15:04:05 GMT",
		"If-Unmodified-Since": "Sun, 01 Jan 2006 00:00:00 GMT",
		"If-Range":            etag,
		"Range":               "bytes=31-43",
		"Request-Range":       "bytes=31-43",
	}
	// The right guess of the unmasked body, each condition alone: 200 and
	// the masked body every time.
	for k, v := range conditional {
		resp, body := tg.do(t, "GET", "/masked/c-1", nil, map[string]string{k: v})
		if resp.StatusCode != 200 || string(body) != leakMasked {
			t.Errorf("%s: %d %q", k, resp.StatusCode, body)
		}
		got := up.last(t)
		for name := range conditional {
			if v := got.Header.Values(name); len(v) > 0 {
				t.Errorf("%s reached the upstream under response transforms: %q", name, v)
			}
		}
	}
	// Without response transforms they pass (the client sees the bytes the
	// upstream compares).
	resp, _ := tg.do(t, "GET", "/api/c-1", nil, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 304 || up.last(t).Header.Get("If-None-Match") != etag {
		t.Errorf("If-None-Match without transforms: %d, upstream saw %q", resp.StatusCode, up.last(t).Header.Get("If-None-Match"))
	}
}

// TestConditionalWritesUnderResponseTransforms: a write on a route whose
// responses are rewritten keeps its existence preconditions (If-Match: *,
// If-None-Match: *: nothing about the bytes) and is refused with 412 for
// any other, which it could only have guessed; dropping them would turn a
// guarded write into a blind one. Without response transforms they pass.
func TestConditionalWritesUnderResponseTransforms(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	events := 0
	for _, c := range []struct {
		method, path, name, value string
		refused                   bool
	}{
		{"PUT", "/masked/c-1", "If-Match", `"abc"`, true},
		{"PUT", "/masked/c-1", "If-Match", `"abc", *`, true},
		{"DELETE", "/masked/c-1", "If-None-Match", `"abc"`, true},
		{"PATCH", "/masked/c-1", "If-Unmodified-Since", "Sun, 01 Jan 2006 00:00:00 GMT", true},
		{"POST", "/masked/c-1", "If-Modified-Since", "Sun, 01 Jan 2006 00:00:00 GMT", true},
		{"PUT", "/masked/c-1", "If-Match", "*", false},
		{"PUT", "/masked/c-1", "If-None-Match", " * ", false},
		{"PUT", "/api/c-1", "If-Match", `"abc"`, false},
	} {
		before := up.hits.Load()
		resp, body := tg.do(t, c.method, c.path, []byte(`{}`), map[string]string{c.name: c.value, "Content-Type": "application/json"})
		events++
		if c.refused {
			if e := decodeError(t, body); resp.StatusCode != 412 || e.Error.Code != "precondition_failed" || up.hits.Load() != before {
				t.Errorf("%s %s %s: %s: %d %s, upstream hits +%d; want 412 precondition_failed, not forwarded",
					c.method, c.path, c.name, c.value, resp.StatusCode, body, up.hits.Load()-before)
			}
			continue
		}
		if resp.StatusCode != 200 || up.hits.Load() != before+1 {
			t.Errorf("%s %s %s: %s: %d %s; want forwarded", c.method, c.path, c.name, c.value, resp.StatusCode, body)
			continue
		}
		if got := up.last(t).Header.Get(c.name); got != strings.TrimSpace(c.value) && got != c.value {
			t.Errorf("%s %s %s: %s: the upstream saw %q", c.method, c.path, c.name, c.value, got)
		}
	}
	lines := tg.waitAudit(t, events)
	refused := 0
	for _, l := range lines {
		if strings.Contains(l, `"error_code":"precondition_failed"`) {
			refused++
		}
	}
	if refused != 5 || len(lines) != events {
		t.Errorf("audit: %d events, %d precondition_failed; want %d and 5", len(lines), refused, events)
	}
}

// TestPartialAnswersUnderResponseTransformsFailClosed: an upstream that
// answers with a part of its representation anyway (206, or Content-Range
// on another status) gets 502, audited once; the fragment, which can be a
// JSON document of its own that no rule selects, never reaches the client.
func TestPartialAnswersUnderResponseTransformsFailClosed(t *testing.T) {
	t.Parallel()
	i := strings.Index(leakBody, `"123`)
	frag := leakBody[i : i+len(leakSSN)+2] // "123-45-6789", a JSON string
	cr := fmt.Sprintf("bytes %d-%d/%d", i, i+len(frag)-1, len(leakBody))
	answers := map[string]string{
		"/masked/206":       "HTTP/1.1 206 Partial Content\r\nContent-Range: " + cr + "\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + frag,
		"/masked/206-bare":  "HTTP/1.1 206 Partial Content\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + frag,
		"/masked/200-range": "HTTP/1.1 200 OK\r\ncontent-range: " + cr + "\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + frag,
		"/masked/416":       "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */45\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
		"/masked/head-206":  "HTTP/1.1 206 Partial Content\r\nContent-Range: " + cr + "\r\nContent-Length: 13\r\nConnection: close\r\n\r\n",
		"/api/206":          "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
	}
	up := startWireUpstream(t, func(head string) string { return answers[requestPath(head)] })
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: up.routes()})
	for _, p := range []string{"/masked/206", "/masked/206-bare", "/masked/200-range", "/masked/416", "/masked/head-206"} {
		method := "GET"
		if p == "/masked/head-206" {
			method = "HEAD"
		}
		resp, body, wire := tg.rawExchange(t, method+" "+p+" HTTP/1.1\r\nHost: x\r\nRequest-Range: bytes=31-43\r\nRange: bytes=31-43\r\nConnection: close\r\n\r\n")
		if bytes.Contains(wire, []byte(leakSSN)) || bytes.Contains(wire, []byte("bytes ")) {
			t.Errorf("%s: the fragment or its range reached the client:\n%s", p, wire)
		}
		if resp.StatusCode != 502 {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
			continue
		}
		if method == "GET" {
			if e := decodeError(t, body); e.Error.Code != "upstream_invalid_json" || e.Error.RequestID != resp.Header.Get("X-Request-Id") {
				t.Errorf("%s: %+v", p, e)
			}
		}
	}
	up.mu.Lock()
	for _, h := range up.reqs {
		if strings.Contains(strings.ToLower(h), "range:") {
			t.Errorf("a range header reached the upstream under response transforms:\n%s", h)
		}
	}
	up.mu.Unlock()
	lines := tg.waitAudit(t, 5)
	time.Sleep(50 * time.Millisecond)
	if lines = tg.audit.lines(); len(lines) != 5 {
		t.Errorf("%d audit events for 5 requests", len(lines))
	}
	for _, l := range lines {
		if !strings.Contains(l, `"status":502`) || !strings.Contains(l, `"error_code":"upstream_invalid_json"`) {
			t.Errorf("audit event: %s", l)
		}
	}
	// Without response transforms a partial answer is the client's own.
	resp, body := tg.do(t, "GET", "/api/206", nil, map[string]string{"Range": "bytes=0-1"})
	if resp.StatusCode != 206 || string(body) != "{}" || resp.Header.Get("Content-Range") != "bytes 0-1/2" {
		t.Errorf("206 without transforms: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

// TestUpstreamTrailersNeverReachTheClient: the fields of an upstream's
// trailer section (announced or not, in any case) reach the client neither
// as trailers nor as header fields, with response transforms (the body is
// read whole) and without (it streams through).
func TestUpstreamTrailersNeverReachTheClient(t *testing.T) {
	t.Parallel()
	digest := hexSHA256(leakBody)
	secrets := []string{digest, "987-65-4321", "v1-" + digest}
	trailerNames := []string{"Repr-Digest", "Etag", "X-Echo", "X-Unannounced"}
	chunkedBody := func(s string) string {
		var b strings.Builder
		for len(s) > 0 {
			n := min(7, len(s))
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, s[:n])
			s = s[n:]
		}
		return b.String()
	}
	answer := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: Repr-Digest, etag\r\ntrailer: x-echo\r\nConnection: close\r\n\r\n" + chunkedBody(leakBody) +
		"0\r\nRepr-Digest: sha-256=:" + digest + ":\r\netag: \"v1-" + digest + "\"\r\nx-echo: 987-65-4321\r\n" +
		"X-Unannounced: " + digest + "\r\n\r\n"
	up := startWireUpstream(t, func(string) string { return answer })
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: up.routes()})
	for path, want := range map[string]string{"/masked/c-1": leakMasked, "/api/c-1": leakBody} {
		resp, body, wire := tg.rawExchange(t, "GET "+path+" HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
		for _, s := range secrets {
			if bytes.Contains(wire, []byte(s)) {
				t.Errorf("%s: a trailer value reached the client:\n%s", path, wire)
			}
		}
		for _, k := range append(trailerNames, "Trailer") {
			if v, ok := resp.Header[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("%s: header %s %q", path, k, v)
			}
			if v, ok := resp.Trailer[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("%s: trailer %s %q", path, k, v)
			}
		}
	}
}

// TestUpstreamErrorsLogNoProtectedValue: an upstream answer that fasthttp
// cannot parse is logged ("upstream request failed") without the bytes it
// quotes in its error: a header value, the status line, the body.
func TestUpstreamErrorsLogNoProtectedValue(t *testing.T) {
	t.Parallel()
	answers := map[string]string{
		"/masked/dup-cl":    "HTTP/1.1 200 OK\r\nContent-Length: 45\r\nContent-Length: 45\r\n\r\n" + leakBody,
		"/masked/bad-cl":    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4x\r\n\r\n" + leakBody,
		"/masked/bad-value": "HTTP/1.1 200 OK\r\nX-Debug: ssn " + leakSSN + "\x01\r\nContent-Length: 45\r\n\r\n" + leakBody,
		"/masked/version":   leakSSN + " 200 OK\r\nContent-Length: 45\r\n\r\n" + leakBody,
		"/masked/status":    "HTTP/1.1 2x0 " + leakSSN + "\r\nContent-Length: 45\r\n\r\n" + leakBody,
		"/masked/te":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + leakSSN + "\r\n\r\n" + leakBody,
		"/masked/trailer":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: " + leakSSN + "\x01\r\n\r\n",
		"/api/dup-cl":       "HTTP/1.1 200 OK\r\nContent-Length: 45\r\nContent-Length: 45\r\n\r\n" + leakBody,
	}
	up := startWireUpstream(t, func(head string) string { return answers[requestPath(head)] })
	core, logs := observer.New(zapcore.DebugLevel)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: up.routes(), log: zap.New(core)})
	for p := range answers {
		resp, body := tg.do(t, "GET", p, nil, nil)
		if resp.StatusCode != 502 || bytes.Contains(body, []byte("6789")) {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	// A malformed request carrying the value: fasthttp's server errors.
	if code, _ := tg.raw(t, "GET /api/x HTTP/1.1\r\nHost: x\r\nX-A: "+leakSSN+"\x01\r\n\r\n"); code != 400 {
		t.Errorf("malformed request: %d", code)
	}
	tg.waitAudit(t, len(answers)+1)
	failed := 0
	for _, e := range logs.All() {
		text, _ := json.Marshal(e.ContextMap())
		if e.Message == "upstream request failed" {
			failed++
		}
		if strings.Contains(e.Message+string(text), leakSSN) {
			t.Errorf("the operational log holds a protected value: [%s] %s %s", e.Level, e.Message, text)
		}
	}
	if failed != len(answers) {
		t.Errorf("%d upstream failures logged for %d malformed answers", failed, len(answers))
	}
}

// TestFasthttpErrorsDoNotQuoteMessages: the gateway's fasthttp server and
// upstream clients build errors that do not quote the message they could
// not parse (peerErrText then keeps what remains of a quoted value out of
// the log).
func TestFasthttpErrorsDoNotQuoteMessages(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	routes := []RouteConfig{{Name: "two", Match: RouteMatch{PathPrefix: "/"}, Upstreams: []string{"http://" + up.addr, "http://" + up.addr}}}
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: routes})
	if !tg.g.server.SecureErrorLogMessage {
		t.Error("server: SecureErrorLogMessage is off")
	}
	for _, r := range tg.g.routes {
		for _, u := range r.pool.ups {
			if !u.client.SecureErrorLogMessage {
				t.Errorf("route %s, upstream %s: SecureErrorLogMessage is off", r.name, u.addr)
			}
		}
	}
}

// TestRequestTrailersNeverReachTheUpstream: the trailer of a chunked
// request is not forwarded, neither as a trailer nor as header fields.
// When the gateway read the body (the policy reads it, or request
// transforms), fasthttp once wrote the trailer's fields as headers after
// the prune had passed: an override header, a forged X-Request-Id, an API
// key on a strip route and a conditional header reached the upstream.
func TestRequestTrailersNeverReachTheUpstream(t *testing.T) {
	t.Parallel()
	up := startWireUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
	})
	routes := up.routes()
	for i := range routes {
		routes[i].UpstreamAuth = "strip"
	}
	tg := startGateway(t, gatewayOpts{routes: routes, policy: `package veil
seg := input.request.segments
decision := {"allow": input.request.body_state == "parsed"} if seg[0] == "body"
decision := {"allow": true, "request_transforms": [{"path": "$.ssn", "action": "redact"}],
             "response_transforms": [{"path": "$..ssn", "action": "mask", "keep_last": 4}]} if seg[0] == "tx"
`})
	trailer := "X-HTTP-Method-Override: DELETE\r\nX-API-Key: never-verified\r\nX-Request-Id: forged\r\n" +
		"If-None-Match: \"etag-of-the-original\"\r\nX-Custom: trailer-value\r\n"
	body := `{"ssn":"123-45-6789","n":1}`
	for _, c := range []struct{ method, path string }{{"POST", "/body/x"}, {"POST", "/tx/x"}, {"GET", "/tx/x"}} {
		resp, _, _ := tg.rawExchange(t, fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Transfer-Encoding: chunked\r\nTrailer: X-Custom\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n%s\r\n",
			c.method, c.path, len(body), body, trailer))
		if resp.StatusCode != 200 {
			t.Errorf("%s %s: %d", c.method, c.path, resp.StatusCode)
			continue
		}
		up.mu.Lock()
		head := up.reqs[len(up.reqs)-1]
		up.mu.Unlock()
		for _, name := range []string{"X-HTTP-Method-Override", "X-API-Key", "If-None-Match", "X-Custom", "Trailer", "forged"} {
			if strings.Contains(strings.ToLower(head), strings.ToLower(name)) {
				t.Errorf("%s %s: %s reached the upstream:\n%s", c.method, c.path, name, head)
			}
		}
		if n := strings.Count(strings.ToLower(head), "x-request-id:"); n != 1 {
			t.Errorf("%s %s: %d X-Request-Id lines upstream:\n%s", c.method, c.path, n, head)
		}
	}
}

// TestInjectedCredentialReplacesEveryClientLine: on an inject route whose
// header is not Authorization, a client that sends that header twice once
// had its second line reach the upstream beside the service credential.
func TestInjectedCredentialReplacesEveryClientLine(t *testing.T) {
	t.Parallel()
	up := startWireUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
	})
	svc := filepath.Join(t.TempDir(), "svc")
	if err := os.WriteFile(svc, []byte("service-credential\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routes := up.routes()
	routes[0].UpstreamAuth, routes[0].InjectAuth = "inject", InjectAuth{Header: "X-Service-Token", ValueFile: svc}
	tg := startGateway(t, gatewayOpts{routes: routes, policy: "package veil\ndecision := {\"allow\": true}"})
	resp, _, _ := tg.rawExchange(t, "GET /crm/x HTTP/1.1\r\nHost: x\r\nX-Service-Token: forged-1\r\nx-service-token: forged-2\r\nConnection: close\r\n\r\n")
	up.mu.Lock()
	head := up.reqs[len(up.reqs)-1]
	up.mu.Unlock()
	if resp.StatusCode != 200 || strings.Contains(head, "forged") || strings.Count(strings.ToLower(head), "x-service-token: service-credential") != 1 {
		t.Errorf("%d; upstream received:\n%s", resp.StatusCode, head)
	}
}

// TestPolicyTextQuotingRequestDataIsWithheld: the reason, the audit tags
// and the audit path template are policy text that Rego may build from the
// input; whichever quotes a request value or a custom claim of the
// caller's token is withheld. The reason is checked before it is cut to
// 200 bytes and cleaned of control characters (either once hid the quote).
// A reason naming the caller or a role is kept.
func TestPolicyTextQuotingRequestDataIsWithheld(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{routes: catchAll(up), policy: `package veil
seg := input.request.segments
decision := {"allow": false, "reason": concat("", [concat("", array.concat(["lookup refused"], [x | some i in numbers.range(1, 176); x := "."])), input.request.query.ssn[0]])} if seg[0] == "long"
decision := {"allow": false, "reason": sprintf("ssn %s refused", [input.request.body.ssn])} if seg[0] == "ctl"
decision := {"allow": false, "reason": sprintf("%s may not read this", [input.subject.claims.email])} if seg[0] == "claim"
decision := {"allow": false, "reason": sprintf("%s (role %s) may not read this", [input.subject.id, input.subject.roles[0]])} if seg[0] == "role"
decision := {"allow": true, "audit": {"path": sprintf("/crm/customers/%s", [input.request.query.email[0]]),
             "tags": {"customer": input.request.headers["x-customer-ssn"][0], "purpose": "support"}}} if seg[0] == "tags"
`})
	tok, err := identity.MintHS256(tg.secret, "u-7", []string{"support"}, time.Hour, map[string]any{"email": "jane.doe@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	cases := []struct {
		method, path, body string
		hdr                map[string]string
		secrets            []string
		want               string // in the event
	}{
		{"GET", "/long/x?ssn=123-45-6789", "", nil, []string{"123-45-6"}, reasonWithheld},
		{"POST", "/ctl/x", `{"ssn":"078-05-1120\n"}`, auth, []string{"078-05-1120"}, reasonWithheld},
		{"GET", "/claim/x", "", auth, []string{"jane.doe"}, reasonWithheld},
		{"GET", "/role/x", "", auth, nil, "u-7 (role support) may not read this"},
		{"GET", "/tags/x?email=jane@example.com", "", map[string]string{"X-Customer-Ssn": "078-05-1120"},
			[]string{"jane@example.com", "078-05-1120"}, `"purpose":"support"`},
	}
	for i, c := range cases {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		resp, out := tg.do(t, c.method, c.path, body, c.hdr)
		lines := tg.waitAudit(t, i+1)
		for _, s := range c.secrets {
			// The answer too when it is the gateway's (a deny): an allowed
			// request's answer is the upstream's.
			if strings.Contains(lines[i], s) || (resp.StatusCode != 200 && bytes.Contains(out, []byte(s))) {
				t.Errorf("%s %s: %q reached the answer (%d %s) or the event: %s", c.method, c.path, s, resp.StatusCode, out, lines[i])
			}
		}
		if !strings.Contains(lines[i], c.want) {
			t.Errorf("%s %s: event lacks %q: %s", c.method, c.path, c.want, lines[i])
		}
	}
	if last := tg.audit.lines()[len(cases)-1]; !strings.Contains(last, pathWithheld) || !strings.Contains(last, tagWithheld) {
		t.Errorf("tags/path: %s", last)
	}
}
