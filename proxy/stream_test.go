package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/testpki"
)

// zeroReader yields n zero bytes without holding them.
type zeroReader struct{ left int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > z.left {
		n = z.left
	}
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

// heapWatch samples the heap while a transfer runs and reports the peak.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// TestStreamingKeepsMemoryFlat sends 1 GiB up and 1 GiB down through a
// route without transforms: both directions stream, so the heap stays
// flat (bounded by buffers, not by the body size).
func TestStreamingKeepsMemoryFlat(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("1 GiB transfers: skipped under -race and -short")
	}
	const size = 1 << 30
	up := startUpstream(t, nil)
	var received atomic.Int64
	up.serve = nil
	// Replace the recorder's handler with a streaming one (the recorder
	// itself would buffer the body).
	up.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Store(n)
		if r.URL.Path == "/api/download" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			_, _ = io.Copy(w, &zeroReader{left: size})
		}
	})
	tg := startGateway(t, gatewayOpts{policy: `package veil
decision := {"allow": true}`, routes: catchAll(up)})

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := heapWatch()

	req, _ := http.NewRequest("PUT", tg.base+"/api/upload", &zeroReader{left: size})
	req.ContentLength = size
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || received.Load() != size {
		t.Fatalf("upload: status %d, upstream received %d bytes", resp.StatusCode, received.Load())
	}
	resp, err = testClient.Get(tg.base + "/api/download")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	peak := stop()
	growth := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use: base %d MiB, peak %d MiB over 2 GiB streamed", base.HeapInuse>>20, peak>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MiB while streaming: bodies are being buffered", growth>>20)
	}
	lines := tg.waitAudit(t, 2)
	if !containsAll(lines[0], `"bytes_in":1073741824`) || !containsAll(lines[1], `"bytes_out":1073741824`) {
		t.Errorf("audit byte counts: %s / %s", lines[0], lines[1])
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestGracefulShutdownFinishesInFlight starts a slow request, shuts the
// gateway down meanwhile, and checks the request completes and is audited.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, `{"done":true}`)
	})
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := testClient.Get(tg.base + "/api/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	for up.hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- tg.g.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned before the in-flight request finished: %v", err)
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != `{"done":true}` {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if lines := tg.audit.lines(); len(lines) != 1 {
		t.Fatalf("%d audit events after shutdown", len(lines))
	}
}

// TestShutdownPastTheGraceStillAudits: a request still running when the
// grace ends is answered, so it must be audited: the trail stays open until
// it finishes (bounded by upstream_timeout). It once closed at the grace's
// end and the event was dropped.
func TestShutdownPastTheGraceStillAudits(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(600 * time.Millisecond)
		fmt.Fprint(w, `{"ok":true}`)
	})
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up)})
	res := make(chan int, 1)
	go func() {
		resp, err := testClient.Get(tg.base + "/api/slow")
		if err != nil {
			res <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	waitUntil(t, func() bool { return up.hits.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tg.g.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown past the grace: %v", err)
	}
	if code := <-res; code != 200 {
		t.Fatalf("in-flight request: %d", code)
	}
	if lines := tg.audit.lines(); len(lines) != 1 {
		t.Fatalf("%d audit events for one answered request", len(lines))
	}
}

// TestTLSListenerAndClientCertificates serves HTTPS with optional mTLS: a
// client certificate signed by the CA identifies the subject.
func TestTLSListenerAndClientCertificates(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: `package veil
decision := {"allow": true, "reason": input.subject.id} if input.subject.authenticated
decision := {"allow": false, "status": 401, "reason": "authentication required"} if not input.subject.authenticated
`, routes: catchAll(up), mutate: func(c *Config) {
		c.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile}
	}})
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, ServerName: "127.0.0.1"}}}
	}
	base := "https://" + tg.addr
	resp, err := client().Get(base + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no client certificate: %d", resp.StatusCode)
	}
	resp, err = client(pki.client).Get(base + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with client certificate: %d", resp.StatusCode)
	}
	if got := up.last(t).Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
	lines := tg.waitAudit(t, 2)
	if !contains(lines[1], `"id":"svc-reporting"`) || !contains(lines[1], `"method":"mtls"`) {
		t.Errorf("mTLS subject not in audit: %s", lines[1])
	}
}

