package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func headerNames(all func(func(k, v []byte))) string {
	var names []string
	all(func(k, _ []byte) { names = append(names, string(k)) })
	sort.Strings(names)
	return strings.Join(names, ",")
}

// TestPruneRequest checks each class on a parsed request: only what the
// classes (and the Connection header) name is removed, in any case.
func TestPruneRequest(t *testing.T) {
	raw := "GET /x HTTP/1.1\r\nHost: h\r\n" +
		"connection: keep-alive, X-Hop-One ,x-hop-two, close\r\n" +
		"X-Hop-One: 1\r\nX-Hop-Two: 2\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n" +
		"X-HTTP-Method-Override: DELETE\r\nForwarded: for=1.2.3.4\r\n" +
		"Authorization: Bearer t\r\nX-Api-Key: k\r\nRange: bytes=0-1\r\nIf-Range: x\r\nAccept-Encoding: gzip\r\n" +
		"X-Keep: yes\r\nAccept: */*\r\n\r\n"
	cases := []struct {
		drop  hdrClass
		extra string
		want  string
	}{
		{hdrHop, "", "Accept,Accept-Encoding,Authorization,Forwarded,Host,If-Range,Range,User-Agent,X-Api-Key,X-Http-Method-Override,X-Keep"},
		{hdrHop | hdrOverride | hdrForwarded, "", "Accept,Accept-Encoding,Authorization,Host,If-Range,Range,User-Agent,X-Api-Key,X-Keep"},
		{hdrHop | hdrAuth, "x-API-key", "Accept,Accept-Encoding,Forwarded,Host,If-Range,Range,User-Agent,X-Http-Method-Override,X-Keep"},
		{hdrHop | hdrPartial, "", "Accept,Authorization,Forwarded,Host,User-Agent,X-Api-Key,X-Http-Method-Override,X-Keep"},
	}
	var p pruner
	for _, c := range cases {
		var req fasthttp.Request
		if err := req.Header.Read(bufioReader(raw)); err != nil {
			t.Fatal(err)
		}
		req.Header.SetUserAgent("ua")
		p.pruneRequest(&req.Header, c.drop, c.extra)
		if got := headerNames(req.Header.VisitAll); got != c.want {
			t.Errorf("drop %b extra %q:\n got %s\nwant %s", c.drop, c.extra, got, c.want)
		}
	}
}

// TestPrunePartialAndConditional: the range headers (Request-Range too) go
// when the response is read, the conditional ones when it is rewritten,
// in any case of their names, each only with its class.
func TestPrunePartialAndConditional(t *testing.T) {
	raw := "GET /x HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nrequest-range: bytes=0-1\r\nIf-Range: x\r\n" +
		"Accept-Encoding: gzip\r\nIF-NONE-MATCH: \"a\"\r\nIf-Match: \"b\"\r\nIf-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
		"if-unmodified-since: Mon, 02 Jan 2006 15:04:05 GMT\r\nX-Keep: 1\r\n\r\n"
	for drop, want := range map[hdrClass]string{
		hdrPartial:                  "If-Match,If-Modified-Since,If-None-Match,If-Unmodified-Since,X-Keep",
		hdrConditional:              "Accept-Encoding,If-Range,Range,Request-Range,X-Keep",
		hdrPartial | hdrConditional: "X-Keep",
	} {
		var req fasthttp.Request
		req.Header.DisableNormalizing()
		if err := req.Header.Read(bufioReader(raw)); err != nil {
			t.Fatal(err)
		}
		var p pruner
		p.pruneRequest(&req.Header, drop, "")
		var names []string
		for k := range req.Header.All() {
			if !strings.EqualFold(string(k), "Host") {
				names = append(names, http.CanonicalHeaderKey(string(k)))
			}
		}
		sort.Strings(names)
		if got := strings.Join(names, ","); got != want {
			t.Errorf("drop %b:\n got %s\nwant %s", drop, got, want)
		}
	}
}

