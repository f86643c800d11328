// Package proxy is Veil's gateway: the fasthttp listener, routing, pooled
// upstream clients, and the request pipeline that composes identity,
// policy, transforms, keys and audit (pipeline.go lists the stages in
// order). It also owns veil.yaml (config.go), the error table (errors.go)
// and the admin listener (/healthz, /readyz, /metrics).
//
// Dependencies point one way: proxy imports policy, transforms, vault,
// audit and identity; none of them imports proxy.
package proxy

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
	"github.com/veilgw/veil/transforms"
	"github.com/veilgw/veil/vault"
)

// Options are what a Gateway takes besides its Config.
type Options struct {
	// Logger for operational logs (never protected values). Default: a
	// production zap logger on stderr.
	Logger *zap.Logger
	// PolicyFS, when set, loads policies from it instead of policy.dir
	// (the demo embeds its policies). Hot reload is off then.
	PolicyFS fs.FS
	// Keys overrides the keyring of cfg.Keys.
	Keys vault.Keyring
	// AuditStdout is where the stdout audit sink writes. Default os.Stdout.
	AuditStdout io.Writer
}

// Gateway is a configured Veil instance.
type Gateway struct {
	cfg          Config
	log          *zap.Logger
	engine       *policy.Engine
	ident        *identity.Verifier
	keys         vault.Keyring
	audit        *audit.Logger
	programs     *transforms.Cache
	routes       []*route
	trusted      trustedNets
	peerNames    peerNames
	apiKeyHeader string
	metrics      *metrics
	server       *fasthttp.Server
	admin        *http.Server
	inflight     sync.WaitGroup
	watchCancel  context.CancelFunc
	closeOnce    sync.Once
}

// route is a compiled RouteConfig.
type route struct {
	name         string
	host         string
	prefix       string
	strip        bool
	pool         *pool
	auth         string
	injectHeader string
	injectValue  string
	preserveHost bool

	// The route's metric series, resolved once (see finish, forward).
	mDuration, mUpstreamDur prometheus.Observer
	mOK                     prometheus.Counter // requests answered 200
}

// matchPath reports whether path is under the route's prefix (on segment
// boundaries) and returns the path the upstream sees when stripping.
func (r *route) matchPath(path []byte) ([]byte, bool) {
	p := r.prefix
	if p == "" {
		return path, true
	}
	trail := strings.HasSuffix(p, "/")
	switch {
	case string(path) == p:
		return []byte("/"), true
	case trail && string(path) == p[:len(p)-1]:
		return []byte("/"), true
	case len(path) > len(p) && string(path[:len(p)]) == p:
		if trail {
			return path[len(p)-1:], true
		}
		if path[len(p)] == '/' {
			return path[len(p):], true
		}
	}
	return nil, false
}

