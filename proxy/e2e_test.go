package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veilgw/veil/policy"
)

func policyConfig(dir string) policy.Config { return policy.Config{Dir: dir} }

// testPolicy routes behaviours by the first path segment.
const testPolicy = `package veil

seg := input.request.segments

decision := {"allow": true} if seg[0] == "api"

decision := {"allow": true, "response_transforms": [{"path": "$..ssn", "action": "mask", "keep_last": 4}],
             "audit": {"record_ids": "$..id", "path": "/masked/{id}", "tags": {"purpose": "test"}}} if seg[0] == "masked"

decision := {"allow": true, "request_transforms": [{"path": "$.secret", "action": "redact"}]} if seg[0] == "reqtx"

decision := {"allow": false, "status": 451, "reason": "unavailable for legal reasons"} if seg[0] == "deny"

decision := {"allow": true, "response_transforms": [{"path": "$.x", "action": "explode"}]} if seg[0] == "invalid"

decision := {"allow": true, "status": 200} if seg[0] == "badstatus"

decision := {"allow": true} if {
	seg[0] == "slow"
	some i in numbers.range(1, 3000)
	some j in numbers.range(1, 3000)
	i * j == -1
}

decision := {"allow": input.request.body_state == "parsed", "reason": input.request.body_state} if {
	seg[0] == "body"
	not input.request.body.force_deny
}

decision := {"allow": false, "status": 401, "reason": "authentication required"} if {
	seg[0] == "anon"
	not input.subject.authenticated
}

decision := {"allow": true, "reason": "hello"} if {
	seg[0] == "anon"
	input.subject.authenticated
}
`

func catchAll(up *upstreamRecorder) []RouteConfig {
	return []RouteConfig{{Name: "api", Match: RouteMatch{PathPrefix: "/"}, Upstreams: []string{"http://" + up.addr}}}
}

type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func decodeError(t *testing.T, body []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a JSON error body: %q (%v)", body, err)
	}
	return e
}

func TestUnsafePathsAreRejectedBeforeTheUpstream(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	for _, p := range []string{
		"/api/a%2fb", "/api/a%2Fb", "/api/a%5cb", "/api/a%5Cb", "/api/a\\b", "/api/%252e%252e/x",
		"/api/a%00b", "/api/a%01", "/api/a%7f", "/api/a;jsessionid=1", "/api/a%3bb", "/api/a%zz", "/api/%",
		"/api/a\x7fb",
	} {
		code, body := tg.raw(t, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if code != 400 {
			t.Errorf("%q: status %d, want 400", p, code)
			continue
		}
		if e := decodeError(t, []byte(body)); e.Error.Code != "bad_path" && e.Error.Code != "bad_request" {
			t.Errorf("%q: code %q", p, e.Error.Code)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("upstream saw %d requests for rejected paths", n)
	}
	// Every rejection was audited.
	if lines := tg.waitAudit(t, 14); len(lines) != 14 {
		t.Fatalf("%d audit events", len(lines))
	}
}

func TestNormalisedPathIsWhatTheUpstreamSees(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	routes := []RouteConfig{{Name: "crm", Match: RouteMatch{PathPrefix: "/crm/"}, StripPrefix: true, Upstreams: []string{"http://" + up.addr}},
		{Name: "api", Match: RouteMatch{PathPrefix: "/api/"}, Upstreams: []string{"http://" + up.addr}}}
	tg := startGateway(t, gatewayOpts{policy: `package veil
decision := {"allow": true} if input.request.segments[0] == "api"
decision := {"allow": input.request.path == "/crm/api/x"} if input.request.segments[0] == "crm"
`, routes: routes})
	cases := []struct{ raw, upstream string }{
		{"/api//a/./b/../c?q=1&q=2", "/api/a/c?q=1&q=2"},
		{"/api/%61%62", "/api/ab"},
		{"/api/x/%2e%2e/y", "/api/y"},
		{"/crm/api/x", "/api/x"},
		{"/api/John%20Doe", "/api/John%20Doe"},
	}
	for _, c := range cases {
		code, body := tg.raw(t, "GET "+c.raw+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if code != 200 {
			t.Fatalf("%s: %d %s", c.raw, code, body)
		}
		if got := up.last(t).URI; got != c.upstream {
			t.Errorf("%s: upstream saw %q, want %q", c.raw, got, c.upstream)
		}
	}
	// /crm/../api/x normalises to /api/x: routed and decided as /api/x.
	code, _ := tg.raw(t, "GET /crm/../api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if code != 200 || up.last(t).URI != "/api/x" {
		t.Fatalf("dot segments across routes: %d %q", code, up.last(t).URI)
	}
}

func TestRoutingByHostAndPrefix(t *testing.T) {
	t.Parallel()
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"up":"a"}`) })
	b := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"up":"b"}`) })
	routes := []RouteConfig{
		{Name: "a", Match: RouteMatch{Host: "crm.example.com", PathPrefix: "/api/"}, Upstreams: []string{"http://" + a.addr}},
		{Name: "b", Match: RouteMatch{PathPrefix: "/api/"}, Upstreams: []string{"http://" + b.addr}},
	}
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: routes})
	if _, body := tg.do(t, "GET", "/api/x", nil, map[string]string{"Host": "CRM.example.com:8080"}); string(body) != `{"up":"a"}` {
		t.Errorf("host route: %s", body)
	}
	if _, body := tg.do(t, "GET", "/api/x", nil, map[string]string{"Host": "other.example.com"}); string(body) != `{"up":"b"}` {
		t.Errorf("prefix route: %s", body)
	}
	resp, body := tg.do(t, "GET", "/nothing/here", nil, nil)
	if resp.StatusCode != 404 || decodeError(t, body).Error.Code != "no_route" {
		t.Errorf("no route: %d %s", resp.StatusCode, body)
	}
	// "/api" without the slash belongs to the /api/ route; "/apix" does not.
	if resp, _ := tg.do(t, "GET", "/apix", nil, nil); resp.StatusCode != 404 {
		t.Errorf("/apix: %d", resp.StatusCode)
	}
}