// TestPruneUnderscoreVariants: a client header that reads as a removed one
// with '_' for '-' (X_Forwarded_For) goes too: CGI-style upstreams map both
// to one variable. Other underscore names stay. Path overrides
// (X-Original-URL, X-Rewrite-URL) go with the method overrides.
func TestPruneUnderscoreVariants(t *testing.T) {
	raw := "GET /x HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\nx_http_method_override: DELETE\r\n" +
		"X_Request_Id: forged\r\nX_API_Key: k\r\nX_Custom_Thing: 1\r\nX-Keep: 1\r\n" +
		// Path overrides, which some upstreams route by (IIS, Symfony).
		"X-Original-URL: /admin\r\nx-rewrite-url: /admin\r\nX_Original_URL: /admin\r\n\r\n"
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	if err := req.Header.Read(bufioReader(raw)); err != nil {
		t.Fatal(err)
	}
	var p pruner
	p.pruneRequest(&req.Header, hdrHop|hdrOverride|hdrXFF|hdrRequestID|hdrForwarded, "X-API-Key")
	var names []string
	for k := range req.Header.All() {
		if !strings.EqualFold(string(k), "Host") {
			names = append(names, string(k))
		}
	}
	sort.Strings(names)
	if got, want := strings.Join(names, ","), "X-Keep,X_Custom_Thing"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// TestPruneResponse checks the representation headers go only when asked.
func TestPruneResponse(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: X-Secret\r\n" +
		"X-Secret: s\r\nETag: \"a\"\r\nLast-Modified: x\r\nAccept-Ranges: bytes\r\nContent-Digest: d\r\nX-Keep: 1\r\n\r\n"
	for drop, want := range map[hdrClass]string{
		hdrHop:                     "Accept-Ranges,Content-Digest,Content-Length,Content-Type,Etag,Last-Modified,X-Keep",
		hdrHop | hdrRepresentation: "Content-Length,Content-Type,X-Keep",
	} {
		var resp fasthttp.Response
		if err := resp.Header.Read(bufioReader(raw)); err != nil {
			t.Fatal(err)
		}
		var p pruner
		p.pruneResponse(&resp.Header, drop)
		if got := headerNames(resp.Header.VisitAll); got != want {
			t.Errorf("drop %b:\n got %s\nwant %s", drop, got, want)
		}
	}
}

// TestPruneResponseDropsTrailers: the trailer section of a chunked
// answer (announced or not, in any case) leaves the client response with
// the Trailer header, whatever drop holds; nothing of it returns as a
// header field when the response is written.
func TestPruneResponseDropsTrailers(t *testing.T) {
	const raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n" +
		"Trailer: Repr-Digest, etag\r\nX-Keep: 1\r\n\r\n2\r\n{}\r\n0\r\n" +
		"Repr-Digest: sha-256=:secret-digest:\r\netag: \"secret-etag\"\r\nX-Unannounced: secret-value\r\n\r\n"
	for _, drop := range []hdrClass{0, hdrHop, hdrHop | hdrRepresentation} {
		var up, resp fasthttp.Response
		up.Header.DisableNormalizing() // as the upstream client reads it
		if err := up.Read(bufioReader(raw)); err != nil {
			t.Fatal(err)
		}
		if len(up.Header.TrailerHeader()) <= 2 {
			t.Fatal("the fixture has no trailer section")
		}
		up.Header.CopyTo(&resp.Header)
		var p pruner
		p.pruneResponse(&resp.Header, drop)
		resp.SetBodyString("{}")
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := resp.Write(w); err != nil {
			t.Fatal(err)
		}
		_ = w.Flush()
		if strings.Contains(out.String(), "secret") || strings.Contains(strings.ToLower(out.String()), "trailer") {
			t.Errorf("drop %b: a trailer field was written:\n%s", drop, out.String())
		}
		if !strings.Contains(out.String(), "X-Keep: 1") {
			t.Errorf("drop %b: a header field was lost:\n%s", drop, out.String())
		}
	}
}

// TestPruneResponseAllocs: respond's header work for a rewritten body
// (copy, prune, request id) and the Content-Range check allocate
// nothing on a response without trailers.
func TestPruneResponseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	const raw = "HTTP/1.1 200 OK\r\nServer: nginx/1.26.3\r\nDate: Mon, 23 Nov 2026 04:30:16 GMT\r\n" +
		"Content-Type: application/json\r\nContent-Length: 2214\r\nLast-Modified: Mon, 23 Nov 2026 04:00:00 GMT\r\n" +
		"Connection: keep-alive\r\nETag: \"6741a0c0-8a6\"\r\nAccept-Ranges: bytes\r\n\r\n"
	var up, resp fasthttp.Response
	up.Header.DisableNormalizing()
	if err := up.Header.Read(bufioReader(raw)); err != nil {
		t.Fatal(err)
	}
	var p pruner
	id := []byte("d2a6ec4aedda-drxv")
	run := func() {
		resp.Header.Reset()
		up.Header.CopyTo(&resp.Header)
		if hasContentRange(&up.Header) {
			t.Fatal("no Content-Range in the fixture")
		}
		p.pruneResponse(&resp.Header, hdrHop|hdrRequestID|hdrRepresentation)
		resp.Header.SetCanonical(hXRequestID, id)
	}
	run() // buffers grow once
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per response", n)
	}
}

