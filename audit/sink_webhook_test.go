package audit

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/testpki"
)

// webhookLines returns n JSON lines of exactly size bytes each (newline
// included), numbered from first, so any loss, repeat or reordering shows.
func webhookLines(first, n, size int) [][]byte {
	lines := make([][]byte, n)
	for i := range lines {
		head := fmt.Sprintf(`{"seq":%d,"pad":"`, first+i)
		pad := size - len(head) - len("\"}\n")
		lines[i] = []byte(head + strings.Repeat("x", pad) + "\"}\n")
	}
	return lines
}

// webhookRecorder is a loopback collector: it keeps every body it accepts,
// in arrival order, and answers per its respond hook (nil: 200 for all).
type webhookRecorder struct {
	mu       sync.Mutex
	posts    int // requests seen, including refused ones
	bodies   [][]byte
	headers  []http.Header
	respond  func(n int, w http.ResponseWriter, r *http.Request) (store bool)
	received bytes.Buffer
}

func (rec *webhookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.posts++
	n := rec.posts
	respond := rec.respond
	rec.mu.Unlock()
	if respond != nil && !respond(n, w, r) {
		return
	}
	rec.mu.Lock()
	rec.bodies = append(rec.bodies, body)
	rec.headers = append(rec.headers, r.Header.Clone())
	rec.received.Write(body)
	rec.mu.Unlock()
}

func (rec *webhookRecorder) snapshot() (posts int, bodies [][]byte, received []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.posts, append([][]byte(nil), rec.bodies...), bytes.Clone(rec.received.Bytes())
}

func newTestWebhook(t *testing.T, c WebhookConfig) Sink {
	t.Helper()
	s, err := newWebhookSink(&c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestWebhookDeliversLinesInOrderWithHeaders(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "hec")
	if err := os.WriteFile(secret, []byte("Splunk s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		headers     map[string]string
		contentType string
	}{
		"default content type":  {map[string]string{"X-Source": "veil"}, "application/x-ndjson"},
		"content type override": {map[string]string{"X-Source": "veil", "content-type": "text/plain"}, "text/plain"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := &webhookRecorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s := newTestWebhook(t, WebhookConfig{URL: srv.URL + "/services/collector/raw", Headers: tc.headers,
				HeaderFiles: map[string]string{"Authorization": secret}})

			var want []byte
			for b := 0; b < 3; b++ {
				lines := webhookLines(b*10, 10, 120)
				for _, l := range lines {
					want = append(want, l...)
				}
				if err := s.Write(lines); err != nil {
					t.Fatal(err)
				}
			}
			posts, _, got := rec.snapshot()
			if posts != 3 {
				t.Errorf("%d POSTs, want 3 (one per batch)", posts)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("received %d bytes, not the %d written, in order", len(got), len(want))
			}
			for i, h := range rec.headers {
				if g := h.Get("Content-Type"); g != tc.contentType {
					t.Errorf("POST %d: Content-Type %q, want %q", i, g, tc.contentType)
				}
				if g := h.Get("X-Source"); g != "veil" {
					t.Errorf("POST %d: X-Source %q", i, g)
				}
				if g := h.Get("Authorization"); g != "Splunk s3cr3t" {
					t.Errorf("POST %d: Authorization %q, want the file's value without newline", i, g)
				}
			}
		})
	}
}

func TestWebhookSplitsByMaxBatchBytes(t *testing.T) {
	t.Parallel()
	rec := &webhookRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	const maxBytes = 4096
	s := newTestWebhook(t, WebhookConfig{URL: srv.URL, MaxBatchBytes: maxBytes})

	// 50 lines of 300 B (13 per POST), a line over the limit that must go
	// alone, then 5 more.
	lines := webhookLines(0, 50, 300)
	lines = append(lines, webhookLines(50, 1, 5000)...)
	lines = append(lines, webhookLines(51, 5, 300)...)
	if err := s.Write(lines); err != nil {
		t.Fatal(err)
	}
	_, bodies, got := rec.snapshot()
	if want := bytes.Join(lines, nil); !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes, not the %d written, in order", len(got), len(want))
	}
	// Greedy packing: 13+13+13+11 lines, the big line, 5 lines.
	wantSizes := []int{13 * 300, 13 * 300, 13 * 300, 11 * 300, 5000, 5 * 300}
	if len(bodies) != len(wantSizes) {
		t.Fatalf("%d POSTs, want %d", len(bodies), len(wantSizes))
	}
	for i, b := range bodies {
		if len(b) != wantSizes[i] {
			t.Errorf("POST %d: %d bytes, want %d", i, len(b), wantSizes[i])
		}
		if len(b) > maxBytes && bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("POST %d: %d bytes over the limit with more than one line", i, len(b))
		}
	}
}