func TestHeadersToAndFromTheUpstream(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Upstream", "yes")
		w.Header().Add("X-Request-Id", "upstream-1")
		w.Header().Add("X-Request-Id", "upstream-2")
		fmt.Fprint(w, `{}`)
	})
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	resp, _ := tg.do(t, "GET", "/api/h", nil, map[string]string{
		"X-Forwarded-For":        "6.6.6.6",
		"X-Forwarded-Host":       "evil.example",
		"X-HTTP-Method-Override": "DELETE",
		"X-HTTP-Method":          "DELETE",
		"X-Method-Override":      "DELETE",
		"Connection":             "X-Client-Hop",
		"X-Client-Hop":           "1",
		"Te":                     "trailers",
		"X-Request-Id":           "client-chosen-id.1",
		"X-Real-IP":              "6.6.6.6",
		"True-Client-IP":         "6.6.6.6",
		"CF-Connecting-IP":       "6.6.6.6",
		"Authorization":          "Bearer " + tg.token(t, "alice"),
	})
	got := up.last(t)
	if xff := got.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q: an untrusted client must not choose it", xff)
	}
	if p := got.Header.Get("X-Forwarded-Proto"); p != "http" {
		t.Errorf("X-Forwarded-Proto %q", p)
	}
	if h := got.Header.Get("X-Forwarded-Host"); h != tg.addr {
		t.Errorf("X-Forwarded-Host %q, want %q", h, tg.addr)
	}
	for _, k := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X-Client-Hop", "Te",
		"X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip"} {
		if v := got.Header.Get(k); v != "" {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
	}
	if got.Method != "GET" {
		t.Errorf("method %s", got.Method)
	}
	if id := got.Header.Get("X-Request-Id"); id != "client-chosen-id.1" || !slices.Equal(resp.Header.Values("X-Request-Id"), []string{id}) {
		t.Errorf("request id upstream %q, response %q", id, resp.Header.Values("X-Request-Id"))
	}
	if got.Header.Get("Authorization") == "" {
		t.Error("upstream_auth forward (default) must pass the credential")
	}
	if got.Host != up.addr {
		t.Errorf("upstream Host %q, want %q", got.Host, up.addr)
	}
	for _, k := range []string{"X-Secret-Hop", "Keep-Alive"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("hop-by-hop %s reached the client: %q", k, v)
		}
	}
	if resp.Header.Get("X-Upstream") != "yes" {
		t.Error("end-to-end response header lost")
	}
	// A malformed request id is replaced by a generated one.
	tg.do(t, "GET", "/api/h", nil, map[string]string{"X-Request-Id": "bad id with spaces"})
	if id := up.last(t).Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("generated request id %q", id)
	}
}

