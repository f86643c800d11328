package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
	"github.com/veilgw/veil/transforms"
)

// pipeline is Veil's request path, in order (DESIGN "Request pipeline"):
//
//	accept -> normalise -> route -> identify -> decide (OPA) -> request
//	transforms -> upstream -> response transforms -> respond -> audit
//
// Each stage passes (errNone) or stops the request with a code from the
// error table (errors.go). respond and audit always run after the stages,
// for allowed, denied, rejected and failed requests alike; the audit event
// is written when the response has been sent (or failed to send).
var pipeline = [...]struct {
	name string
	run  func(*Gateway, *exchange) errCode
}{
	{"normalise", (*Gateway).normalise},
	{"route", (*Gateway).route},
	{"identify", (*Gateway).identify},
	{"read_body", (*Gateway).readBodyForPolicy},
	{"decide", (*Gateway).decide},
	{"query_transforms", (*Gateway).transformQuery},
	{"request_transforms", (*Gateway).transformRequest},
	{"audit_gate", (*Gateway).auditGate},
	{"upstream", (*Gateway).forward},
	{"response_transforms", (*Gateway).transformResponse},
}

// handle is the fasthttp handler: it runs the pipeline, then responds.
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	// The time fasthttp read the request's header at: no clock read of
	// our own.
	x := g.acquireExchange(ctx, ctx.Time())
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("panic in request pipeline", zap.Any("panic", r), zap.ByteString("request_id", x.reqID), zap.Stack("stack"))
			x.failWith(errInternal)
			g.respond(x)
		}
	}()
	for i := range pipeline {
		if code := pipeline[i].run(g, x); code != errNone {
			x.failWith(code)
			break
		}
	}
	g.respond(x)
}

// normalise validates the request target and computes the one path every
// later stage sees.
func (g *Gateway) normalise(x *exchange) errCode {
	h := &x.ctx.Request.Header
	x.hdr.read(h, g.apiKeyHeader)
	if id := x.hdr.requestID; validRequestID(id) {
		x.reqID = append(x.reqID[:0], id...)
	} else {
		x.reqID = appendRequestID(x.reqID[:0])
	}
	x.ev.Method = methodString(h.Method())
	if x.peerTrusted {
		x.ev.ClientIP = x.clientIP
	}
	uri := h.RequestURI()
	if len(uri) > 0 && uri[0] != '/' {
		// absolute-form (RFC 9112 3.2.2): keep only the path and query.
		if i := bytes.Index(uri, []byte("://")); i > 0 {
			rest := uri[i+3:]
			j := bytes.IndexAny(rest, "/?")
			if j < 0 {
				uri = []byte("/")
			} else if rest[j] == '?' {
				uri = append([]byte("/"), rest[j:]...)
			} else {
				uri = rest[j:]
			}
		}
	}
	rawPath, rawQuery := uri, []byte(nil)
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		rawPath, rawQuery = uri[:q], uri[q+1:]
	}
	for _, c := range rawQuery {
		if c < 0x20 || c == 0x7f || c == '#' || c >= 0x80 {
			x.ev.RequestID = string(x.reqID)
			return errBadPath
		}
	}
	var err error
	x.path, err = normalisePath(x.path[:0], rawPath)
	if err != nil {
		x.ev.RequestID, x.ev.Path = string(x.reqID), ""
		return errBadPath
	}
	x.rawQuery = append(x.rawQuery[:0], rawQuery...)
	// The request id, path and host strings the audit event and the
	// policy input keep share one allocation.
	x.scratch = append(append(append(x.scratch[:0], x.reqID...), x.path...), h.Host()...)
	all := string(x.scratch)
	a, b := len(x.reqID), len(x.reqID)+len(x.path)
	x.ev.RequestID, x.ev.Path, x.host = all[:a], all[a:b], all[b:]
	// Request smuggling: both framings in one request. fasthttp lets
	// Transfer-Encoding win and drops Content-Length, but an upstream or
	// another hop might not: refuse (RFC 9112 6.3 allows it). A
	// Transfer-Encoding that did not make the body chunked ("identity",
	// which fasthttp accepts and forgets) leaves the body's length unknown:
	// RFC 9112 6.3 requires a 400, and fasthttp would read the body as the
	// next request. Either way the rest of the connection cannot be framed:
	// close it after the answer.
	if raw := h.RawHeaders(); (h.ContentLength() == -1 && hasRawHeader(raw, "content-length")) ||
		(h.ContentLength() != -1 && hasRawHeader(raw, "transfer-encoding")) {
		x.ctx.SetConnectionClose()
		return errSmuggling
	}
	if x.hdr.upgrade {
		return errUpgradeRefused
	}
	return errNone
}

