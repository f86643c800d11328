package audit

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Webhook delivery tuning. Write retries a transient failure of one POST a
// few times itself (so a blip costs milliseconds, not the delivery
// goroutine's longer backoff), then gives the batch back as failed.
const (
	webhookDefaultTimeout  = 10 * time.Second
	webhookDefaultMaxBytes = 1 << 20
	webhookAttempts        = 3                      // tries per POST within one Write
	webhookBackoff         = 100 * time.Millisecond // first retry delay, doubled per retry
	webhookMaxRetryAfter   = 5 * time.Second        // cap on a server's Retry-After
	webhookErrBodyBytes    = 200                    // response body quoted in an error
	webhookDrainBytes      = 64 << 10               // response body read to reuse the connection
)

// webhookSink POSTs batches of JSON lines (NDJSON) to a URL.
//
// Delivery is at least once. A batch larger than MaxBatchBytes goes out as
// several POSTs; when a later one fails, the sink remembers how many lines
// were acknowledged so that the retry of the same batch resumes after them
// instead of sending them again. What it cannot avoid: a server that stored
// a body but whose response was lost (timeout, reset, a 5xx from a proxy in
// front of it) gets that body again on the retry, and the verifier reports
// the repeat as "reordered".
type webhookSink struct {
	client   *http.Client
	url      string // as configured, for requests
	redacted string // for errors: logURL of url
	host     string // overrides the Host header when configured
	header   http.Header
	maxBytes int

	// Progress of the last batch that failed after some of its POSTs were
	// acknowledged: its first lines are at the destination.
	sent deliveredPrefix
}

func newWebhookSink(c *WebhookConfig) (Sink, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Parse's error quotes the whole URL, query and password
		// included: keep only what is wrong with it.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("audit: webhook url: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("audit: webhook url %q: no host", logURL(u))
	}
	tlsOn := c.TLS.Enabled || c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.KeyFile != "" || c.TLS.ServerName != ""
	switch u.Scheme {
	case "https":
	case "http":
		// Audit events leave the machine only encrypted; plain http is for
		// a collector on the same host.
		if !isLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("audit: webhook url %q: plain http is only allowed to a loopback host; use https", logURL(u))
		}
		if tlsOn {
			return nil, fmt.Errorf("audit: webhook url %q: tls is configured but the url is http", logURL(u))
		}
	default:
		return nil, fmt.Errorf("audit: webhook url %q: scheme must be https (or http to loopback)", logURL(u))
	}

	s := &webhookSink{
		url:      c.URL,
		redacted: logURL(u),
		header:   http.Header{"Content-Type": {"application/x-ndjson"}},
		maxBytes: c.MaxBatchBytes,
	}
	if s.maxBytes <= 0 {
		s.maxBytes = webhookDefaultMaxBytes
	}
	for name, value := range c.Headers {
		if err := s.setHeader(name, value); err != nil {
			return nil, fmt.Errorf("audit: webhook headers: %w", err)
		}
	}
	for name, path := range c.HeaderFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("audit: webhook header_files %q: %w", name, err)
		}
		value := strings.TrimRight(string(b), "\r\n")
		if value == "" {
			return nil, fmt.Errorf("audit: webhook header_files %q: %s is empty", name, path)
		}
		// The value is a secret: the error names the file, not the value.
		if err := s.setHeader(name, value); err != nil {
			return nil, fmt.Errorf("audit: webhook header_files %q from %s: invalid header", name, path)
		}
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		tc, err := webhookTLS(&c.TLS)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = webhookDefaultTimeout
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect is a misconfiguration to report, not to follow: 301-303
		// would turn the POST into a GET and drop the audit lines, and a
		// Location could point to plain http elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// setHeader adds one configured header, refusing what net/http would
// reject on every request (so that fails at start, not per batch).
func (s *webhookSink) setHeader(name, value string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) }) {
		return fmt.Errorf("invalid header name %q", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %q: value contains a control character", name)
	}
	if strings.EqualFold(name, "Host") {
		// net/http ignores a Host entry in Header; it goes in Request.Host.
		s.host = value
		return nil
	}
	s.header.Set(name, value)
	return nil
}

// logURL is u as errors name it: scheme, host and path, without the
// userinfo and the query, either of which may hold a credential (a
// password, a ?token= or ?api_key= some collectors take), and without the
// fragment. Sink errors reach the operational log.
func logURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return v.String()
}