func TestTrustedProxyChain(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: `package veil
decision := {"allow": true, "reason": input.request.client_ip}`, routes: catchAll(up), mutate: func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.0/8"}
	}})
	tg.do(t, "GET", "/x", nil, map[string]string{"X-Forwarded-For": "203.0.113.9, 10.1.2.3", "X-Forwarded-Proto": "https", "X-Real-IP": "203.0.113.9"})
	got := up.last(t)
	if ip := got.Header.Get("X-Real-IP"); ip != "203.0.113.9" {
		t.Errorf("X-Real-IP from a trusted proxy: %q", ip)
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "203.0.113.9, 10.1.2.3, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", xff)
	}
	if p := got.Header.Get("X-Forwarded-Proto"); p != "https" {
		t.Errorf("X-Forwarded-Proto from a trusted proxy: %q", p)
	}
	lines := tg.waitAudit(t, 1)
	if !strings.Contains(lines[0], `"client_ip":"203.0.113.9"`) {
		t.Errorf("client_ip not derived from the trusted chain: %s", lines[0])
	}
}

func TestUpstreamAuthModes(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	dir := t.TempDir()
	svc := dir + "/svc"
	if err := writeFile(svc, "Bearer service-token\n"); err != nil {
		t.Fatal(err)
	}
	routes := []RouteConfig{
		{Name: "fwd", Match: RouteMatch{PathPrefix: "/api/fwd"}, Upstreams: []string{"http://" + up.addr}},
		{Name: "strip", Match: RouteMatch{PathPrefix: "/api/strip"}, Upstreams: []string{"http://" + up.addr}, UpstreamAuth: "strip"},
		{Name: "inject", Match: RouteMatch{PathPrefix: "/api/inject"}, Upstreams: []string{"http://" + up.addr}, UpstreamAuth: "inject", InjectAuth: InjectAuth{ValueFile: svc}},
	}
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: routes})
	tok := "Bearer " + tg.token(t, "alice")
	for path, want := range map[string]string{"/api/fwd": tok, "/api/strip": "", "/api/inject": "Bearer service-token"} {
		tg.do(t, "GET", path, nil, map[string]string{"Authorization": tok})
		if got := up.last(t).Header.Get("Authorization"); got != want {
			t.Errorf("%s: upstream Authorization %q, want %q", path, got, want)
		}
	}
}

func TestPolicyOutcomes(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/deny/x", 451, "policy_denied"},
		{"/undefined/x", 403, "policy_denied"},
		{"/invalid/x", 500, "invalid_decision"},
		{"/badstatus/x", 500, "invalid_decision"},
		{"/slow/x", 500, "policy_timeout"},
		{"/anon/x", 401, "policy_denied"},
	}
	for _, c := range cases {
		resp, body := tg.do(t, "GET", c.path, nil, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.path, resp.StatusCode, c.status, body)
			continue
		}
		e := decodeError(t, body)
		if e.Error.Code != c.code || e.Error.RequestID == "" || e.Error.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: error %+v", c.path, e)
		}
	}
	if up.hits.Load() != 0 {
		t.Fatalf("upstream reached %d times on refused requests", up.hits.Load())
	}
	if resp, body := tg.do(t, "GET", "/deny/x", nil, nil); !strings.Contains(string(body), "unavailable for legal reasons") {
		t.Errorf("policy reason not in the body: %d %s", resp.StatusCode, body)
	}
	// An authenticated subject passes the anonymous rule.
	if resp, _ := tg.do(t, "GET", "/anon/x", nil, map[string]string{"Authorization": "Bearer " + tg.token(t, "bob")}); resp.StatusCode != 200 {
		t.Errorf("authenticated: %d", resp.StatusCode)
	}
}