// TestPassThroughUpstreamFailureIsAudited: when a streamed (pass-through)
// answer breaks, the audit event says which side broke it: an upstream
// that closed early or stalled is an upstream error, a client that went
// away is client_write_failed. One event each.
func TestPassThroughUpstreamFailureIsAudited(t *testing.T) {
	t.Parallel()
	const partial = `{"partial":`
	wire := startWireUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n" + partial
	})
	stalled := startWireUpstream(t, func(string) string {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n" + partial
	})
	stalled.hold.Store(int64(3 * time.Second))
	endless := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &zeroReader{left: 1 << 30}) // until the gateway stops reading
	})
	routes := []RouteConfig{
		{Name: "closes", Match: RouteMatch{PathPrefix: "/closes/"}, Upstreams: []string{"http://" + wire.addr}},
		{Name: "stalls", Match: RouteMatch{PathPrefix: "/stalls/"}, Upstreams: []string{"http://" + stalled.addr}},
		{Name: "endless", Match: RouteMatch{PathPrefix: "/endless/"}, Upstreams: []string{"http://" + endless.addr}},
	}
	tg := startGateway(t, gatewayOpts{policy: "package veil\ndecision := {\"allow\": true}", routes: routes,
		mutate: func(c *Config) { c.Limits.UpstreamTimeout = 300 * time.Millisecond }})
	for _, p := range []string{"/closes/x", "/stalls/x"} {
		c, err := net.DialTimeout("tcp", tg.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		// The gateway closes the connection: the 500-byte answer stays
		// truncated (its header may not even have been flushed).
		got, _ := io.ReadAll(c)
		c.Close()
		if len(got) >= 500 {
			t.Errorf("%s: client got %q", p, got)
		}
	}
	// A client that goes away mid-body.
	c, err := net.DialTimeout("tcp", tg.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /endless/x HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	c.Close()

	lines := tg.waitAudit(t, 3)
	time.Sleep(100 * time.Millisecond)
	if lines = tg.audit.lines(); len(lines) != 3 {
		t.Fatalf("%d audit events for 3 requests", len(lines))
	}
	want := map[string]string{"closes": "upstream_unavailable", "stalls": "upstream_timeout", "endless": "client_write_failed"}
	for _, l := range lines {
		var ev struct {
			Route     string `json:"route"`
			Status    int    `json:"status"`
			ErrorCode string `json:"error_code"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ErrorCode != want[ev.Route] || ev.Status != 200 {
			t.Errorf("route %s: status %d error_code %q, want %q", ev.Route, ev.Status, ev.ErrorCode, want[ev.Route])
		}
	}
}

// TestRefusedClientCertificateIsAuditedAsACredential: a client certificate
// the TLS handshake refuses (another CA, expired) is audited once as a
// refused credential (invalid_credentials), not as a malformed request;
// nothing reaches the upstream.
func TestRefusedClientCertificateIsAuditedAsACredential(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	other := testpki.NewCA(t, "another CA")
	foreign := other.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "svc-reporting"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil).TLS()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), mutate: func(c *Config) {
		c.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile}
	}})
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: "127.0.0.1",
		// Sent although the server asks for its own CA's (Go's client would
		// otherwise send none, and the request would be anonymous).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }}}}
	if resp, err := client.Get("https://" + tg.addr + "/api/x"); err == nil {
		resp.Body.Close()
		t.Fatalf("a foreign client certificate was accepted: %d", resp.StatusCode)
	}
	lines := tg.waitAudit(t, 1)
	if len(lines) != 1 || !contains(lines[0], `"error_code":"invalid_credentials"`) || !contains(lines[0], `"method":""`) {
		t.Errorf("audit: %q", lines)
	}
	if up.hits.Load() != 0 {
		t.Error("the upstream was reached")
	}
}

// TestChunkedStreamBytesInAudited: a chunked request body streamed through
// untouched is audited with the bytes read (its ContentLength is -1, which
// was logged as is).
func TestChunkedStreamBytesInAudited(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	// A policy that does not read the body: it streams through.
	tg := startGateway(t, gatewayOpts{policy: "package veil\ndecision := {\"allow\": true}", routes: catchAll(up)})
	resp, body, _ := tg.rawExchange(t, "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := string(up.last(t).Body); got != "abcdefg" {
		t.Fatalf("upstream body %q", got)
	}
	if lines := tg.waitAudit(t, 1); !contains(lines[0], `"bytes_in":7,`) {
		t.Errorf("audit: %s", lines[0])
	}
}

// TestTrustedProxyOverTLSForwardedHeaders: behind a trusted proxy that
// sends no X-Forwarded-Proto or -Host, this hop's values are set: https on
// the TLS listener (http was set whatever the listener), and the Host.
func TestTrustedProxyOverTLSForwardedHeaders(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{policy: testPolicy, routes: catchAll(up), mutate: func(c *Config) {
		c.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey}
		c.TrustedProxies = []string{"127.0.0.1/32"}
	}})
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}}
	for _, sent := range []string{"", "http"} {
		req, _ := http.NewRequest("GET", "https://"+tg.addr+"/api/x", nil)
		req.Host = "crm.example"
		if sent != "" {
			req.Header.Set("X-Forwarded-Proto", sent)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := up.last(t).Header
		want := "https"
		if sent != "" {
			want = sent // the trusted proxy's own
		}
		if got.Get("X-Forwarded-Proto") != want || got.Get("X-Forwarded-Host") != "crm.example" {
			t.Errorf("sent %q: upstream X-Forwarded-Proto %q, -Host %q", sent, got.Get("X-Forwarded-Proto"), got.Get("X-Forwarded-Host"))
		}
	}
}
