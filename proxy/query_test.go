package proxy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/veilgw/veil/transforms"
	"github.com/veilgw/veil/vault"
)

// TestQueryTransforms: a token a client sends in a query parameter is
// detokenized before the upstream sees it, other parameters are masked or
// kept, duplicates stay in order, and a broken token is dropped and
// counted, never forwarded.
func TestQueryTransforms(t *testing.T) {
	t.Parallel()
	keys, err := vault.NewMemory("pii")
	if err != nil {
		t.Fatal(err)
	}
	p, err := transforms.Compile([]transforms.Rule{{Path: "$.v", Action: "tokenize", Params: map[string]any{"key": "pii"}}}, transforms.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Rewrite(nil, []byte(`{"v":"ann@example.com"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ V string }
	_ = json.Unmarshal(out, &tok)

	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{keys: keys, routes: catchAll(up), policy: `package veil
decision := {"allow": true, "query_transforms": [
	{"path": "$.email[*]", "action": "detokenize", "key": "pii"},
	{"path": "$.ssn[*]", "action": "mask", "keep_last": 4}]}`})
	q := url.Values{}
	q.Add("email", tok.V)
	q.Add("ssn", "123-45-6789")
	q.Add("tag", "a b")
	q.Add("tag", "c&d")
	resp, body := tg.do(t, "GET", "/api/search?"+q.Encode(), nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got, err := url.ParseQuery(strings.TrimPrefix(up.last(t).URI[strings.IndexByte(up.last(t).URI, '?'):], "?"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("email") != "ann@example.com" || got.Get("ssn") != "*******6789" ||
		strings.Join(got["tag"], "|") != "a b|c&d" {
		t.Fatalf("upstream query: %v", got)
	}
	// A forged token is dropped and counted.
	q.Set("email", "tok_v1_AAAA")
	tg.do(t, "GET", "/api/search?"+q.Encode(), nil, nil)
	uri := up.last(t).URI
	if strings.Contains(uri, "email=") || strings.Contains(uri, "tok_v1_AAAA") {
		t.Fatalf("broken token forwarded: %s", uri)
	}
	lines := tg.waitAudit(t, 2)
	if !strings.Contains(lines[1], `"failed_values":1`) || !strings.Contains(lines[1], `"direction":"query"`) {
		t.Fatalf("audit: %s", lines[1])
	}
	for _, l := range lines {
		if strings.Contains(l, "ann@example.com") || strings.Contains(l, "45-6789") || strings.Contains(l, "*6789") {
			t.Fatalf("audit leaks a query value: %s", l)
		}
	}
}

// TestQueryTransformsRefuseNonUTF8: under query_transforms a parameter
// name or value that is not UTF-8 is refused (400 bad_path): as a JSON
// string it would become U+FFFD, and the parameter was silently dropped
// (name) or altered (value) on the way to the upstream.
func TestQueryTransformsRefuseNonUTF8(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{routes: catchAll(up), policy: `package veil
decision := {"allow": true, "query_transforms": [{"path": "$.ssn[*]", "action": "mask", "keep_last": 4}]}`})
	for _, q := range []string{"%ff=1", "q=%ff", "ssn=123-45-6789&%fe=2"} {
		resp, body := tg.do(t, "GET", "/api/x?"+q, nil, nil)
		if e := decodeError(t, body); resp.StatusCode != 400 || e.Error.Code != "bad_path" {
			t.Errorf("?%s: %d %s", q, resp.StatusCode, body)
		}
	}
	if up.hits.Load() != 0 {
		t.Errorf("the upstream was reached %d times", up.hits.Load())
	}
	if resp, _ := tg.do(t, "GET", "/api/x?ssn=123-45-6789&q=%C3%A9", nil, nil); resp.StatusCode != 200 || up.last(t).URI != "/api/x?ssn=%2A%2A%2A%2A%2A%2A%2A6789&q=%C3%A9" {
		t.Errorf("valid UTF-8: %d, upstream %q", resp.StatusCode, up.last(t).URI)
	}
}

// TestQuerySemicolonRefusedWhenThePolicyReadsIt: a policy reads the query
// split on '&'; an upstream splitting on ';' too (Rack 2, older Python)
// would see a manager_id the policy never did. Such a query is refused
// (400 bad_path) when the policy reads the query, and passes otherwise.
func TestQuerySemicolonRefusedWhenThePolicyReadsIt(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{routes: catchAll(up), policy: `package veil
decision := {"allow": true} if input.request.query.manager_id == ["e-0007"]`})
	other := startGateway(t, gatewayOpts{routes: catchAll(up), policy: "package veil\ndecision := {\"allow\": true}"})
	const q = "?manager_id=e-0007&x=;manager_id=e-0001"
	resp, body := tg.do(t, "GET", "/reads/x"+q, nil, nil)
	if e := decodeError(t, body); resp.StatusCode != 400 || e.Error.Code != "bad_path" || up.hits.Load() != 0 {
		t.Errorf("policy reads the query: %d %s, upstream hits %d", resp.StatusCode, body, up.hits.Load())
	}
	if resp, _ := tg.do(t, "GET", "/reads/x?manager_id=e-0007", nil, nil); resp.StatusCode != 200 {
		t.Errorf("without ';': %d", resp.StatusCode)
	}
	if resp, _ := other.do(t, "GET", "/ignores/x"+q, nil, nil); resp.StatusCode != 200 || up.last(t).URI != "/ignores/x"+q {
		t.Errorf("policy does not read the query: %d, upstream %q", resp.StatusCode, up.last(t).URI)
	}
}