func TestInvalidCredentialsGet401(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	good := tg.token(t, "alice")
	parts := strings.Split(good, ".")
	for name, auth := range map[string]string{
		"garbage":       "Bearer not-a-jwt",
		"alg none":      "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.",
		"bad signature": "Bearer " + parts[0] + "." + parts[1] + ".AAAA" + parts[2][4:],
		"basic scheme":  "Basic YWxpY2U6c2VjcmV0",
	} {
		resp, body := tg.do(t, "GET", "/api/x", nil, map[string]string{"Authorization": auth})
		if resp.StatusCode != 401 || decodeError(t, body).Error.Code != "invalid_credentials" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	for name, req := range map[string]string{
		"empty authorization":    "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization:\r\nConnection: close\r\n\r\n",
		"repeated authorization": "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + good + "\r\nAuthorization: Bearer x\r\nConnection: close\r\n\r\n",
		"empty api key":          "GET /api/x HTTP/1.1\r\nHost: x\r\nX-API-Key:\r\nConnection: close\r\n\r\n",
		"repeated, good last":    "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nauthorization: Bearer " + good + "\r\nConnection: close\r\n\r\n",
		"repeated api key":       "GET /api/x HTTP/1.1\r\nHost: x\r\nX-API-Key: a\r\nx-api-key: b\r\nConnection: close\r\n\r\n",
		"token and api key":      "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + good + "\r\nX-API-Key: a\r\nConnection: close\r\n\r\n",
	} {
		if code, body := tg.raw(t, req); code != 401 {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if up.hits.Load() != 0 {
		t.Fatal("an invalid credential reached the upstream")
	}
}

const customerList = `{"customers":[{"id":"c-1","name":"Ann","ssn":"123-45-6789"},{"id":"c-2","name":"Bob","ssn":"987-65-4321"}]}`

func TestResponseTransformsAndBodyRules(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(customerList))
	_ = zw.Close()
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"abc"`)
		switch r.URL.Path {
		case "/masked/list":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, customerList)
		case "/masked/gzip":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz.Bytes())
		case "/masked/brotli":
			w.Header().Set("Content-Encoding", "br")
			fmt.Fprint(w, customerList)
		case "/masked/text":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, `ssn: 123-45-6789`)
		case "/masked/broken":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ssn":"123-45-6789"`)
		case "/masked/error":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			fmt.Fprint(w, `{"error":"db down","ssn":"123-45-6789"}`)
		case "/masked/huge":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ssn":"123-45-6789","pad":"%s"}`, strings.Repeat("x", 4096))
		case "/masked/range":
			w.Header().Set("X-Saw-Range", r.Header.Get("Range")+"|"+r.Header.Get("If-Range"))
			fmt.Fprint(w, customerList)
		}
	})
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), mutate: func(c *Config) { c.Limits.MaxBodyBytes = 1024 }})

	resp, body := tg.do(t, "GET", "/masked/list", nil, nil)
	want := `{"customers":[{"id":"c-1","name":"Ann","ssn":"*******6789"},{"id":"c-2","name":"Bob","ssn":"*******4321"}]}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("masked list: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") != "" || resp.ContentLength != int64(len(want)) {
		t.Errorf("ETag %q Content-Length %d", resp.Header.Get("ETag"), resp.ContentLength)
	}
	resp, body = tg.do(t, "GET", "/masked/gzip", nil, nil)
	if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("gzip: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	for path, wantCode := range map[string]string{
		"/masked/brotli": "upstream_encoding",
		"/masked/text":   "upstream_invalid_json",
		"/masked/broken": "upstream_invalid_json",
		"/masked/huge":   "upstream_too_large",
	} {
		resp, body := tg.do(t, "GET", path, nil, nil)
		if resp.StatusCode != 502 || decodeError(t, body).Error.Code != wantCode {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), "6789") {
			t.Errorf("%s: protected value leaked: %s", path, body)
		}
	}
	// Error statuses are transformed like any other.
	resp, body = tg.do(t, "GET", "/masked/error", nil, nil)
	if resp.StatusCode != 500 || string(body) != `{"error":"db down","ssn":"*******6789"}` {
		t.Errorf("upstream error body: %d %s", resp.StatusCode, body)
	}
	tg.do(t, "GET", "/masked/range", nil, map[string]string{"Range": "bytes=0-10", "If-Range": `"abc"`})
	if got := up.last(t).Header.Get("Range"); got != "" {
		t.Errorf("Range reached the upstream with response transforms: %q", got)
	}
	// Audit: transforms counted, record ids kept, path template used.
	lines := tg.waitAudit(t, 8)
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["path"] != "/masked/{id}" {
		t.Errorf("audit path %v", ev["path"])
	}
	tr, _ := ev["transforms"].([]any)
	if len(tr) != 1 || fmt.Sprint(tr[0]) != "map[action:mask count:2 direction:response path:$..ssn]" {
		t.Errorf("audit transforms %v", ev["transforms"])
	}
	for _, l := range lines {
		// The protected values with a separator: the chain's hex hashes
		// may contain any run of digits, never a dash.
		if strings.Contains(l, "45-6789") || strings.Contains(l, "65-4321") || strings.Contains(l, "*6789") {
			t.Errorf("audit leaks a protected value: %s", l)
		}
	}
	// Metrics: the values masked in the list, gzip, error and range responses.
	if m := tg.metricsText(t); !strings.Contains(m, `veil_transformed_values_total{action="mask",direction="response"} 7`+"\n") {
		t.Errorf("transformed values metric:\n%s", grepLines(m, "veil_transformed_values_total"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRequestTransformsAndBodyLimits(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), mutate: func(c *Config) { c.Limits.MaxBodyBytes = 1024 }})
	resp, _ := tg.do(t, "POST", "/reqtx/x", []byte(`{"name":"Ann","secret":"hunter2"}`), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 200 || string(up.last(t).Body) != `{"name":"Ann"}` {
		t.Fatalf("request transform: %d %s", resp.StatusCode, up.last(t).Body)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"secret":"hunter2","n":1}`))
	_ = zw.Close()
	resp, _ = tg.do(t, "POST", "/reqtx/x", gz.Bytes(), map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"})
	if got := up.last(t); resp.StatusCode != 200 || string(got.Body) != `{"n":1}` || got.Header.Get("Content-Encoding") != "" {
		t.Fatalf("gzip request: %d %q %q", resp.StatusCode, got.Body, got.Header.Get("Content-Encoding"))
	}
	hits := up.hits.Load()
	// A gzip bomb: tiny compressed, huge decoded.
	var bomb bytes.Buffer
	zw = gzip.NewWriter(&bomb)
	_, _ = zw.Write([]byte(`{"a":"` + strings.Repeat("a", 1<<20) + `"}`))
	_ = zw.Close()
	for name, c := range map[string]struct {
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		"invalid json": {[]byte(`{"secret":`), map[string]string{"Content-Type": "application/json"}, 400, "invalid_json"},
		"text body":    {[]byte(`secret=hunter2`), map[string]string{"Content-Type": "text/plain"}, 400, "invalid_json"},
		"too large":    {[]byte(`{"a":"` + strings.Repeat("a", 2000) + `"}`), nil, 413, "body_too_large"},
		"gzip bomb":    {bomb.Bytes(), map[string]string{"Content-Encoding": "gzip"}, 413, "body_too_large"},
		"brotli":       {[]byte(`{}`), map[string]string{"Content-Encoding": "br"}, 400, "unsupported_encoding"},
		"corrupt gzip": {[]byte("\x1f\x8b\x08\x00garbage"), map[string]string{"Content-Encoding": "gzip"}, 400, "invalid_json"},
	} {
		resp, body := tg.do(t, "POST", "/reqtx/x", c.body, c.hdr)
		if resp.StatusCode != c.status || decodeError(t, body).Error.Code != c.code {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	// Two Content-Encoding lines are a list of codings, whatever the first says.
	code, body := tg.raw(t, "POST /reqtx/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Encoding: identity\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(gz.Len())+"\r\nConnection: close\r\n\r\n"+gz.String())
	if code != 400 || !strings.Contains(body, `"unsupported_encoding"`) {
		t.Errorf("two Content-Encoding lines: %d %s", code, body)
	}
	if up.hits.Load() != hits {
		t.Fatal("a rejected body reached the upstream")
	}
	// Metrics: the secrets removed from the two bodies that passed.
	if m := tg.metricsText(t); !strings.Contains(m, `veil_transformed_values_total{action="redact",direction="request"} 2`+"\n") {
		t.Errorf("transformed values metric:\n%s", grepLines(m, "veil_transformed_values_total"))
	}
}

func TestPolicyReadsBody(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	for name, c := range map[string]struct {
		body   string
		ct     string
		status int
	}{
		"parsed":         {`{"a":1}`, "application/json", 200},
		"invalid":        {`{"a":`, "application/json", 403},
		"not json":       {`hello`, "text/plain", 403},
		"json as text":   {`{"a":1}`, "text/plain", 200},
		"duplicate keys": {`{"a":1,"a":2}`, "application/json", 400},
		"nested dup":     {`{"a":{"b":1,"b":1}}`, "application/json", 400},
	} {
		resp, body := tg.do(t, "POST", "/body/x", []byte(c.body), map[string]string{"Content-Type": c.ct})
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	// The body reaches the upstream unchanged when allowed.
	if got := up.last(t).Body; string(got) != `{"a":1}` {
		t.Errorf("upstream body %q", got)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	slow := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		fmt.Fprint(w, `{}`)
	})
	routes := []RouteConfig{
		{Name: "slow", Match: RouteMatch{PathPrefix: "/api/slow"}, Upstreams: []string{"http://" + slow.addr}},
		{Name: "dead", Match: RouteMatch{PathPrefix: "/api/dead"}, Upstreams: []string{"http://127.0.0.1:1"}},
	}
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: routes, mutate: func(c *Config) { c.Limits.UpstreamTimeout = 300 * time.Millisecond }})
	resp, body := tg.do(t, "GET", "/api/slow", nil, nil)
	if resp.StatusCode != 504 || decodeError(t, body).Error.Code != "upstream_timeout" {
		t.Errorf("slow: %d %s", resp.StatusCode, body)
	}
	resp, body = tg.do(t, "GET", "/api/dead", nil, nil)
	if resp.StatusCode != 502 || decodeError(t, body).Error.Code != "upstream_unavailable" {
		t.Errorf("refused: %d %s", resp.StatusCode, body)
	}
	lines := tg.waitAudit(t, 2)
	for _, l := range lines {
		if !strings.Contains(l, `"error_code":"upstream_`) {
			t.Errorf("audit event lacks the error: %s", l)
		}
	}
}

func TestBalancingSkipsDeadUpstreams(t *testing.T) {
	t.Parallel()
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `"a"`) })
	b := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `"b"`) })
	routes := []RouteConfig{{Name: "rr", Match: RouteMatch{PathPrefix: "/"}, Balance: "round_robin",
		Upstreams: []string{"http://" + a.addr, "http://" + b.addr, "http://127.0.0.1:1"}}}
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: routes})
	for i := 0; i < 30; i++ {
		if resp, body := tg.do(t, "GET", "/api/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s (a dead upstream must be skipped)", i, resp.StatusCode, body)
		}
	}
	if a.hits.Load() < 8 || b.hits.Load() < 8 {
		t.Fatalf("unbalanced: a=%d b=%d", a.hits.Load(), b.hits.Load())
	}
}

