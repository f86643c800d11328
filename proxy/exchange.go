package proxy

import (
	"bytes"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
	"github.com/veilgw/veil/transforms"
)

// exchange is one request's state from accept to audit. It is pooled; it
// never outlives the response (the audit event copies what it needs), and
// holds the RequestCtx only until finish.
type exchange struct {
	g     *Gateway
	ctx   *fasthttp.RequestCtx
	start time.Time

	reqID    []byte
	path     []byte // normalised path
	host     string // the Host header
	rawQuery []byte
	upPath   []byte
	route    *route
	scratch  []byte

	hdr reqHeaders // the request headers read before the upstream (normalise)

	clientIP    string
	peer        string // the TCP peer's address
	peerTrusted bool
	subject     identity.Subject

	// Request body, when read.
	bodyDone       bool
	bodyStreamLeft bool   // bodyRaw is a prefix: the rest is still in the stream
	bodyRaw        []byte // as received
	bodyDec        []byte // decoded (gzip/deflate)
	body           []byte // bodyRaw or bodyDec
	bodyState      string
	bodyErr        errCode
	upBody         []byte // rewritten request body
	upBodySet      bool
	bytesIn        int64
	countIn        bool
	clientBody     trackReader // the streamed client body, when streamed

	rev       policy.Revision // pinned for the request
	input     policy.Input
	decision  *policy.Decision
	progs     *decisionPrograms // set by decide; every later stage has it
	respRules bool
	reqRes    transforms.Result
	queryRes  transforms.Result
	respRes   transforms.Result

	upResp     *fasthttp.Response // fwdResp while it holds the upstream's answer
	respDec    []byte
	outBody    []byte
	outBodySet bool
	out        []byte

	fail       errCode
	failStatus int
	failMsg    string

	// The upstream request and response, kept with the pooled exchange
	// (reset after use) rather than taken from fasthttp's pools.
	fwdReq  *fasthttp.Request
	fwdResp *fasthttp.Response

	prune      pruner       // header pruning scratch
	xff        []byte       // every X-Forwarded-For line, joined
	bodyReader bytes.Reader // the response body, when held in memory

	ev   audit.Event
	comp completion
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// acquireExchange starts the exchange of a request received at start.
func (g *Gateway) acquireExchange(ctx *fasthttp.RequestCtx, start time.Time) *exchange {
	g.inflight.Add(1)
	x := exchangePool.Get().(*exchange)
	x.g, x.ctx, x.start = g, ctx, start
	var xff []byte
	if len(g.trusted) > 0 { // the list matters only behind trusted proxies
		x.xff = appendJoined(x.xff[:0], &ctx.Request.Header, "X-Forwarded-For")
		xff = x.xff
	}
	x.clientIP, x.peer, x.peerTrusted = g.trusted.clientIP(remoteIP(ctx), xff, &g.peerNames)
	x.ev.ClientIP = x.clientIP
	return x
}

func remoteIP(ctx *fasthttp.RequestCtx) net.IP {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return net.IPv4zero
}

func (g *Gateway) releaseExchange(x *exchange) {
	// The buffers stay with the exchange for its next request; every other
	// field is cleared in place. (A composite literal of the whole exchange
	// would be built on the stack and then copied over it: 1.8 KB of cold
	// stack written and read on every request.)
	k := keptBufs{
		fwdReq: x.fwdReq, fwdResp: x.fwdResp,
		reqID: x.reqID[:0], xff: x.xff[:0], path: x.path[:0], rawQuery: x.rawQuery[:0], upPath: x.upPath[:0], scratch: x.scratch[:0],
		bodyRaw: shrink(x.bodyRaw), bodyDec: shrink(x.bodyDec), upBody: shrink(x.upBody),
		respDec: shrink(x.respDec), outBody: shrink(x.outBody), out: shrink(x.out),
		segments: x.input.Segments[:0], query: x.input.Query[:0], headers: x.input.Headers[:0],
		reqRules: x.reqRes.Rules[:0], reqIDs: x.reqRes.RecordIDs[:0], queryRules: x.queryRes.Rules[:0],
		respRules: x.respRes.Rules[:0], respIDs: x.respRes.RecordIDs[:0],
		names: x.prune.names[:0],
		roles: x.ev.SubjectRoles[:0], transforms: x.ev.Transforms[:0], recordIDs: x.ev.RecordIDs[:0],
	}
	*x = exchange{}
	x.fwdReq, x.fwdResp = k.fwdReq, k.fwdResp
	x.reqID, x.xff, x.path, x.rawQuery, x.upPath, x.scratch = k.reqID, k.xff, k.path, k.rawQuery, k.upPath, k.scratch
	x.bodyRaw, x.bodyDec, x.upBody, x.respDec, x.outBody, x.out = k.bodyRaw, k.bodyDec, k.upBody, k.respDec, k.outBody, k.out
	x.input.Segments, x.input.Query, x.input.Headers = k.segments, k.query, k.headers
	x.reqRes.Rules, x.reqRes.RecordIDs, x.queryRes.Rules = k.reqRules, k.reqIDs, k.queryRules
	x.respRes.Rules, x.respRes.RecordIDs = k.respRules, k.respIDs
	x.prune.names = k.names
	x.ev.SubjectRoles, x.ev.Transforms, x.ev.RecordIDs = k.roles, k.transforms, k.recordIDs
	exchangePool.Put(x)
}

// keptBufs are the exchange's buffers carried over to its next request.
type keptBufs struct {
	fwdReq                                          *fasthttp.Request
	fwdResp                                         *fasthttp.Response
	reqID, xff, path, rawQuery, upPath, scratch     []byte
	bodyRaw, bodyDec, upBody, respDec, outBody, out []byte
	segments                                        []string
	query, headers                                  [][2]string
	reqRules, queryRules, respRules                 []transforms.RuleCount
	reqIDs, respIDs                                 []string
	names                                           []byte
	roles                                           []string
	transforms                                      []audit.TransformCount
	recordIDs                                       []string
}

// shrink keeps a pooled buffer unless it grew past 8 MiB (a huge body must
// not pin memory; the pool itself is emptied by the GC when idle). At
// 1 MiB, bodies of about a megabyte were reallocated on every request:
// 2.6x slower than with their buffers reused.
func shrink(b []byte) []byte {
	if cap(b) > 8<<20 {
		return nil
	}
	return b[:0]
}

func (x *exchange) failWith(c errCode) {
	if x.fail == errNone {
		x.fail = c
	}
}

// closeUpstream releases the upstream response (and its connection).
func (x *exchange) closeUpstream() {
	if x.upResp != nil {
		_ = x.upResp.CloseBodyStream()
		x.upResp.Reset()
		x.upResp = nil
	}
}

// setCompletionBytes is setCompletion for a body held in memory.
func (x *exchange) setCompletionBytes(b []byte) {
	x.bodyReader.Reset(b)
	x.setCompletion(&x.bodyReader, len(b))
}

// setCompletion makes r the response body; fasthttp closes it after
// writing, which runs finish (audit) exactly once.
func (x *exchange) setCompletion(r io.Reader, size int) {
	x.comp = completion{x: x, r: r}
	x.ctx.Response.SetBodyStream(&x.comp, size)
}

// completion wraps the response body to count bytes sent and to learn when
// the response is complete.
type completion struct {
	x    *exchange
	r    io.Reader
	n    int64
	done bool
	// src reads r when it is a stream (the upstream's body passed
	// through) and keeps its first read error: a body that broke on the
	// upstream's side, not on the client's.
	src trackReader
}

func (c *completion) Read(p []byte) (int, error) {
	if c.r == nil {
		return 0, io.EOF
	}
	c.src.r = c.r
	n, err := c.src.Read(p)
	c.n += int64(n)
	return n, err
}

// readErr is the first error reading the body's source (not io.EOF), or
// nil: then a failed response failed writing to the client.
func (c *completion) readErr() error { return c.src.err }

// streamBufs are the copy buffers of streamed bodies: large, so a streamed
// body moves in few syscalls (fasthttp's own copy uses 4 KiB chunks, and
// its 4 KiB connection buffers would split every read and write).
var streamBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// WriteTo copies the body to w (fasthttp prefers it to Read): a buffered
// body in one write, a stream in chunks of up to 64 KiB.
func (c *completion) WriteTo(w io.Writer) (int64, error) {
	if c.r == nil {
		return 0, nil
	}
	if wt, ok := c.r.(io.WriterTo); ok {
		// A body in memory: only the write can fail.
		n, err := wt.WriteTo(w)
		c.n += n
		return n, err
	}
	c.src.r = c.r
	n, err := copyChunked(w, &c.src)
	c.n += n
	return n, err
}

// copyChunked copies r to w through a pooled 64 KiB buffer, calling only
// r.Read and w.Write (io.CopyBuffer would hand the copy to a ReaderFrom
// such as fasthttp's bufio.Writer, back to 4 KiB chunks).
func copyChunked(w io.Writer, r io.Reader) (int64, error) {
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// CloseWithError implements fasthttp.ReadCloserWithError.
func (c *completion) CloseWithError(err error) error {
	if c.done {
		return nil
	}
	c.done = true
	x := c.x
	x.g.finish(x, c.n, err)
	return nil
}