// New builds a gateway: it loads keys, policies and identity, opens audit
// sinks and upstream pools. It does not listen yet.
func New(cfg *Config, opts Options) (*Gateway, error) {
	c := *cfg
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: c, log: opts.Logger, metrics: newMetrics(), trusted: parseTrusted(c.TrustedProxies)}
	if g.log == nil {
		l, err := zap.NewProduction()
		if err != nil {
			return nil, err
		}
		g.log = l
	}
	var err error
	g.keys = opts.Keys
	if g.keys == nil {
		if g.keys, err = vault.Open(c.Keys); err != nil {
			return nil, err
		}
	}
	if st, ok := g.keys.(interface{ Stats() vault.VaultStats }); ok {
		g.metrics.reg.MustRegister(newKeyringCollector(st.Stats))
	}
	priv, err := auditSigningKey(g.keys)
	if err != nil {
		g.log.Warn("audit checkpoints are not signed: no usable \"audit\" key in the keyring", zap.Error(err))
	}
	g.audit, err = audit.New(c.Audit, audit.Options{Stdout: opts.AuditStdout, Signer: priv, Logger: g.log.Named("audit")})
	if err != nil {
		return nil, err
	}
	g.metrics.reg.MustRegister(newAuditCollector(g.audit))
	g.engine, err = policy.New(c.Policy, policy.Options{
		Logger: g.log, Timeout: c.Limits.PolicyTimeout, MaxJSONDepth: c.Limits.MaxJSONDepth, FS: opts.PolicyFS,
		CredentialHeaders: []string{c.Identity.APIKeyHeader},
	})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	g.metrics.reg.MustRegister(newRevisionCollector(g.engine.Revision))
	g.metrics.reg.MustRegister(newCacheCollector(g.engine.CacheStats))
	g.ident, err = identity.New(context.Background(), c.Identity, g.log)
	if err != nil {
		return nil, err
	}
	g.apiKeyHeader = c.Identity.APIKeyHeader
	if g.apiKeyHeader == "" {
		g.apiKeyHeader = "X-API-Key"
	}
	popts := transforms.Options{Keys: g.keys, MaxDepth: c.Limits.MaxJSONDepth, MaxRecordIDs: c.Audit.RecordIDsMax}
	if tr, ok := g.keys.(transforms.Transit); ok {
		popts.Transit = tr // encrypt/decrypt mode transit: Vault's own ciphertexts
	}
	g.programs = transforms.NewCache(4096, popts)
	for _, rc := range c.Routes {
		p, err := newPool(rc, c.Limits)
		if err != nil {
			return nil, err
		}
		r := &route{name: rc.Name, host: rc.Match.Host, prefix: rc.Match.PathPrefix, strip: rc.StripPrefix, pool: p,
			auth: rc.UpstreamAuth, injectHeader: rc.InjectAuth.Header, preserveHost: rc.PreserveHost}
		if rc.UpstreamAuth == "inject" {
			v, err := os.ReadFile(rc.InjectAuth.ValueFile)
			if err != nil {
				return nil, fmt.Errorf("routes %s: inject.value_file: %w", rc.Name, err)
			}
			r.injectValue = strings.TrimSpace(string(v))
		}
		r.mDuration = g.metrics.durationBy.get(r.name, "")
		r.mUpstreamDur = g.metrics.upstreamDurBy.get(r.name, "")
		r.mOK = g.metrics.requestsBy.get(r.name, statusLabel(200))
		g.routes = append(g.routes, r)
	}
	g.server = &fasthttp.Server{
		Handler:            g.handle,
		Name:               "veil",
		StreamRequestBody:  true,
		MaxRequestBodySize: 256 << 10, // larger bodies stream to the handler
		ReadBufferSize:     16 << 10,  // request line + headers (large JWTs fit); more -> 431
		// Client timeouts are idle timeouts (Serve wraps the listener in
		// idleListener): read_timeout between two reads or two writes.
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		ReduceMemoryUsage:             false,
		CloseOnShutdown:               true,
		Logger:                        zapPrintf{g.log},
		ErrorHandler:                  g.protocolError,

		// Parse errors do not quote the client's request (headers, body):
		// they reach protocolError, and whatever fasthttp logs.
		SecureErrorLogMessage: true,
	}
	return g, nil
}

// protocolError answers requests fasthttp could not parse (malformed
// framing, smuggling attempts): 400 with a JSON error. No route, no
// upstream, and an audit event like any other request.
func (g *Gateway) protocolError(ctx *fasthttp.RequestCtx, err error) {
	// The clock, not ctx.Time(): that is the previous request's, if any.
	x := g.acquireExchange(ctx, time.Now())
	x.reqID = appendRequestID(x.reqID[:0])
	x.ev.RequestID = string(x.reqID)
	// The method only when the header was read: fasthttp's default (GET)
	// is not what a client that sent nothing, or half a header, asked.
	if len(ctx.Request.Header.RawHeaders()) > 0 {
		x.ev.Method = string(ctx.Request.Header.Method())
	}
	x.ev.Reason = "malformed HTTP request"
	code := errBadRequest
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// Nothing, or not a whole header, within read_timeout.
		code, x.ev.Reason = errRequestTimeout, "the request did not arrive within read_timeout"
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		// The TLS handshake refused the client's certificate (another CA,
		// expired, not for client auth): a credential, not a malformed
		// request. Nothing can be sent on the failed connection.
		code, x.ev.Reason = errUnauthorized, "client certificate refused in the TLS handshake"
	}
	var se *fasthttp.ErrSmallBuffer
	if errors.As(err, &se) {
		code = errHeaderTooLarge
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		code = errBodyTooLarge
	}
	x.failWith(code)
	g.respond(x)
	ctx.SetConnectionClose()
}