func TestUpgradeRefusedAndMethodsPassed(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	code, _ := tg.raw(t, "GET /api/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if code != 403 || up.hits.Load() != 0 {
		t.Fatalf("upgrade: %d, upstream hits %d", code, up.hits.Load())
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"} {
		resp, _ := tg.do(t, m, "/api/m", []byte(`{}`), nil)
		if resp.StatusCode != 200 || up.last(t).Method != m {
			t.Errorf("%s: %d, upstream saw %s", m, resp.StatusCode, up.last(t).Method)
		}
	}
	resp, body := tg.do(t, "HEAD", "/api/m", nil, nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d %q", resp.StatusCode, body)
	}
}

func TestEveryRequestIsAuditedOnce(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	paths := []string{"/api/a?token=supersecret", "/deny/x?ssn=123-45-6789", "/nothing", "/api/%2f", "/undefined"}
	for _, p := range paths {
		tg.raw(t, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	}
	tg.waitAudit(t, len(paths))
	time.Sleep(50 * time.Millisecond) // no extra event may follow
	lines := tg.audit.lines()
	if len(lines) != len(paths) {
		t.Fatalf("%d events for %d requests", len(lines), len(paths))
	}
	ids := map[string]bool{}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		ids[ev["request_id"].(string)] = true
		if strings.Contains(l, "supersecret") || strings.Contains(l, "123-45-6789") || strings.Contains(l, "?") {
			t.Errorf("query string in audit: %s", l)
		}
	}
	if len(ids) != len(paths) {
		t.Fatalf("duplicate request ids: %v", ids)
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), mutate: func(c *Config) { c.AdminListen, c.AdminPprof = "127.0.0.1:0", true }})
	if err := tg.g.StartAdmin(); err != nil {
		t.Fatal(err)
	}
	tg.do(t, "GET", "/api/x", nil, nil)
	tg.waitAudit(t, 1)
	get := func(path string) (int, string) {
		resp, err := testClient.Get("http://" + tg.g.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := get("/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof with admin_pprof: %d", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("readyz %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, m := range []string{`veil_requests_total{route="api",status="200"} 1`, "veil_decisions_total", "veil_request_duration_seconds_bucket", "veil_audit_events_total 1",
		`veil_audit_sink_written_total{sink="stdout",type="stdout"} 2`, "veil_audit_sink_queue_depth", "veil_decision_cache_misses_total 1"} {
		if code != 200 || !strings.Contains(body, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// TestRepeatedForwardingHeaders: a client repeating X-Forwarded-* or
// X-Request-Id lines cannot slip a second, forged value past the one the
// gateway sets; from a trusted proxy, repeated X-Forwarded-For lines are one
// list (RFC 9110 5.3) that the gateway extends and reads the client from.
func TestRepeatedForwardingHeaders(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	code, body := tg.raw(t, "GET /api/x HTTP/1.1\r\nHost: x\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n"+
		"X-Forwarded-Host: evil.example\r\nX-Forwarded-Host: evil2.example\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n"+
		"X-Request-Id: first.id\r\nX-Request-Id: second.id\r\nConnection: close\r\n\r\n")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	got := up.last(t).Header
	for k, want := range map[string][]string{
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Forwarded-Host":  {"x"},
		"X-Forwarded-Proto": {"http"},
	} {
		if !slices.Equal(got.Values(k), want) {
			t.Errorf("untrusted client: upstream %s = %q, want %q", k, got.Values(k), want)
		}
	}
	if ids := got.Values("X-Request-Id"); len(ids) != 1 {
		t.Errorf("upstream X-Request-Id = %q, want one value", ids)
	}
	// Two Host lines are ambiguous (RFC 9112 3.2): refused.
	if code, body := tg.raw(t, "GET /api/x HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n"); code != 400 {
		t.Errorf("two Host lines: status %d: %s", code, body)
	}

	trusted := startGateway(t, gatewayOpts{policy: `package veil
decision := {"allow": true, "reason": input.request.client_ip}`, routes: catchAll(up), mutate: func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.0/8"}
	}})
	code, body = trusted.raw(t, "GET /x HTTP/1.1\r\nHost: x\r\n"+
		"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n")
	if code != 200 {
		t.Fatalf("trusted: status %d: %s", code, body)
	}
	if xff := up.last(t).Header.Values("X-Forwarded-For"); !slices.Equal(xff, []string{"203.0.113.9, 10.1.2.3, 127.0.0.1"}) {
		t.Errorf("trusted proxy: upstream X-Forwarded-For = %q", xff)
	}
	if lines := trusted.waitAudit(t, 1); !strings.Contains(lines[0], `"client_ip":"203.0.113.9"`) {
		t.Errorf("client_ip not derived from the whole forwarded list: %s", lines[0])
	}
}

// A request fasthttp cannot parse is audited at the time it came, not at
// the time of the request before it on the same connection (the gateway
// takes an exchange's start from the time fasthttp read the request, which
// a request that failed to read does not update).
func TestProtocolErrorAuditedAtItsOwnTime(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	c, err := net.DialTimeout("tcp", tg.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	rawOn(t, c, br, "GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n") // its status is the policy's
	time.Sleep(1200 * time.Millisecond)
	sent := time.Now()
	if code, _ := rawOn(t, c, br, "GET /api/x HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"); code != 400 {
		t.Fatalf("malformed request: status %d, want 400", code)
	}
	lines := tg.waitAudit(t, 2)
	var ev struct {
		Time       time.Time `json:"time"`
		DurationUS int64     `json:"duration_us"`
		Status     int       `json:"status"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatalf("%v: %s", err, lines[1])
	}
	if ev.Status != 400 {
		t.Fatalf("second event is not the malformed request's: %s", lines[1])
	}
	if ev.Time.Before(sent.Add(-100*time.Millisecond)) || ev.DurationUS > 1_000_000 {
		t.Errorf("malformed request audited at %v (%d µs), sent at %v: %s", ev.Time, ev.DurationUS, sent, lines[1])
	}
}