// TestWebhookRetriesDeliverEachLineOnce drives the sink as the delivery
// goroutine does (the same batch again until Write returns nil) against a
// collector that fails often, and checks the collector ends up with every
// line once, in order: the retries inside Write and the resume of a split
// batch must neither lose nor repeat a POST the collector accepted.
func TestWebhookRetriesDeliverEachLineOnce(t *testing.T) {
	t.Parallel()
	// POSTs are numbered from 1; 30 lines of 200 B with 2000 B per POST
	// make three POSTs (c1-c3) per batch (b0...).
	rec := &webhookRecorder{respond: func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch {
		case n == 3: // b0 c3, retried inside Write
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "try later")
			return false
		case n == 7: // b1 c3 fails three times in a row, so Write fails after c1 and c2 were stored ...
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return false
		case n == 8:
			w.WriteHeader(http.StatusBadGateway)
			return false
		case n == 9: // ... the last time by hanging past the client's timeout
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return false
		case n == 11: // b2 c1
			w.WriteHeader(http.StatusRequestTimeout)
			return false
		case n > 11 && n%4 == 0:
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := newTestWebhook(t, WebhookConfig{URL: srv.URL, MaxBatchBytes: 2000, Timeout: 300 * time.Millisecond})

	var want []byte
	failedWrites := 0
	for b := 0; b < 6; b++ {
		lines := webhookLines(b*30, 30, 200)
		want = append(want, bytes.Join(lines, nil)...)
		for tries := 0; ; tries++ {
			if tries == 5 {
				t.Fatalf("batch %d: still failing after %d Writes", b, tries)
			}
			err := s.Write(lines)
			if err == nil {
				break
			}
			failedWrites++
			if strings.Contains(err.Error(), `{"seq"`) {
				t.Fatalf("error quotes audit data: %v", err)
			}
		}
	}
	if failedWrites != 1 {
		t.Fatalf("%d Writes failed, want 1 (b1, after two of its POSTs were stored)", failedWrites)
	}
	_, _, got := rec.snapshot()
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		t.Fatalf("collector holds %d lines, want exactly the %d written, once each, in order", len(gl)-1, len(wl)-1)
	}
}

// TestWebhookResumeOnlyForTheSameBatch checks that the progress kept after
// a failed split batch is not applied to a different batch of the same
// length: all of the new batch must be sent.
func TestWebhookResumeOnlyForTheSameBatch(t *testing.T) {
	t.Parallel()
	rec := &webhookRecorder{respond: func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 2 {
			w.WriteHeader(http.StatusBadRequest)
			return false
		}
		return true
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := newTestWebhook(t, WebhookConfig{URL: srv.URL, MaxBatchBytes: 2000})

	a, b := webhookLines(0, 30, 200), webhookLines(30, 30, 200)
	if err := s.Write(a); err == nil {
		t.Fatal("Write succeeded through a 400")
	}
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	_, _, got := rec.snapshot()
	if want := bytes.Join(append(a[:10:10], b...), nil); !bytes.Equal(got, want) {
		t.Fatalf("collector holds %d bytes, want the first POST of a then all of b (%d bytes)", len(got), len(want))
	}
}

// TestWebhookLostResponseRepeatsBody documents the at-least-once case: the
// collector stored a body but the response never came back, so the retry
// sends it again.
func TestWebhookLostResponseRepeatsBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var stored []byte
	posts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		mu.Lock()
		posts++
		first := posts == 1
		stored = append(stored, body...)
		mu.Unlock()
		if first { // stored, but the answer comes after the client gave up
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
	}))
	defer srv.Close()
	s := newTestWebhook(t, WebhookConfig{URL: srv.URL, Timeout: 200 * time.Millisecond})

	lines := webhookLines(0, 3, 100)
	if err := s.Write(lines); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	one := bytes.Join(lines, nil)
	if posts != 2 || !bytes.Equal(stored, append(bytes.Clone(one), one...)) {
		t.Fatalf("%d POSTs, %d bytes stored; want the body stored twice", posts, len(stored))
	}
}

func TestWebhookClientErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	reason := strings.Repeat("a", 200) + "BEYOND"
	rec := &webhookRecorder{respond: func(n int, w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, reason)
		return false
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := newTestWebhook(t, WebhookConfig{URL: srv.URL})

	lines := webhookLines(0, 3, 100)
	err := s.Write(lines)
	if err == nil {
		t.Fatal("Write succeeded through a 400")
	}
	msg := err.Error()
	if !strings.Contains(msg, "status 400") || !strings.Contains(msg, reason[:200]) || strings.Contains(msg, "BEYOND") {
		t.Errorf("error %q: want the status and exactly the first 200 bytes of the response", msg)
	}
	if strings.Contains(msg, `{"seq"`) {
		t.Errorf("error quotes audit data: %q", msg)
	}
	if posts, _, _ := rec.snapshot(); posts != 1 {
		t.Errorf("%d POSTs, want 1 (no retry of a 400)", posts)
	}
}