// route picks the first route whose host and path prefix match.
func (g *Gateway) route(x *exchange) errCode {
	host := x.ctx.Request.Header.Host()
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	for _, r := range g.routes {
		if r.host != "" && !bytes.EqualFold(host, []byte(r.host)) {
			continue
		}
		rest, ok := r.matchPath(x.path)
		if !ok {
			continue
		}
		x.route = r
		x.ev.Route = r.name
		if r.strip {
			x.upPath = append(x.upPath[:0], rest...)
		} else {
			x.upPath = append(x.upPath[:0], x.path...)
		}
		return errNone
	}
	return errNoRoute
}

// identify verifies the credential, if any.
func (g *Gateway) identify(x *exchange) errCode {
	// A credential header that is present but empty is an invalid
	// credential, not an absent one; several of them are ambiguous
	// (x.hdr: read by normalise).
	if x.hdr.authN > 1 || x.hdr.apiKeyN > 1 {
		x.ev.Reason = "ambiguous_credentials"
		return errUnauthorized
	}
	cred := identity.Credentials{Authorization: x.hdr.auth, APIKey: x.hdr.apiKey}
	if st := x.ctx.TLSConnectionState(); st != nil && len(st.VerifiedChains) > 0 {
		cred.PeerCertificates = st.PeerCertificates
	}
	sub, err := g.ident.Identify(cred)
	if err != nil {
		x.ev.Reason = identity.Reason(err)
		return errUnauthorized
	}
	x.subject = sub
	x.ev.SubjectID = sub.ID
	x.ev.SubjectRoles = append(x.ev.SubjectRoles[:0], sub.Roles...)
	x.ev.SubjectMethod = sub.Method
	return errNone
}

// trackReader remembers the first read error of the client's body stream.
type trackReader struct {
	r   io.Reader
	err error
	n   int64 // bytes read
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// WriteTo streams the client body upstream in chunks of up to 64 KiB
// (fasthttp's own copy would move 4 KiB per syscall).
func (t *trackReader) WriteTo(w io.Writer) (int64, error) { return copyChunked(w, t) }

// hasRawHeader reports whether the raw header block holds a field name
// (case-insensitive).
func hasRawHeader(raw []byte, lowerName string) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if c := bytes.IndexByte(line, ':'); c == len(lowerName) && bytes.EqualFold(line[:c], []byte(lowerName)) {
			return true
		}
	}
	return false
}

// readBodyForPolicy reads the request body when the policy revision reads
// input.request.body, and classifies it (body_state).
func (g *Gateway) readBodyForPolicy(x *exchange) errCode {
	// Pin the revision: the parts of the request it reads are collected
	// for it, and it decides, even if a reload happens in between.
	x.rev = g.engine.Current()
	if !x.rev.ReadsBody() {
		return errNone
	}
	g.readRequestBody(x)
	if x.bodyState == bodyInvalid && x.bodyErr == errBadRequest {
		return errBadRequest // the body itself could not be read (framing)
	}
	return errNone
}

