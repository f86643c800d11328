package proxy

import (
	"fmt"
	"github.com/veilgw/veil/audit"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// customers10 is a 10-customer list (~2.4 KB), the benchmarks' body.
var customers10 = func() string {
	var b strings.Builder
	b.WriteString(`{"customers":[`)
	for i := 0; i < 10; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"c-%04d","name":"Customer Number %d","email":"customer%d@example.com","phone":"+1-555-01%02d","ssn":"123-45-%04d","address":{"street":"%d Main Street","city":"Springfield","zip":"627%02d"},"date_of_birth":"1984-06-17","card_last4":"%04d","owner_id":"u-17","notes":"called about renewal, prefers email"}`,
			i, i, i, i, 1000+i, 100+i, i, 4000+i)
	}
	b.WriteString(`],"total":10}`)
	return b.String()
}()

// startFastUpstream serves body on loopback with fasthttp (a fast, fixed
// upstream, so the benchmark measures the gateway).
func startFastUpstream(b *testing.B, body string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(body)
	}}
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

func benchGateway(b *testing.B, policy string, floor bool) { benchGatewayWith(b, policy, floor, nil) }

func benchGatewayWith(b *testing.B, policy string, floor bool, mutate func(*Config)) {
	up := startFastUpstream(b, customers10)
	var target string
	if floor {
		// The floor of Veil's own stack: the smallest fasthttp forwarding
		// handler (HostClient.Do), no policy, no rewriting, no audit.
		hc := &fasthttp.HostClient{Addr: up}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
			_ = hc.Do(&ctx.Request, &ctx.Response)
		}}
		go func() { _ = s.Serve(ln) }()
		b.Cleanup(func() { _ = s.Shutdown() })
		target = ln.Addr().String()
	} else {
		tg := startGateway(b, gatewayOpts{policy: policy, routes: []RouteConfig{{Name: "crm", Match: RouteMatch{PathPrefix: "/crm/"}, StripPrefix: true, Upstreams: []string{"http://" + up}}},
			auditW: discard{}, mutate: mutate})
		target = tg.addr
	}
	c := &fasthttp.HostClient{Addr: target, MaxConns: 64}
	b.ReportAllocs()
	b.SetBytes(int64(len(customers10)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.SetRequestURI("http://" + target + "/crm/customers?limit=10")
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("status %d err %v: %s", resp.StatusCode(), err, resp.Body())
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

const benchMaskPolicy = `package veil
decision := {"allow": true, "response_transforms": [
	{"path": "$.customers[*].ssn", "action": "mask", "keep_last": 4},
	{"path": "$.customers[*].email", "action": "mask", "format": "email"},
	{"path": "$.customers[*].phone", "action": "mask", "keep_last": 2},
	{"path": "$.customers[*].notes", "action": "redact"}],
	"audit": {"record_ids": "$.customers[*].id"}}`

// BenchmarkGatewayFloor is bare fasthttp forwarding: the ratio baseline.
func BenchmarkGatewayFloor(b *testing.B) { benchGateway(b, "", true) }

// BenchmarkGatewayAllowAll: identify + policy + streaming passthrough + audit.
func BenchmarkGatewayAllowAll(b *testing.B) {
	benchGateway(b, "package veil\ndecision := {\"allow\": true}", false)
}

// BenchmarkGatewayMask4: policy + 4 rules rewritten on a 2.4 KB body + audit.
func BenchmarkGatewayMask4(b *testing.B) { benchGateway(b, benchMaskPolicy, false) }

// BenchmarkGatewayMask4AuditFile is BenchmarkGatewayMask4 with the audit
// trail (hash chain, signed checkpoints) going to a file sink with the
// default fsync policy instead of a discarding writer: the cost of a real
// trail on the request path (target: within 5% of Mask4).
func BenchmarkGatewayMask4AuditFile(b *testing.B) {
	dir := b.TempDir()
	benchGatewayWith(b, benchMaskPolicy, false, func(c *Config) {
		c.Audit.Sinks = []audit.SinkConfig{{Type: "file", Path: filepath.Join(dir, "audit.log")}}
	})
}