// TestWebhookErrorsHideURLCredentials: a sink's errors reach the
// operational log ("audit sink failing"), so they name the URL without its
// userinfo and its query, either of which may hold a credential (some
// collectors take ?token= or ?api_key=), whatever failed: the connection
// or the server.
func TestWebhookErrorsHideURLCredentials(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(srv.Close) // after the parallel subtests
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more
	for name, tc := range map[string]struct {
		host string
		want string
	}{
		"refused connection": {strings.TrimPrefix(closed.URL, "http://"), "connect: connection refused"},
		"error status":       {strings.TrimPrefix(srv.URL, "http://"), "status 403"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTestWebhook(t, WebhookConfig{URL: "http://user:SECRET1@" + tc.host + "/ingest?token=SECRET2&x=1#SECRET3", Timeout: 5 * time.Second})
			err := s.Write([][]byte{[]byte("{}\n")})
			if err == nil {
				t.Fatal("Write succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "http://"+tc.host+"/ingest") {
				t.Errorf("error %q: want the failure (%s) and the URL without credentials", msg, tc.want)
			}
			for _, secret := range []string{"user", "SECRET", "token", "?"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q", msg, secret)
				}
			}
		})
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		c    WebhookConfig
		want string // substring of the error; "" for success
	}{
		"http to a remote host":     {WebhookConfig{URL: "http://collector.example.com/hec"}, "plain http is only allowed to a loopback host"},
		"http to a private address": {WebhookConfig{URL: "http://10.0.0.7:8088/"}, "plain http is only allowed to a loopback host"},
		"http to a loopback name":   {WebhookConfig{URL: "http://localhost:8088/"}, ""},
		"http to 127.0.0.0/8":       {WebhookConfig{URL: "http://127.1.2.3:8088/"}, ""},
		"http to ::1":               {WebhookConfig{URL: "http://[::1]:8088/"}, ""},
		"https anywhere":            {WebhookConfig{URL: "https://collector.example.com/hec"}, ""},
		"other scheme":              {WebhookConfig{URL: "ftp://127.0.0.1/"}, "scheme must be https"},
		"no host":                   {WebhookConfig{URL: "https:///hec"}, "no host"},
		"tls on an http url":        {WebhookConfig{URL: "http://127.0.0.1/", TLS: TLSConfig{Enabled: true}}, "tls is configured but the url is http"},
		"unreadable header file": {WebhookConfig{URL: "https://collector.example.com/",
			HeaderFiles: map[string]string{"Authorization": filepath.Join(dir, "missing")}}, `header_files "Authorization"`},
		"bad header name":      {WebhookConfig{URL: "https://collector.example.com/", Headers: map[string]string{"X Bad": "1"}}, "invalid header name"},
		"cert without key":     {WebhookConfig{URL: "https://collector.example.com/", TLS: TLSConfig{CertFile: "c.pem"}}, "cert_file and key_file go together"},
		"missing CA file":      {WebhookConfig{URL: "https://collector.example.com/", TLS: TLSConfig{CAFile: filepath.Join(dir, "ca.pem")}}, "tls.ca_file"},
		"credentials left out": {WebhookConfig{URL: "http://user:pw123@collector.example.com/hec?token=pw123#pw123"}, `"http://collector.example.com/hec"`},
		"unparsable url":       {WebhookConfig{URL: "https://user:pw123@[::1/hec?token=pw123"}, "missing ']' in host"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := newWebhookSink(&tc.c)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw123") || strings.Contains(err.Error(), "user") {
				t.Fatalf("error %q shows the URL's credentials", err)
			}
		})
	}
}

// TestWebhookTLS delivers over https to a loopback server that requires a
// client certificate, verifying the server with ca_file and server_name.
func TestWebhookTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clientCA, clientCert, clientKey := webhookClientCert(t, dir)

	rec := &webhookRecorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below are expected
	srv.StartTLS()
	defer srv.Close()
	serverCA := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := webhookLines(0, 5, 100)

	// httptest's certificate is for example.com and 127.0.0.1.
	s := newTestWebhook(t, WebhookConfig{URL: srv.URL, TLS: TLSConfig{CAFile: serverCA, ServerName: "example.com",
		CertFile: clientCert, KeyFile: clientKey}})
	if err := s.Write(lines); err != nil {
		t.Fatal(err)
	}
	if _, _, got := rec.snapshot(); !bytes.Equal(got, bytes.Join(lines, nil)) {
		t.Fatalf("received %d bytes over TLS, not the lines written", len(got))
	}

	for name, c := range map[string]TLSConfig{
		"system roots":      {CertFile: clientCert, KeyFile: clientKey},
		"wrong server name": {CAFile: serverCA, ServerName: "collector.internal", CertFile: clientCert, KeyFile: clientKey},
		"no client cert":    {CAFile: serverCA, ServerName: "example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestWebhook(t, WebhookConfig{URL: srv.URL, TLS: c})
			if err := s.Write(lines); err == nil {
				t.Fatal("Write succeeded")
			}
		})
	}
	if posts, _, _ := rec.snapshot(); posts != 1 {
		t.Errorf("server handled %d POSTs, want only the good client's", posts)
	}
}

// webhookClientCert writes a client certificate and key signed by a fresh
// CA into dir and returns that CA's pool and the two file names.
func webhookClientCert(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	ca := testpki.NewCA(t, "test client CA")
	cli := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "veil"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil)
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	cli.WriteFiles(t, certFile, keyFile)
	return ca.Pool(), certFile, keyFile
}