// readRequestBody reads and decodes the request body once, bounded by
// max_body_bytes (decoded size), and sets x.bodyState.
func (g *Gateway) readRequestBody(x *exchange) {
	if x.bodyDone {
		return
	}
	x.bodyDone = true
	req := &x.ctx.Request
	if req.Header.ContentLength() == 0 {
		x.bodyState = bodyAbsent
		return
	}
	limit := g.cfg.Limits.MaxBodyBytes
	var err error
	if req.IsBodyStream() {
		x.bodyRaw, err = readLimited(x.bodyRaw[:0], x.ctx.RequestBodyStream(), limit)
		x.bodyStreamLeft = errors.Is(err, errTooLarge)
	} else {
		x.bodyRaw = append(x.bodyRaw[:0], req.Body()...)
		if len(x.bodyRaw) > limit {
			err = errTooLarge
		}
	}
	x.bytesIn = int64(len(x.bodyRaw))
	switch {
	case errors.Is(err, errTooLarge):
		x.bodyState = bodyTooLarge
		return
	case err != nil:
		x.bodyState = bodyInvalid
		x.bodyErr = errBadRequest
		return
	case len(x.bodyRaw) == 0:
		x.bodyState = bodyAbsent
		return
	}
	// Every Content-Encoding line counts: "identity" then "gzip" on two
	// lines is a list of codings (unsupported), not "identity" while the
	// upstream decodes gzip the policy never saw.
	x.scratch = appendJoined(x.scratch[:0], &req.Header, "Content-Encoding")
	enc := parseEncoding(x.scratch)
	if enc == encIdentity {
		x.body = x.bodyRaw
	} else {
		x.bodyDec, err = decodeBody(x.bodyDec[:0], x.bodyRaw, enc, limit)
		switch {
		case errors.Is(err, errTooLarge):
			x.bodyState = bodyTooLarge
			return
		case errors.Is(err, errUnknownEncoding):
			x.bodyState, x.bodyErr = bodyInvalid, errUnsupportedEncoding
			return
		case err != nil:
			x.bodyState, x.bodyErr = bodyInvalid, errInvalidJSON
			return
		}
		x.body = x.bodyDec
	}
	if isJSONContentType(req.Header.ContentType()) || looksJSON(x.body) {
		// The engine parses it; a body that is not one valid JSON document
		// reaches the policy as body_state "invalid".
		x.bodyState = bodyParsed
	} else {
		x.bodyState = bodyNotJSON
	}
}

