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

// hdrClass sorts the header names the gateway removes; a message is pruned
// of the classes that apply to it in one pass (pruneRequest, pruneResponse).
type hdrClass uint16

const (
	// hdrHop: hop-by-hop headers, removed in both directions together with
	// every header the Connection header names (RFC 9110 7.6.1).
	// Transfer-Encoding and Content-Length are framing fasthttp sets itself.
	hdrHop hdrClass = 1 << iota
	// hdrConnection marks the Connection header itself (also hdrHop).
	hdrConnection
	// hdrOverride: method- and path-override headers let a client smuggle
	// another method or path past the policy; they never reach the
	// upstream.
	hdrOverride
	// hdrForwarded: the forwarding headers, replaced when the peer is not a
	// trusted proxy so that a client cannot forge them; the other
	// client-address headers CDNs and proxies set (X-Real-IP,
	// True-Client-IP, ...) are removed then: an upstream that believes
	// one would take the client's word for its address.
	hdrForwarded
	// hdrXFF: X-Forwarded-For, always rebuilt (from every line a trusted
	// proxy sent, or from the peer alone).
	hdrXFF
	// hdrRequestID: X-Request-Id, always set by the gateway.
	hdrRequestID
	// hdrAuth: the Authorization header, removed when the route strips or
	// injects credentials (the API-key header is matched by name).
	hdrAuth
	// hdrPartial: request headers that would let the upstream answer with a
	// partial or encoded body, removed when the gateway reads the response
	// (response transforms or record ids). Request-Range is the legacy
	// alias of Range that Apache httpd and Squid still honour.
	hdrPartial
	// hdrConditional: conditional request headers, removed when the
	// response is rewritten: the upstream evaluates them against the
	// original bytes (an ETag of the unmasked body, its modification
	// time), so a 304 or 412 would answer questions about what the client
	// may not see.
	hdrConditional
	// hdrRepresentation: response headers that describe the upstream's
	// original bytes and are wrong (or could reveal the original) once the
	// body is rewritten.
	hdrRepresentation
)

// Canonical names of the headers the gateway sets (SetCanonical skips
// the key normalisation).
var (
	hXForwardedFor   = []byte("X-Forwarded-For")
	hXForwardedProto = []byte("X-Forwarded-Proto")
	hXForwardedHost  = []byte("X-Forwarded-Host")
	hXRequestID      = []byte("X-Request-Id")
	hTrailer         = []byte("Trailer")
	hContentLength   = []byte("Content-Length")
)

// hdrClasses maps lower-case header names to their classes.
var hdrClasses = map[string]hdrClass{
	"connection":          hdrHop | hdrConnection,
	"keep-alive":          hdrHop,
	"proxy-connection":    hdrHop,
	"proxy-authenticate":  hdrHop,
	"proxy-authorization": hdrHop,
	"te":                  hdrHop,
	"trailer":             hdrHop,
	"transfer-encoding":   hdrHop,
	"upgrade":             hdrHop,

	"x-http-method-override": hdrOverride,
	"x-http-method":          hdrOverride,
	"x-method-override":      hdrOverride,
	// Path overrides (IIS URL Rewrite, Symfony, Laminas): the upstream
	// would route by them, not by the path the policy decided on.
	"x-original-url": hdrOverride,
	"x-rewrite-url":  hdrOverride,

	"forwarded":           hdrForwarded,
	"x-forwarded-proto":   hdrForwarded,
	"x-forwarded-host":    hdrForwarded,
	"x-real-ip":           hdrForwarded,
	"true-client-ip":      hdrForwarded,
	"x-client-ip":         hdrForwarded,
	"x-cluster-client-ip": hdrForwarded,
	"cf-connecting-ip":    hdrForwarded,
	"fastly-client-ip":    hdrForwarded,
	"x-forwarded-for":     hdrXFF,
	"x-request-id":        hdrRequestID,

	"authorization": hdrAuth,

	"range":           hdrPartial,
	"request-range":   hdrPartial,
	"if-range":        hdrPartial,
	"accept-encoding": hdrPartial,

	"if-none-match":       hdrConditional,
	"if-match":            hdrConditional,
	"if-modified-since":   hdrConditional,
	"if-unmodified-since": hdrConditional,

	"content-encoding": hdrRepresentation,
	"etag":             hdrRepresentation,
	"content-md5":      hdrRepresentation,
	"digest":           hdrRepresentation,
	"repr-digest":      hdrRepresentation,
	"content-digest":   hdrRepresentation,
	"content-range":    hdrRepresentation,
	"accept-ranges":    hdrRepresentation,
	"last-modified":    hdrRepresentation,
}

