package proxy

import (
	"bufio"
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

func TestClassOf(t *testing.T) {
	for name, want := range map[string]hdrClass{
		"Connection": hdrHop | hdrConnection, "TRANSFER-ENCODING": hdrHop, "etag": hdrRepresentation,
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
