package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// hopByHop are removed in both directions (RFC 9110 7.6.1), together with
// every header the Connection header names. Transfer-Encoding and
// Content-Length are framing that fasthttp sets itself.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// methodOverride headers let a client smuggle another method past the
// policy; they never reach the upstream.
var methodOverride = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// stripHopByHop removes hop-by-hop headers, including those Connection
// lists, and the names in also, from h (request or response header). One pass over the headers
// finds out whether there is anything to remove; most messages carry
// none, and each Del costs a normalisation and a scan.
func stripHopByHop(h interface {
	Peek(string) []byte
	Del(string)
	VisitAll(func(key, value []byte))
}, also ...string) {
	present := false
	h.VisitAll(func(k, _ []byte) {
		if !present && (isOneOf(k, hopByHop) || isOneOf(k, also)) {
			present = true
		}
	})
	if !present {
		return
	}
	if conn := h.Peek("Connection"); len(conn) > 0 {
		for _, f := range bytes.Split(conn, []byte{','}) {
			if name := bytes.TrimSpace(f); len(name) > 0 && !bytes.EqualFold(name, []byte("close")) && !bytes.EqualFold(name, []byte("keep-alive")) {
				h.Del(string(name))
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
	for _, k := range also {
		h.Del(k)
	}
}

func isOneOf(k []byte, names []string) bool {
	for _, h := range names {
		if len(k) == len(h) && bytes.EqualFold(k, []byte(h)) {
			return true
		}
	}
	return false
}

// trustedNets holds the parsed trusted_proxies.
type trustedNets []netip.Prefix

func parseTrusted(cidrs []string) trustedNets {
	var t trustedNets
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			t = append(t, p.Masked())
		}
	}
	return t
}

func (t trustedNets) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP derives the client address: the peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is walked from the right
// and the first untrusted address wins. It also reports whether the peer
// is trusted (its X-Forwarded-* headers are then extended, not replaced).
func (t trustedNets) clientIP(peer net.IP, xff []byte) (client, peerStr string, trusted bool) {
	pa, ok := netip.AddrFromSlice(peer)
	if !ok {
		s := peer.String()
		return s, s, false
	}
	pa = pa.Unmap()
	peerStr = pa.String()
	if len(t) == 0 || !t.contains(pa) {
		return peerStr, peerStr, false
	}
	ca := pa
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		part := bytes.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(string(part))
		if err != nil {
			break // garbage: stop at the last address we could trust
		}
		ca = a.Unmap()
		if !t.contains(ca) {
			break
		}
		if i < 0 {
			break
		}
	}
	return ca.String(), peerStr, true
}

// Request ids: a random per-process prefix and a counter: unique, cheap.
var (
	reqIDPrefix  = newReqIDPrefix()
	reqIDCounter atomic.Uint64
)

func newReqIDPrefix() []byte {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

func appendRequestID(dst []byte) []byte {
	dst = append(dst, reqIDPrefix...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, reqIDCounter.Add(1), 36)
}

// validRequestID accepts a client's X-Request-Id: 1-128 characters of
// [A-Za-z0-9._:-]. Anything else is replaced so it can be logged safely.
func validRequestID(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for _, c := range b {
		if !(isUnreserved(c) || c == ':') || c == '~' {
			return false
		}
	}
	return true
}

// methodString returns the method as a string without allocating for the
// common methods.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "PATCH":
		return "PATCH"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	}
	return string(m)
}

// credentialHeaders are never given to the policy.
func isCredentialHeader(name []byte, apiKeyHeader string) bool {
	return bytes.EqualFold(name, []byte("Authorization")) || bytes.EqualFold(name, []byte("Cookie")) ||
		bytes.EqualFold(name, []byte("Proxy-Authorization")) || bytes.EqualFold(name, []byte(apiKeyHeader))
}

// isJSONContentType reports application/json or any */*+json media type.
func isJSONContentType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	return bytes.EqualFold(ct, []byte("application/json")) ||
		(len(ct) > 5 && bytes.EqualFold(ct[len(ct)-5:], []byte("+json")))
}

var _ = fasthttp.StatusOK