// scrubURL replaces the URL a *url.Error quotes (net/http's errors remove
// only a password from it) with the sink's logURL.
func (s *webhookSink) scrubURL(err error) error {
	if uerr, ok := err.(*url.Error); ok {
		c := *uerr
		c.URL = s.redacted
		return &c
	}
	return err
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback
// address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// webhookTLS builds the client TLS of an https webhook.
func webhookTLS(c *TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("audit: webhook tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("audit: webhook tls.ca_file %s: no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("audit: webhook tls: cert_file and key_file go together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("audit: webhook tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Write POSTs lines in order, in bodies of at most maxBytes (a longer line
// goes alone). It returns nil once every POST got a 2xx.
func (s *webhookSink) Write(lines [][]byte) error {
	start := s.sent.resume(lines)
	// done counts the lines the destination acknowledged.
	done := start
	for done < len(lines) {
		end, size := done, 0
		for end < len(lines) && (end == done || size+len(lines[end]) <= s.maxBytes) {
			size += len(lines[end])
			end++
		}
		// A fresh body per POST: after a timeout the transport may still be
		// reading the previous one in its own goroutine.
		body := make([]byte, 0, size)
		for _, l := range lines[done:end] {
			body = append(body, l...)
		}
		if err := s.post(body); err != nil {
			s.sent.keep(lines, done)
			if done > start {
				return fmt.Errorf("%w (lines 1-%d of %d delivered)", err, done, len(lines))
			}
			return err
		}
		done = end
	}
	return nil
}

// deliveredPrefix remembers, after a batch failed partway, how many of its
// leading lines reached the destination (the webhook's acknowledged POSTs,
// the file sink's lines in a file rotated before the failure), so that the
// retry of the same batch resumes after them.
type deliveredPrefix struct {
	lines int
	sum   [sha256.Size]byte // of those lines' bytes
}

// keep records that the first n lines of the failed batch lines reached
// the destination.
func (d *deliveredPrefix) keep(lines [][]byte, n int) {
	d.lines = n
	if n > 0 {
		d.sum = prefixSum(lines[:n])
	}
}

// resume returns how many leading lines of lines the destination already
// has: those kept from the last failed Write, when lines starts with the
// very same bytes; it forgets them. Matching on content rather than on
// slice pointers is sound whatever the queue does with its buffers: a
// re-offered batch has the same bytes, and a different batch cannot (every
// line carries its chain position and the previous line's hash), so at
// worst a mismatch sends lines again (at least once), never skips one the
// destination lacks. Hashing happens only after a failure, never on the
// delivery fast path.
func (d *deliveredPrefix) resume(lines [][]byte) int {
	n := d.lines
	d.lines = 0
	if n == 0 || n > len(lines) || prefixSum(lines[:n]) != d.sum {
		return 0
	}
	return n
}

// prefixSum hashes lines as one byte stream.
func prefixSum(lines [][]byte) (sum [sha256.Size]byte) {
	h := sha256.New()
	for _, l := range lines {
		h.Write(l)
	}
	copy(sum[:], h.Sum(nil))
	return sum
}

// post sends one body, retrying transient failures (network errors,
// timeouts, 408, 429, 5xx) with exponential backoff and jitter, or the
// server's Retry-After.
func (s *webhookSink) post(body []byte) error {
	var err error
	for attempt := 0; ; attempt++ {
		var retryAfter time.Duration
		var transient bool
		retryAfter, transient, err = s.postOnce(body)
		if err == nil {
			return nil
		}
		if !transient || attempt+1 >= webhookAttempts {
			return err
		}
		wait := retryAfter
		if wait <= 0 {
			d := webhookBackoff << attempt
			wait = d/2 + rand.N(d) // jitter: 0.5x to 1.5x, so many gateways do not retry in step
		}
		time.Sleep(wait)
	}
}

// postOnce makes one POST. It reports whether a failure is worth retrying
// and the server's Retry-After, if any.
func (s *webhookSink) postOnce(body []byte) (retryAfter time.Duration, transient bool, err error) {
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, fmt.Errorf("audit: webhook %s: %w", s.redacted, s.scrubURL(err))
	}
	req.Header = s.header.Clone()
	if s.host != "" {
		req.Host = s.host
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// Do's error quotes the URL with its query: it is named as
		// logURL instead. A certificate the client rejects will not fix
		// itself within this Write.
		var verr *tls.CertificateVerificationError
		return 0, !errors.As(err, &verr), fmt.Errorf("audit: webhook: %w", s.scrubURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain so the connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookDrainBytes))
		return 0, false, nil
	}
	// Quote the start of the response (never the request: it is audit data).
	head, _ := io.ReadAll(io.LimitReader(resp.Body, webhookErrBodyBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookDrainBytes))
	err = fmt.Errorf("audit: webhook %s: status %d: %q", s.redacted, resp.StatusCode, head)
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return parseRetryAfter(resp.Header.Get("Retry-After")), true, err
	}
	return 0, false, err
}

// parseRetryAfter reads a Retry-After in seconds or as an HTTP date, capped
// so one answer cannot stall the sink's queue for long; 0 when absent or
// invalid.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(min(secs, int(webhookMaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		return 0
	}
	return min(d, webhookMaxRetryAfter)
}

func (s *webhookSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