// looksJSON reports whether b starts like a JSON object or array: such a
// body is parsed for the policy whatever its declared content type, since
// many upstreams ignore Content-Type.
func looksJSON(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

const (
	bodyAbsent   = "absent"
	bodyParsed   = "parsed"
	bodyNotJSON  = "not_json"
	bodyTooLarge = "too_large"
	bodyInvalid  = "invalid"
)

// decide builds the policy input and evaluates the decision.
func (g *Gateway) decide(x *exchange) errCode {
	in := &x.input
	h := &x.ctx.Request.Header
	in.Method = x.ev.Method
	in.Host = x.host
	in.Path = x.ev.Path
	in.Segments = splitSegments(in.Segments[:0], in.Path)
	// Headers and query are copied only when the revision can read them
	// (the engine builds only the input fields a policy refers to).
	in.Query = in.Query[:0]
	if x.rev.ReadsQuery() {
		if bytes.IndexByte(x.rawQuery, ';') >= 0 {
			// The policy reads the query split on '&' only; an upstream
			// that also splits on ';' (Rack 2, older Python) would see
			// parameters the policy never did. Refused, as Go's net/http
			// refuses such queries.
			return errBadPath
		}
		for k, v := range x.ctx.QueryArgs().All() {
			in.Query = append(in.Query, [2]string{string(k), string(v)})
		}
	}
	in.Headers = in.Headers[:0]
	if x.rev.ReadsHeaders() {
		for k, v := range h.All() {
			if !isCredentialHeader(k, g.apiKeyHeader) {
				in.Headers = append(in.Headers, [2]string{string(bytes.ToLower(k)), string(v)})
			}
		}
	}
	in.BodyState = x.bodyState
	if in.BodyState == "" {
		// The revision does not read the body: tell it only whether there is one.
		if h.ContentLength() == 0 {
			in.BodyState = bodyAbsent
		} else {
			in.BodyState = bodyNotJSON
		}
	}
	in.Body = nil
	if in.BodyState == bodyParsed {
		in.Body = x.body
	}
	in.ClientIP = x.clientIP
	in.RequestID = x.ev.RequestID
	in.RouteName, in.RoutePrefix = x.route.name, x.route.prefix
	in.Subject = x.subject
	in.TimeNS = x.start.UnixNano()

	d, err := x.rev.Decide(context.Background(), in)
	x.ev.PolicyRevision = x.rev.ID()
	if err != nil {
		if errors.Is(err, policy.ErrUndefined) {
			// An undefined decision is a deny (DESIGN), not an error.
			g.metrics.decisionDeny.Inc()
			x.ev.Reason = "policy decision undefined"
			return errPolicyDenied
		}
		g.metrics.decisionError.Inc()
		switch {
		case errors.Is(err, policy.ErrDuplicateKey):
			return errDuplicateKey
		case errors.Is(err, policy.ErrBodyTooDeep):
			return errInvalidJSON
		case errors.Is(err, policy.ErrTimeout):
			return errPolicyTimeout
		case errors.Is(err, policy.ErrInvalidDecision):
			return errInvalidDecision
		default:
			g.log.Warn("policy evaluation failed", zap.String("revision", x.ev.PolicyRevision), zap.Error(err))
			return errPolicyError
		}
	}
	x.decision = d
	x.ev.PolicyRevision = d.Revision
	x.ev.DecisionID = x.ev.RequestID
	x.ev.Allowed = d.Allow
	checkPolicyText(x, d.Reason, d.Audit.Tags, d.Audit.Path)
	if !d.Allow {
		g.metrics.decisionDeny.Inc()
		x.failStatus = d.Status
		x.failMsg = x.ev.Reason
		return errPolicyDenied
	}
	progs := g.compiled(d)
	if progs.err != nil {
		g.metrics.decisionError.Inc() // a 500, not an allow
		g.log.Warn("policy returned invalid "+progs.what, zap.String("revision", d.Revision), zap.Error(progs.err))
		x.ev.Allowed = false
		return errInvalidDecision
	}
	g.metrics.decisionAllow.Inc()
	x.progs = progs
	x.respRules = len(d.ResponseTransforms) > 0
	return errNone
}

// decisionPrograms are a decision's compiled transform programs, memoised
// on the (shared, cached) decision so a repeated decision costs no
// compile-cache lookup.
type decisionPrograms struct {
	req, query, resp directionProgram
	err              error
	what             string // which rule set err is about
}

// directionProgram is one direction's compiled rules (nil prog: none), and
// per rule, in rule order (the order of Result.Rules), what a request
// would otherwise look up or encode: its veil_transformed_values_total
// series and its audit encoding up to its count (audit.TransformHead).
type directionProgram struct {
	prog   *transforms.Program
	counts []prometheus.Counter
	heads  [][]byte
}

func (g *Gateway) compiled(d *policy.Decision) *decisionPrograms {
	if p, ok := d.Memo().(*decisionPrograms); ok {
		return p
	}
	p := &decisionPrograms{}
	if len(d.RequestTransforms) > 0 {
		p.req = g.compileDirection(p, d.RequestTransforms, "", "request")
	}
	if len(d.QueryTransforms) > 0 {
		p.query = g.compileDirection(p, d.QueryTransforms, "", "query")
	}
	if len(d.ResponseTransforms) > 0 || d.Audit.RecordIDs != "" {
		p.resp = g.compileDirection(p, d.ResponseTransforms, d.Audit.RecordIDs, "response")
	}
	if p.err != nil {
		p.req, p.query, p.resp = directionProgram{}, directionProgram{}, directionProgram{}
	}
	d.SetMemo(p)
	return p
}

// compileDirection compiles one direction's rules (direction: "request",
// "query" or "response"), unless an earlier direction failed; a failure is
// recorded in p.
func (g *Gateway) compileDirection(p *decisionPrograms, rules []transforms.Rule, recordIDs, direction string) directionProgram {
	if p.err != nil {
		return directionProgram{}
	}
	prog, err := g.programs.Get(rules, recordIDs)
	if err != nil {
		p.err, p.what = err, direction+"_transforms"
		return directionProgram{}
	}
	dp := directionProgram{prog: prog, counts: make([]prometheus.Counter, len(rules))}
	for i, r := range rules {
		dp.counts[i] = g.metrics.transformsBy.get(direction, r.Action)
	}
	// The heads name the rules as the program's results do.
	named := prog.Rules()
	dp.heads = make([][]byte, len(named))
	for i, r := range named {
		dp.heads[i] = audit.TransformHead(direction, r.Path, r.Action)
	}
	return dp
}

// appendCounts appends a rewrite's counts (res.Rules) to the event's,
// with the heads of the program that made them (when they match).
func appendCounts(dst []audit.TransformCount, direction string, rules []transforms.RuleCount, heads [][]byte) []audit.TransformCount {
	if len(heads) != len(rules) {
		heads = nil
	}
	for i, rc := range rules {
		t := audit.TransformCount{Direction: direction, Path: rc.Path, Action: rc.Action, Count: rc.Count}
		if heads != nil {
			t.Head = heads[i]
		}
		dst = append(dst, t)
	}
	return dst
}

// safeReason bounds a policy's reason for the response body and the audit
// event: at most 200 bytes, no control characters.
func safeReason(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			b := []byte(s)
			for j := range b {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}

// transformRequest applies the decision's request_transforms to the body.
func (g *Gateway) transformRequest(x *exchange) errCode {
	if x.progs.req.prog == nil {
		return errNone
	}
	g.readRequestBody(x)
	switch x.bodyState {
	case bodyAbsent:
		return errNone
	case bodyTooLarge:
		return errBodyTooLarge
	case bodyInvalid:
		if x.bodyErr != errNone {
			return x.bodyErr
		}
	}
	out, err := x.progs.req.prog.Rewrite(x.upBody[:0], x.body, &x.reqRes)
	if err != nil {
		return g.rewriteErr(x, err, errInvalidJSON)
	}
	x.upBody = out
	x.upBodySet = true
	g.countTransforms(x.progs.req.counts, &x.reqRes)
	return errNone
}

func (g *Gateway) rewriteErr(x *exchange, err error, bodyCode errCode) errCode {
	switch {
	case errors.Is(err, transforms.ErrKeyUnavailable):
		g.log.Warn("key unavailable", zap.Error(err), zap.String("request_id", x.ev.RequestID))
		return errKeyUnavailable
	case errors.Is(err, transforms.ErrInvalidJSON), errors.Is(err, transforms.ErrTooDeep):
		return bodyCode
	default:
		g.log.Error("rewrite failed", zap.Error(err), zap.String("request_id", x.ev.RequestID))
		return errInternal
	}
}

// auditGate, in on_failure "deny" mode, reserves a queue slot on every
// audit sink for this request's event before the upstream sees the
// request; an unhealthy pipeline (a sink failing or stalled, a queue full)
// refuses it.
func (g *Gateway) auditGate(x *exchange) errCode {
	if !g.audit.DenyOnFailure() {
		return errNone
	}
	if err := g.audit.Reserve(&x.ev); err != nil {
		x.ev.Reason = "audit pipeline unavailable"
		return errAuditUnavailable
	}
	return errNone
}

// forward sends the request upstream and receives the response headers;
// the response body stays a stream until transformResponse or respond.
func (g *Gateway) forward(x *exchange) errCode {
	r := x.route
	if x.fwdReq == nil {
		x.fwdReq, x.fwdResp = new(fasthttp.Request), new(fasthttp.Response)
	}
	req := x.fwdReq
	defer req.Reset()
	src := &x.ctx.Request.Header
	src.CopyTo(&req.Header)
	// One pass removes what must not reach the upstream, and every line of
	// the headers set below (so that a repeated line cannot carry a forged
	// value past the one set here).
	drop, extra := hdrHop|hdrOverride|hdrXFF|hdrRequestID, ""
	if !x.peerTrusted {
		drop |= hdrForwarded
	}
	if r.auth == "strip" || r.auth == "inject" {
		drop |= hdrAuth
		extra = g.apiKeyHeader
	}
	if x.progs.resp.prog != nil {
		// The response must come back whole and decodable.
		drop |= hdrPartial
	}
	if x.respRules {
		// ... and unconditional: the upstream would evaluate a validator
		// against the original bytes (an ETag or date the gateway never
		// lets through), so its 304 or 412 would answer questions about
		// what the client may not see. A read loses nothing without them
		// (a full answer); a write keeps the existence preconditions
		// (If-Match: *, If-None-Match: *), which say nothing about the
		// bytes, and is refused with any other, which it could only have
		// guessed: dropping it would turn a guarded write into a blind one.
		if safeMethod(x.ctx.Request.Header.Method()) {
			drop |= hdrConditional
		} else if !onlyExistencePreconditions(src) {
			return errPrecondition
		}
	}
	x.prune.pruneRequest(&req.Header, drop, extra)
	x.scratch = append(x.scratch[:0], x.upPath...)
	if len(x.rawQuery) > 0 {
		x.scratch = append(x.scratch, '?')
		x.scratch = append(x.scratch, x.rawQuery...)
	}
	req.Header.SetRequestURIBytes(x.scratch)
	req.URI().DisablePathNormalizing = true

	// X-Forwarded-*: extended when the peer is a trusted proxy, replaced
	// otherwise so a client cannot forge them.
	peer := x.peer
	if x.peerTrusted {
		// x.xff: every X-Forwarded-For line, joined (acquireExchange).
		x.scratch = append(x.scratch[:0], x.xff...)
		if len(x.scratch) > 0 {
			x.scratch = append(x.scratch, ", "...)
		}
		x.scratch = append(x.scratch, peer...)
		req.Header.SetCanonical(hXForwardedFor, x.scratch)
		// The proxy's own, when it sent them; this hop's otherwise.
		if len(req.Header.Peek("X-Forwarded-Proto")) == 0 {
			req.Header.SetCanonical(hXForwardedProto, schemeOf(x.ctx))
		}
		if len(req.Header.Peek("X-Forwarded-Host")) == 0 {
			req.Header.SetCanonical(hXForwardedHost, src.Host())
		}
	} else {
		req.Header.SetCanonical(hXForwardedFor, []byte(peer))
		req.Header.SetCanonical(hXForwardedProto, schemeOf(x.ctx))
		req.Header.SetCanonical(hXForwardedHost, src.Host())
	}
	req.Header.SetCanonical(hXRequestID, x.reqID)
	if r.auth == "inject" {
		// Every client line of it: Set replaces only the first, and a
		// second would reach the upstream beside the service credential.
		req.Header.Del(r.injectHeader)
		req.Header.Set(r.injectHeader, r.injectValue)
	}

	// Body: rewritten, read, or streamed straight through.
	streamed := false
	switch {
	case x.upBodySet:
		req.SetBodyRaw(x.upBody)
		req.Header.Del("Content-Encoding")
	case x.bodyDone && x.bodyErr == errBadRequest:
		return errBadRequest
	case x.bodyDone && !x.bodyStreamLeft:
		req.SetBodyRaw(x.bodyRaw)
	case x.bodyDone && x.bodyStreamLeft:
		x.clientBody = trackReader{r: io.MultiReader(bytes.NewReader(x.bodyRaw), x.ctx.RequestBodyStream())}
		req.SetBodyStream(&x.clientBody, src.ContentLength())
		streamed = true
	case x.ctx.Request.IsBodyStream():
		x.clientBody = trackReader{r: x.ctx.RequestBodyStream()}
		req.SetBodyStream(&x.clientBody, src.ContentLength())
		streamed = true
	default:
		req.SetBodyRaw(x.ctx.Request.Body())
		x.bytesIn = int64(len(x.ctx.Request.Body()))
	}
	if streamed {
		x.countIn = true
	}

	resp := x.fwdResp
	// A body that is rewritten is read whole by the client (no per-request
	// stream plumbing); anything else streams through.
	resp.StreamBody = x.progs.resp.prog == nil
	var tried *upstream
	for attempt := 0; ; attempt++ {
		up := r.pool.pick(tried)
		if !r.preserveHost {
			req.URI().SetHost(up.addr)
			req.Header.SetHost(up.addr)
		}
		t0 := monoNow()
		up.inflight.Add(1)
		err := up.client.Do(req, resp)
		up.inflight.Add(-1)
		if err == nil {
			r.mUpstreamDur.Observe((monoNow() - t0).Seconds())
			x.upResp = resp
			x.ev.UpstreamStatus = resp.StatusCode()
			return errNone
		}
		if x.clientBody.err != nil {
			// The client's own body broke (bad chunk framing, reset): the
			// upstream saw a truncated request and an aborted connection.
			resp.Reset()
			return errBadRequest
		}
		code, notSent := classifyUpstreamErr(err)
		if notSent {
			up.downUntil.Store(time.Now().Add(unhealthyFor).UnixNano())
		}
		if notSent && !streamed && attempt == 0 && len(r.pool.ups) > 1 {
			tried = up
			continue
		}
		g.log.Warn("upstream request failed", zap.String("route", r.name), zap.String("upstream", up.addr),
			zap.String("request_id", x.ev.RequestID), zap.String("error", peerErrText(err)))
		resp.Reset()
		return code
	}
}

// transformResponse reads, decodes and rewrites the upstream body when the
// decision has response transforms (or record ids to collect).
func (g *Gateway) transformResponse(x *exchange) errCode {
	if x.progs.resp.prog == nil {
		return errNone
	}
	resp := x.upResp
	if x.respRules && (resp.StatusCode() == fasthttp.StatusPartialContent || hasContentRange(&resp.Header)) {
		// A part of the original bytes (Range is removed from the request,
		// but an upstream may honour another header or ignore the removal):
		// no rule can be applied to a fragment, which may even be a JSON
		// document of its own that no rule selects.
		return errUpstreamBadBody
	}
	method := x.ctx.Request.Header.Method()
	if bytes.Equal(method, []byte("HEAD")) || resp.StatusCode() == 204 || resp.StatusCode() == 304 {
		return errNone
	}
	limit := g.cfg.Limits.MaxBodyBytes
	// forward had the client read the body whole (bounded by the limit);
	// it stays in resp until respond releases it.
	raw := resp.Body()
	if len(raw) == 0 {
		x.outBody, x.outBodySet = x.outBody[:0], true
		return errNone
	}
	body := raw
	if enc := parseEncoding(resp.Header.ContentEncoding()); enc != encIdentity {
		var err error
		x.respDec, err = decodeBody(x.respDec[:0], raw, enc, limit)
		switch {
		case errors.Is(err, errTooLarge):
			return errUpstreamTooLarge
		case errors.Is(err, errUnknownEncoding):
			return errUpstreamEncoding
		case err != nil:
			return errUpstreamBadBody
		}
		body = x.respDec
	}
	if !x.respRules {
		// Record ids only: the body is passed unchanged; a body that is
		// not JSON has no record ids.
		var err error
		x.scratch, err = x.progs.resp.prog.Rewrite(x.scratch[:0], body, &x.respRes)
		if err == nil {
			x.ev.RecordIDs = append(x.ev.RecordIDs[:0], x.respRes.RecordIDs...)
			x.ev.RecordIDsCut = x.respRes.RecordIDsTruncated
		}
		x.outBody = append(x.outBody[:0], raw...)
		x.outBodySet = true
		return errNone
	}
	out, err := x.progs.resp.prog.Rewrite(x.outBody[:0], body, &x.respRes)
	if err != nil {
		return g.rewriteErr(x, err, errUpstreamBadBody)
	}
	x.outBody, x.outBodySet = out, true
	x.ev.RecordIDs = append(x.ev.RecordIDs[:0], x.respRes.RecordIDs...)
	x.ev.RecordIDsCut = x.respRes.RecordIDsTruncated
	g.countTransforms(x.progs.resp.counts, &x.respRes)
	return errNone
}

var (
	schemeHTTP  = []byte("http")
	schemeHTTPS = []byte("https")
)

// schemeOf is the scheme the client used to reach the gateway.
func schemeOf(ctx *fasthttp.RequestCtx) []byte {
	if ctx.IsTLS() {
		return schemeHTTPS
	}
	return schemeHTTP
}

// safeMethod reports the methods RFC 9110 9.2.1 defines as safe.
func safeMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// onlyExistencePreconditions reports whether h's conditional lines, if
// any, are If-Match: * or If-None-Match: * (RFC 9110 13.1).
func onlyExistencePreconditions(h *fasthttp.RequestHeader) bool {
	for k, v := range h.All() {
		switch {
		case isName(k, "If-Match"), isName(k, "If-None-Match"):
			if string(bytes.TrimSpace(v)) != "*" {
				return false
			}
		case isName(k, "If-Modified-Since"), isName(k, "If-Unmodified-Since"):
			return false
		}
	}
	return true
}

// hasContentRange reports whether h holds a Content-Range line, in any
// case (the upstream client keeps header names as they were sent).
func hasContentRange(h *fasthttp.ResponseHeader) bool {
	for k := range h.All() {
		if isName(k, "Content-Range") {
			return true
		}
	}
	return false
}

// countTransforms adds a rewrite's counts to the rules' series (counters
// is in the order of res.Rules: the decision's rules).
func (g *Gateway) countTransforms(counters []prometheus.Counter, res *transforms.Result) {
	for i, rc := range res.Rules {
		if rc.Count > 0 {
			counters[i].Add(float64(rc.Count))
		}
	}
	if res.Failed > 0 {
		g.metrics.failedValues.Add(float64(res.Failed))
	}
}

// respond writes the client response: the error, the rewritten body, or the
// upstream body streamed through. The audit event is written when the
// response body has been sent (completion.CloseWithError).
func (g *Gateway) respond(x *exchange) {
	resp := &x.ctx.Response
	if x.fail != errNone {
		x.closeUpstream()
		x.out = setError(x.out[:0], resp, x.fail, x.failStatus, x.failMsg, x.ev.RequestID)
		x.ev.ErrorCode = x.fail.String()
		if x.fail != errPolicyDenied {
			x.ev.Allowed = false
		}
		resp.Header.SetCanonical(hXRequestID, x.reqID)
		x.setCompletionBytes(x.out)
		return
	}
	up := x.upResp
	up.Header.CopyTo(&resp.Header)
	drop := hdrHop | hdrRequestID // X-Request-Id: the gateway's, set below
	if x.respRules {
		// Whatever the status and method: the headers of a HEAD, 204 or
		// 304 answer describe the original representation as well.
		drop |= hdrRepresentation
	}
	x.prune.pruneResponse(&resp.Header, drop)
	resp.Header.SetCanonical(hXRequestID, x.reqID)
	if x.outBodySet {
		x.closeUpstream()
		x.setCompletionBytes(x.outBody)
		return
	}
	if x.respRules {
		// HEAD, 204 or 304 (transformResponse rewrote nothing): no body,
		// and no Content-Length: the upstream's is the original
		// representation's, and the rewritten one's is unknown.
		x.closeUpstream()
		x.setCompletionBytes(nil)
		resp.Header.DelBytes(hContentLength)
		return
	}
	if s := up.BodyStream(); s != nil {
		x.setCompletion(s, up.Header.ContentLength())
		return
	}
	x.out = append(x.out[:0], up.Body()...)
	x.closeUpstream()
	x.setCompletionBytes(x.out)
}

// finish runs when the response has been sent: it writes the audit event,
// records metrics and releases the exchange.
func (g *Gateway) finish(x *exchange, sent int64, werr error) {
	x.closeUpstream()
	ev := &x.ev
	ev.Time = x.start
	ev.Status = x.ctx.Response.StatusCode()
	ev.Duration = time.Since(x.start)
	ev.BytesOut = sent
	ev.BytesIn = x.bytesIn
	if x.countIn {
		// A streamed body: its declared length, or what was read of a
		// chunked one (ContentLength is then -1).
		if ev.BytesIn = int64(x.ctx.Request.Header.ContentLength()); ev.BytesIn < 0 {
			ev.BytesIn = x.clientBody.n
		}
	}
	if x.decision != nil {
		var queryHeads, reqHeads, respHeads [][]byte
		if p := x.progs; p != nil {
			queryHeads, reqHeads, respHeads = p.query.heads, p.req.heads, p.resp.heads
		}
		ev.Transforms = appendCounts(ev.Transforms[:0], "query", x.queryRes.Rules, queryHeads)
		ev.Transforms = appendCounts(ev.Transforms, "request", x.reqRes.Rules, reqHeads)
		ev.Transforms = appendCounts(ev.Transforms, "response", x.respRes.Rules, respHeads)
		ev.FailedValues = x.queryRes.Failed + x.reqRes.Failed + x.respRes.Failed
	}
	if werr != nil && ev.ErrorCode == "" {
		if rerr := x.comp.readErr(); rerr != nil {
			// The upstream's body broke while it streamed through (closed
			// early, reset, stalled): the client got a truncated response
			// through no fault of its own.
			code, _ := classifyUpstreamErr(rerr)
			ev.ErrorCode = code.String()
		} else {
			ev.ErrorCode = "client_write_failed"
		}
	}
	if err := g.audit.Log(ev); err != nil {
		g.metrics.auditErrors.Inc()
		g.log.Error("audit write failed", zap.Error(err), zap.String("request_id", ev.RequestID))
	} else {
		g.metrics.auditEvents.Inc()
	}
	if r := x.route; r != nil {
		if ev.Status == 200 {
			r.mOK.Inc()
		} else {
			g.metrics.requestsBy.get(r.name, statusLabel(ev.Status)).Inc()
		}
		r.mDuration.Observe(ev.Duration.Seconds())
	} else {
		g.metrics.requestsBy.get("none", statusLabel(ev.Status)).Inc()
		g.metrics.durationBy.get("none", "").Observe(ev.Duration.Seconds())
	}
	g.inflight.Done()
	g.releaseExchange(x)
}