func TestClassOf(t *testing.T) {
	for name, want := range map[string]hdrClass{
		"Connection": hdrHop | hdrConnection, "TRANSFER-ENCODING": hdrHop, "etag": hdrRepresentation,
		"Request-Range": hdrPartial, "if-none-match": hdrConditional, "If-Unmodified-Since": hdrConditional,
		"X-Forwarded-For": hdrXFF, "x-request-id": hdrRequestID, "X-Forwarded-Host": hdrForwarded, "": 0, strings.Repeat("a", 100): 0, "Authorizatio": 0,
	} {
		if got := classOf([]byte(name)); got != want {
			t.Errorf("classOf(%q) = %b, want %b", name, got, want)
		}
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestPeerNames(t *testing.T) {
	var c peerNames
	for _, s := range []string{"127.0.0.1", "127.0.0.1", "::1", "10.0.0.2", "127.0.0.1", "::1"} {
		if got := c.text(netip.MustParseAddr(s)); got != s {
			t.Fatalf("text(%s) = %s", s, got)
		}
	}
}

// BenchmarkRespondHeaders is respond's header work for a rewritten body:
// nginx's response header copied to the client response, pruned of the
// hop-by-hop and representation headers, and the request id set.
func BenchmarkRespondHeaders(b *testing.B) {
	const raw = "HTTP/1.1 200 OK\r\nServer: nginx/1.26.3\r\nDate: Mon, 23 Nov 2026 04:30:16 GMT\r\n" +
		"Content-Type: application/json\r\nContent-Length: 2214\r\nLast-Modified: Mon, 23 Nov 2026 04:00:00 GMT\r\n" +
		"Connection: keep-alive\r\nETag: \"6741a0c0-8a6\"\r\nAccept-Ranges: bytes\r\n\r\n"
	var up, resp fasthttp.Response
	up.Header.DisableNormalizing() // as the upstream client reads it
	if err := up.Header.Read(bufioReader(raw)); err != nil {
		b.Fatal(err)
	}
	var p pruner
	id := []byte("d2a6ec4aedda-drxv")
	b.ReportAllocs()
	for b.Loop() {
		resp.Header.Reset()
		up.Header.CopyTo(&resp.Header)
		p.pruneResponse(&resp.Header, hdrHop|hdrRequestID|hdrRepresentation)
		resp.Header.SetCanonical(hXRequestID, id)
	}
	if got := headerNames(func(f func(k, v []byte)) {
		for k, v := range resp.Header.All() {
			f(k, v)
		}
	}); got != "Content-Length,Content-Type,Date,Server,X-Request-Id" {
		b.Fatalf("pruned header: %s", got)
	}
}