// Serve accepts client connections on ln until Shutdown. When cfg.TLS is
// set, ln carries TLS (optionally verifying client certificates).
func (g *Gateway) Serve(ln net.Listener) error {
	ln = idleListener{Listener: ln, readIdle: g.cfg.Limits.ReadTimeout, writeIdle: g.cfg.Limits.ReadTimeout}
	if g.cfg.TLS.CertFile == "" {
		return g.server.Serve(ln)
	}
	tc, err := g.tlsConfig()
	if err != nil {
		return err
	}
	return g.server.Serve(tls.NewListener(ln, tc))
}

func (g *Gateway) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(g.cfg.TLS.CertFile, g.cfg.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if g.cfg.TLS.ClientCAFile != "" {
		pem, err := os.ReadFile(g.cfg.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls: client_ca_file holds no PEM certificate")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// Run listens on cfg.Listen and cfg.AdminListen, watches the policy
// directory, and serves until ctx is done; then it shuts down gracefully:
// in-flight requests finish (bounded by grace) and the audit trail is
// flushed.
func (g *Gateway) Run(ctx context.Context, grace time.Duration) error {
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return err
	}
	if err := g.StartAdmin(); err != nil {
		ln.Close()
		return err
	}
	g.StartWatch()
	g.log.Info("veil listening", zap.String("listen", ln.Addr().String()), zap.String("admin", g.cfg.AdminListen),
		zap.String("policy_revision", g.engine.Revision()))
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	select {
	case err := <-errc:
		g.Close()
		return err
	case <-ctx.Done():
	}
	g.log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return g.Shutdown(sctx)
}

// StartWatch hot-reloads policies from policy.dir (not with PolicyFS).
func (g *Gateway) StartWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	g.watchCancel = cancel
	go func() {
		if err := g.engine.Watch(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("policy hot reload is off", zap.Error(err))
		}
	}()
}

// StartAdmin serves /healthz, /readyz and /metrics on cfg.AdminListen.
func (g *Gateway) StartAdmin() error {
	addr := g.cfg.AdminListen
	if addr == "" || addr == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin_listen: %w", err)
	}
	g.cfg.AdminListen = ln.Addr().String()
	g.admin = &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.admin.Serve(ln) }()
	return nil
}

// AdminAddr is the admin listener's address once started.
func (g *Gateway) AdminAddr() string { return g.cfg.AdminListen }

// AdminHandler serves the admin endpoints.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		checks := map[string]string{}
		ready := true
		check := func(name string, err error) {
			if err != nil {
				checks[name] = err.Error()
				ready = false
			} else {
				checks[name] = "ok"
			}
		}
		check("policy", nil)
		check("keys", g.keys.Ready())
		check("audit", g.audit.Healthy())
		check("identity", g.ident.Ready())
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": checks, "policy_revision": g.engine.Revision()})
	})
	mux.Handle("/metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	if g.cfg.AdminPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Shutdown stops accepting, lets in-flight requests finish, then closes
// the audit sinks.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.server.ShutdownWithContext(ctx)
	done := make(chan struct{})
	go func() { g.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
		// Requests still running were accepted and will be answered: each
		// must get its audit event, so the trail stays open until they
		// finish — at most upstream_timeout more, by when a silent
		// upstream has failed them (a body still streaming with progress
		// can take longer: then their events are lost, and said so).
		t := time.NewTimer(g.cfg.Limits.UpstreamTimeout + time.Second)
		select {
		case <-done:
		case <-t.C:
			g.log.Error("requests still running at shutdown after the grace and upstream_timeout: their audit events are lost")
		}
		t.Stop()
	}
	g.Close()
	return err
}