// hdrByLen indexes hdrClasses by name length: classOf compares a name
// only with the few of its length (no hashing on the per-header path).
var hdrByLen = func() (t [24][]hdrName) {
	for name, c := range hdrClasses {
		t[len(name)] = append(t[len(name)], hdrName{name, c})
	}
	return t
}()

type hdrName struct {
	lower string
	class hdrClass
}

// classOf returns the classes of header name k (any case).
func classOf(k []byte) hdrClass {
	if len(k) >= len(hdrByLen) || len(k) == 0 {
		return 0
	}
	first := k[0] | 0x20 // ASCII lower case for letters
	for _, e := range hdrByLen[len(k)] {
		if e.lower[0] == first && bytes.EqualFold(k, []byte(e.lower)) {
			return e.class
		}
	}
	return 0
}

// pruner collects, during one pass over a header, the names to delete, so
// that only names actually present pay for a Del (each costs a key
// normalisation and a scan of the header). Its buffer is reused.
type pruner struct {
	drop  hdrClass
	extra string // one more name to delete (any case), or ""
	names []byte // NUL-terminated names to delete
}

func (p *pruner) visit(k, v []byte) {
	c := classOf(k)
	if c == 0 && bytes.IndexByte(k, '_') >= 0 && p.underscoreVariant(k) {
		// X_Forwarded_For for X-Forwarded-For: CGI-style servers (PHP-FPM,
		// WSGI, Rack) read both as one variable, so the client's would
		// compete with the gateway's. nginx drops such names by default.
		p.names = append(append(p.names, k...), 0)
		return
	}
	if c&p.drop != 0 || (p.extra != "" && isName(k, p.extra)) {
		p.names = append(append(p.names, k...), 0)
	}
	if c&hdrConnection == 0 {
		return
	}
	for len(v) > 0 {
		f := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			f, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		name := bytes.TrimSpace(f)
		if len(name) > 0 && !bytes.EqualFold(name, []byte("close")) && !bytes.EqualFold(name, []byte("keep-alive")) {
			p.names = append(append(p.names, name...), 0)
		}
	}
}

// underscoreVariant reports whether k, read with '_' as '-', names a
// header the pass removes.
func (p *pruner) underscoreVariant(k []byte) bool {
	var buf [64]byte
	if len(k) > len(buf) {
		return false
	}
	d := buf[:len(k)]
	for i, c := range k {
		if c == '_' {
			c = '-'
		}
		d[i] = c
	}
	return classOf(d)&p.drop != 0 || (p.extra != "" && isName(d, p.extra))
}

// appendJoined appends the values of every line of header key in h,
// joined by ", " (several lines of a list header are one list, RFC 9110
// 5.3): a repeated line must neither be lost nor pass unseen.
func appendJoined(dst []byte, h *fasthttp.RequestHeader, key string) []byte {
	for i, v := range h.PeekAll(key) {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, v...)
	}
	return dst
}

// pruneRequest deletes from h the headers of the classes in drop, the
// header named extra (if not empty), and hop-by-hop headers a Connection
// header names.
func (p *pruner) pruneRequest(h *fasthttp.RequestHeader, drop hdrClass, extra string) {
	p.drop, p.extra, p.names = drop, extra, p.names[:0]
	for name := range h.Trailers() {
		p.names = append(append(p.names, name...), 0)
	}
	p.dropTrailers(h.DelBytes)
	// The loop stays typed: ranging over an iter.Seq2 parameter would move
	// the loop body to the heap (two allocations per call).
	for k, v := range h.All() {
		p.visit(k, v)
	}
	p.deleteNames(h.DelBytes)
}

