package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// upstream is one upstream address with its pooled keep-alive client.
type upstream struct {
	addr     string
	client   *fasthttp.HostClient
	inflight atomic.Int64
	// downUntil is a unix-nano deadline before which the upstream is
	// skipped after a connection failure (passive health check).
	downUntil atomic.Int64
}

// pool balances requests over a route's upstreams.
type pool struct {
	ups        []*upstream
	roundRobin bool
	next       atomic.Uint64
}

// unhealthyFor is how long an upstream that refused a connection is skipped.
const unhealthyFor = 2 * time.Second

func newPool(rc RouteConfig, lim Limits) (*pool, error) {
	p := &pool{roundRobin: rc.Balance == "round_robin"}
	for _, u := range rc.Upstreams {
		addr, isTLS, err := parseUpstream(u)
		if err != nil {
			return nil, err
		}
		p.ups = append(p.ups, &upstream{addr: addr, client: &fasthttp.HostClient{
			Addr:     addr,
			IsTLS:    isTLS,
			MaxConns: lim.MaxConnsPerUpstream,
			// Timeouts are idle timeouts (idleConn): a streamed body may
			// take as long as it needs while it makes progress.
			Dial: func(a string) (net.Conn, error) {
				c, err := fasthttp.DialTimeout(a, lim.UpstreamTimeout)
				if err != nil {
					return nil, err
				}
				return &idleConn{Conn: c, readIdle: lim.UpstreamTimeout, writeIdle: lim.UpstreamTimeout}, nil
			},
			MaxIdleConnDuration: 60 * time.Second,
			// One more attempt, only where retryClosedEarly allows it.
			MaxIdemponentCallAttempts: 2,
			RetryIfErr:                retryClosedEarly,
			// forward streams a response it passes through
			// (Response.StreamBody) and has fasthttp buffer one it
			// rewrites, bounded by the body limit.
			MaxResponseBodySize:           lim.MaxBodyBytes,
			DisablePathNormalizing:        true,
			DisableHeaderNamesNormalizing: true,
			NoDefaultUserAgentHeader:      true,
			MaxConnWaitTimeout:            lim.UpstreamTimeout,
			// fasthttp's errors would otherwise quote the upstream's
			// answer, body included (forward logs them through
			// peerErrText: some quote a header value even so).
			SecureErrorLogMessage: true,
		}})
	}
	return p, nil
}

// pick returns the upstream to try, skipping ones marked down unless all
// are; exclude (may be nil) was already tried for this request.
func (p *pool) pick(exclude *upstream) *upstream {
	n := len(p.ups)
	if n == 1 {
		return p.ups[0]
	}
	now := time.Now().UnixNano()
	start := int(p.next.Add(1) % uint64(n))
	var best *upstream
	for i := 0; i < n; i++ {
		u := p.ups[(start+i)%n]
		if u == exclude || u.downUntil.Load() > now {
			continue
		}
		if p.roundRobin {
			return u
		}
		if best == nil || u.inflight.Load() < best.inflight.Load() {
			best = u
		}
	}
	if best != nil {
		return best
	}
	// Everything is down (or excluded): try the next one anyway rather than
	// refusing outright; the failure is reported if it persists.
	for i := 0; i < n; i++ {
		if u := p.ups[(start+i)%n]; u != exclude {
			return u
		}
	}
	return p.ups[start]
}

// retryClosedEarly is the upstream clients' retry rule: an idempotent
// request (RFC 9110 9.2.2) whose connection ended before any answer came
// (EOF, reset) is sent once more, on a fresh connection. That is the race
// of an upstream closing an idle keep-alive connection (Node after 5 s)
// just as the gateway reuses it; the upstream did not answer, and an
// idempotent request may be repeated anyway. Nothing else is retried: a
// timeout or a malformed answer may follow a request the upstream acted
// on, and a non-idempotent one must not be sent twice. (fasthttp does not
// retry a streamed request body.)
func retryClosedEarly(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	switch string(req.Header.Method()) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
	default:
		return false, false
	}
	return false, errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// classifyUpstreamErr maps a client error to the error table and reports
// whether the request surely never reached the upstream (safe to retry on
// another address).
func classifyUpstreamErr(err error) (code errCode, notSent bool) {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return errUpstreamTooLarge, false
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return errUpstreamTimeout, errors.Is(err, fasthttp.ErrDialTimeout)
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnPoolStrategyNotImpl):
		return errOverload, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return errUpstreamUnavailable, true
	case errors.As(err, &ne) && ne.Timeout():
		return errUpstreamTimeout, false
	default:
		return errUpstreamUnavailable, false
	}
}