// Close releases everything without waiting (use Shutdown to drain).
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		if g.watchCancel != nil {
			g.watchCancel()
		}
		if g.admin != nil {
			_ = g.admin.Close()
		}
		g.ident.Close()
		_ = g.audit.Close()
		if c, ok := g.keys.(interface{ Close() }); ok {
			c.Close()
		}
	})
}

// auditSigningKey derives the audit checkpoint signing key from the
// keyring's "audit" key (primary version, HKDF purpose
// "veil/audit-signing").
func auditSigningKey(keys vault.Keyring) (ed25519.PrivateKey, error) {
	k, err := keys.Primary("audit", time.Now())
	if err != nil {
		return nil, err
	}
	seed, err := k.Subkey("veil/audit-signing", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return audit.SigningKeyFromSeed(seed)
}

// AuditPublicKey derives the checkpoint verification key from a keyring.
func AuditPublicKey(keys vault.Keyring) (ed25519.PublicKey, error) {
	priv, err := auditSigningKey(keys)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

// RefreshKeys reloads key versions from the keyring's backing store (Vault)
// now; `veil serve` calls it on SIGHUP. A keyring without one does nothing.
func (g *Gateway) RefreshKeys(ctx context.Context) error {
	if r, ok := g.keys.(interface{ Refresh(context.Context) error }); ok {
		return r.Refresh(ctx)
	}
	return nil
}

// ReloadAPIKeys re-reads identity.api_keys_file; `veil serve` calls it on
// SIGHUP. On error the keys in use stay.
func (g *Gateway) ReloadAPIKeys() error { return g.ident.ReloadAPIKeys() }

// Engine exposes the policy engine (CLI, tests).
func (g *Gateway) Engine() *policy.Engine { return g.engine }

// zapPrintf is fasthttp's server logger. Its messages quote what a client
// sent (a header value of a malformed request, even with
// SecureErrorLogMessage), so an error argument is logged as peerErrText
// has it, and an argument of a type that could hold a peer's bytes
// (strings, byte slices) is left out.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, args ...any) {
	safe := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case error:
			safe[i] = peerErrText(v)
		case net.Addr, int, int64, uint64, float64, time.Duration:
			safe[i] = v
		default:
			safe[i] = "-"
		}
	}
	z.l.Debug(fmt.Sprintf(format, safe...))
}

// safePeerErrs are the fasthttp and io errors whose text holds nothing a
// peer sent.
var safePeerErrs = [...]error{
	fasthttp.ErrTimeout, fasthttp.ErrDialTimeout, fasthttp.ErrTLSHandshakeTimeout,
	fasthttp.ErrNoFreeConns, fasthttp.ErrConnPoolStrategyNotImpl, fasthttp.ErrConnectionClosed,
	fasthttp.ErrBodyTooLarge, fasthttp.ErrDuplicateContentLength, fasthttp.ErrNonNumericChars,
	fasthttp.ErrUnsupportedTransferEncoding, fasthttp.ErrResponseFirstLineMissingSpace,
	fasthttp.ErrUnexpectedStatusCodeChar, fasthttp.ErrBadTrailer, fasthttp.ErrReadingResponseTrailer,
	fasthttp.ErrSmallReadBuffer, fasthttp.ErrMissingRequestMethod, fasthttp.ErrUnsupportedRequestMethod,
	fasthttp.ErrExtraWhitespaceInRequestLine, fasthttp.ErrEmptyRequestURI, fasthttp.ErrNeedMore,
	fasthttp.ErrPerIPConnLimit, fasthttp.ErrConcurrencyLimit, io.ErrUnexpectedEOF, io.EOF,
}

// peerErrText describes, for the operational log, an error of a
// connection to a client or an upstream. fasthttp's parse errors quote
// what the peer sent ("invalid header value %q", the status line, the
// HTTP version; without SecureErrorLogMessage the whole message, body
// included), and that may be a protected value: only a network error
// (addresses and the system's reason) or one of the fixed errors above is
// logged as it is; anything else is a malformed message.
func peerErrText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	for _, e := range safePeerErrs {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "malformed HTTP message"
}