// pruneResponse is pruneRequest for a response header.
func (p *pruner) pruneResponse(h *fasthttp.ResponseHeader, drop hdrClass) {
	p.drop, p.extra, p.names = drop, "", p.names[:0]
	for name := range h.Trailers() {
		p.names = append(append(p.names, name...), 0)
	}
	p.dropTrailers(h.DelBytes)
	for k, v := range h.All() {
		p.visit(k, v)
	}
	p.deleteNames(h.DelBytes)
}

// dropTrailers removes the trailer fields whose names the caller put in
// p.names (ranging over h.Trailers, typed: through an interface the loop
// would allocate), and the Trailer header; del is h.DelBytes. Both
// directions do it, whatever the drop classes: a trailer escapes the pass
// over the header section (h.All does not list it), and removing the
// Trailer header alone makes fasthttp write the fields it announced as
// header fields — after the pass, so a client's trailer could carry an
// X-HTTP-Method-Override, a forged X-Request-Id or a credential to the
// upstream, and an upstream's a digest of the unmasked body to the client.
// h.Trailers lists the names announced and those received; deleting a
// name deletes its values in both sections. No cost without trailers.
func (p *pruner) dropTrailers(del func([]byte)) {
	if len(p.names) > 0 {
		p.deleteNames(del)
		del(hTrailer)
		p.names = p.names[:0]
	}
}

// deleteNames calls del for each collected name.
func (p *pruner) deleteNames(del func([]byte)) {
	for rest := p.names; len(rest) > 0; {
		i := bytes.IndexByte(rest, 0)
		del(rest[:i])
		rest = rest[i+1:]
	}
}

// reqHeaders are the request headers the pipeline reads before the
// upstream, found in one pass over the parsed header (read) instead of one
// lookup each: every lookup normalises its name and scans every line.
type reqHeaders struct {
	requestID []byte // the first X-Request-Id line, nil when absent
	upgrade   bool   // an Upgrade line is present
	// auth and apiKey hold the Authorization and API key header values
	// (non-nil, possibly empty, when present); authN and apiKeyN count
	// their lines: more than one is ambiguous.
	auth, apiKey   []byte
	authN, apiKeyN int
}

// read fills r from h; apiKeyHeader is the configured API key header.
// Names are compared in any case (fasthttp normalises them, but a server
// configured not to would hand them over as sent).
func (r *reqHeaders) read(h *fasthttp.RequestHeader, apiKeyHeader string) {
	*r = reqHeaders{}
	// Independent tests, not a switch: the API key header may be
	// configured with the name of another one (then both read it, as two
	// lookups would).
	for k, v := range h.All() {
		if isName(k, apiKeyHeader) {
			r.apiKey, r.apiKeyN = nonNil(v), r.apiKeyN+1
		}
		switch {
		case isName(k, "Authorization"):
			r.auth, r.authN = nonNil(v), r.authN+1
		case isName(k, "X-Request-Id"):
			if r.requestID == nil {
				r.requestID = nonNil(v)
			}
		case isName(k, "Upgrade"):
			r.upgrade = r.upgrade || len(v) > 0
		}
	}
}

// isName reports whether header name k is name, in any case (the length
// first: most names differ in it).
func isName(k []byte, name string) bool {
	return len(k) == len(name) && bytes.EqualFold(k, []byte(name))
}

// nonNil returns v, or an empty non-nil slice for a present but empty
// header value.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
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
func (t trustedNets) clientIP(peer net.IP, xff []byte, names *peerNames) (client, peerStr string, trusted bool) {
	pa, ok := netip.AddrFromSlice(peer)
	if !ok {
		s := peer.String()
		return s, s, false
	}
	pa = pa.Unmap()
	peerStr = names.text(pa)
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

// peerNames caches the text of the last peer address: a gateway sees few
// distinct peers (load balancers, sidecars, keep-alive clients), and
// formatting one allocates on every request.
type peerNames struct{ last atomic.Pointer[peerName] }

type peerName struct {
	addr netip.Addr
	text string
}

func (c *peerNames) text(a netip.Addr) string {
	if p := c.last.Load(); p != nil && p.addr == a {
		return p.text
	}
	s := a.String()
	c.last.Store(&peerName{a, s})
	return s
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
