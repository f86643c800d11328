package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/internal/syncbuf"
	"github.com/veilgw/veil/vault"
)

// upstreamRecorder is a real HTTP upstream on loopback that records what
// reached it and answers with a configurable handler.
type upstreamRecorder struct {
	srv   *http.Server
	addr  string
	hits  atomic.Int64
	mu    sync.Mutex
	reqs  []recordedRequest
	serve http.HandlerFunc
}

type recordedRequest struct {
	Method, URI, Host string
	Header            http.Header
	Body              []byte
}

func startUpstream(t *testing.T, h http.HandlerFunc) *upstreamRecorder {
	t.Helper()
	return startUpstreamWith(t, h, nil)
}

// startUpstreamWith is startUpstream with the server's settings changed by
// set before it serves.
func startUpstreamWith(t *testing.T, h http.HandlerFunc, set func(*http.Server)) *upstreamRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstreamRecorder{addr: ln.Addr().String(), serve: h}
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recordedRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if u.serve != nil {
			u.serve(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"uri":%q}`, r.Method, r.RequestURI)
	})}
	if set != nil {
		set(u.srv)
	}
	go func() { _ = u.srv.Serve(ln) }()
	t.Cleanup(func() { _ = u.srv.Close() })
	return u
}

func (u *upstreamRecorder) last(t *testing.T) recordedRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// syncBuffer collects audit lines written concurrently.
type syncBuffer struct{ syncbuf.Buffer }

// lines returns the audit events written so far (the checkpoint and
// segment records the logger interleaves are left out).
func (s *syncBuffer) lines() []string {
	out := strings.TrimSpace(s.String())
	if out == "" {
		return nil
	}
	var evs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"prev_hash":`) {
			evs = append(evs, l)
		}
	}
	return evs
}

// testGateway is a running gateway on a loopback port.
type testGateway struct {
	g      *Gateway
	base   string
	addr   string
	audit  *syncBuffer
	secret []byte
	dir    string
}

// gatewayOpts describes one test gateway.
type gatewayOpts struct {
	policy string // Rego source of package veil (decision)
	routes []RouteConfig
	mutate func(*Config)
	auditW io.Writer
	keys   vault.Keyring // default: fresh in-memory keys
	log    *zap.Logger   // default: the test's log, warnings and above
}

const testSecret = "test-secret-0123456789abcdef0123"

func startGateway(t testing.TB, o gatewayOpts) *testGateway {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rego"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rego", "policy.rego"), []byte(o.policy), 0o644); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{audit: &syncBuffer{}, secret: []byte(testSecret), dir: dir}
	cfg := &Config{
		Listen:      "127.0.0.1:0",
		AdminListen: "off",
		Routes:      o.routes,
		Policy:      policyConfig(filepath.Join(dir, "rego")),
		Identity:    identity.Config{JWT: identity.JWTConfig{HS256SecretFile: secretFile}},
		// The 50ms policy default is too tight for -race on a loaded
		// 2-core machine; the timeout test's policy runs for seconds.
		Limits: Limits{UpstreamTimeout: 2 * time.Second, PolicyTimeout: 2 * time.Second},
		Audit:  audit.Config{Sinks: []audit.SinkConfig{{Type: "stdout"}}},
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	var keys vault.Keyring = o.keys
	if keys == nil {
		mem, err := vault.NewMemory("pii", "audit")
		if err != nil {
			t.Fatal(err)
		}
		keys = mem
	}
	w := o.auditW
	if w == nil {
		w = tg.audit
	}
	log := o.log
	if log == nil {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	g, err := New(cfg, Options{Logger: log, Keys: keys, AuditStdout: w})
	if err != nil {
		t.Fatal(err)
	}
	tg.g = g
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.addr = ln.Addr().String()
	tg.base = "http://" + tg.addr
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	return tg
}

// token mints an HS256 token for the test gateway.
func (tg *testGateway) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	tok, err := identity.MintHS256(tg.secret, sub, roles, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request with net/http (no redirects, no compression).
func (tg *testGateway) do(t *testing.T, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, tg.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

var testClient = &http.Client{
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
	Timeout:   30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// raw sends a raw HTTP/1.1 request text and returns the status code and
// body of the response (the connection is closed after).
func (tg *testGateway) raw(t *testing.T, request string) (int, string) {
	t.Helper()
	c := tg.dial(t)
	defer c.Close()
	return rawOn(t, c, bufio.NewReader(c), request)
}

// dial opens a connection to the gateway with a 5 s deadline.
func (tg *testGateway) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tg.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// rawOn sends a raw HTTP/1.1 request text on c, whose responses br reads,
// and returns the status code and body of the response.
func rawOn(t *testing.T, c net.Conn, br *bufio.Reader, request string) (int, string) {
	t.Helper()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", request, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitAudit waits until n audit lines exist (events are written after the
// response completes, so they may trail the client by a moment).
func (tg *testGateway) waitAudit(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := tg.audit.lines()
		if len(lines) >= n || time.Now().After(deadline) {
			if len(lines) < n {
				t.Fatalf("audit: %d events, want %d", len(lines), n)
			}
			return lines
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// metricsText renders the gateway's registry in the Prometheus text format
// (what /metrics serves).
func (tg *testGateway) metricsText(t *testing.T) string {
	t.Helper()
	mfs, err := tg.g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// wireUpstream is an upstream on loopback that answers each request with
// the raw bytes respond returns for its header block (request line and
// header lines), then closes the connection ("" closes it unanswered): a
// well-formed answer should say Connection: close, or the gateway's
// client would try the closed connection again.
type wireUpstream struct {
	addr string
	hits atomic.Int64
	// hold delays the close after an answer (nanoseconds): an upstream
	// that stalls.
	hold atomic.Int64
	mu   sync.Mutex
	reqs []string // header blocks received
}

func startWireUpstream(t *testing.T, respond func(head string) string) *wireUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &wireUpstream{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				u.hits.Add(1)
				u.mu.Lock()
				u.reqs = append(u.reqs, head.String())
				u.mu.Unlock()
				if out := respond(head.String()); out != "" {
					_, _ = io.WriteString(c, out)
					time.Sleep(time.Duration(u.hold.Load()))
				}
			}(c)
		}
	}()
	return u
}

// routes is a catch-all route to the raw upstream.
func (u *wireUpstream) routes() []RouteConfig {
	return []RouteConfig{{Name: "api", Match: RouteMatch{PathPrefix: "/"}, Upstreams: []string{"http://" + u.addr}}}
}

// requestPath returns the target of a raw request's header block.
func requestPath(head string) string {
	line, _, _ := strings.Cut(head, "\r\n")
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1]
	}
	return ""
}

// rawExchange sends a raw request (which should ask for Connection:
// close) and returns the parsed response, its body, and every byte the
// gateway sent until it closed the connection.
func (tg *testGateway) rawExchange(t *testing.T, request string) (*http.Response, []byte, []byte) {
	t.Helper()
	c := tg.dial(t)
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	wire, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v (got %q)", request, err, wire)
	}
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(wire)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("parsing the answer to %q: %v (got %q)", request, err, wire)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body, wire
}
