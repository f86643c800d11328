// Package policy is Veil's embedded OPA engine: it loads the Rego policies
// of one directory (or fs.FS), compiles and prepares one query per policy
// revision, builds the policy input for one request as an ast.Value (only
// the fields the revision's policies can read), and validates the decision
// strictly before the gateway acts on it. It also hot-reloads the
// policies, runs their Rego unit tests and explains a decision with a full
// trace.
//
// Decision cache (DESIGN "Decision cache"): per revision, decoded decisions
// are kept by decision value, and, when the revision reads neither
// input.time_ns nor input.request.id and calls no non-deterministic
// built-in, by input (the fields the revision reads, which leave out
// request.id and time_ns); inputs with a request body are not kept. Both
// caches are bounded and start empty with every revision.
//
// It owns the input contract (DESIGN "Policy input") and the decision
// contract (DESIGN "Decision") up to decoding the transform rules; it does
// not validate JSONPaths, actions or their parameters (package transforms
// does when the gateway compiles the rules). It knows nothing about HTTP,
// routing, keys or audit sinks, and never logs or returns a value taken from
// the input.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.uber.org/zap"

	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/transforms"
)

// Errors returned by New, Decide, Explain and Reload. The gateway maps them
// to statuses in one place (package proxy): ErrUndefined -> 403;
// ErrEvaluation, ErrTimeout, ErrInvalidDecision -> 500; ErrDuplicateKey,
// ErrBodyTooDeep -> 400.
var (
	// ErrUndefined: the decision query produced no value.
	ErrUndefined = errors.New("policy: decision undefined")
	// ErrEvaluation: OPA failed while evaluating (conflict, type or built-in
	// error, cancellation by the caller), or the input could not be built.
	ErrEvaluation = errors.New("policy: evaluation error")
	// ErrTimeout: evaluation took longer than Options.Timeout.
	ErrTimeout = errors.New("policy: evaluation timed out")
	// ErrInvalidDecision: the decision does not have the documented shape.
	// The wrapped message names the offending key and the expected type,
	// never a value.
	ErrInvalidDecision = errors.New("policy: invalid decision")
	// ErrDuplicateKey: the request body the policy reads has an object with
	// the same key twice (compared after JSON unescaping), at any depth.
	ErrDuplicateKey = errors.New("policy: duplicate key in request body")
	// ErrBodyTooDeep: the request body the policy reads nests deeper than
	// Options.MaxJSONDepth.
	ErrBodyTooDeep = errors.New("policy: request body nested too deeply")
	// ErrCompile: the policy sources could not be loaded, parsed or
	// compiled (New, Reload).
	ErrCompile = errors.New("policy: compile error")
)

// Body states of Input.BodyState (DESIGN "Policy input").
const (
	BodyAbsent   = "absent"
	BodyParsed   = "parsed"
	BodyNotJSON  = "not_json"
	BodyTooLarge = "too_large"
	BodyInvalid  = "invalid"
)

// Config is the `policy` section of veil.yaml.
type Config struct {
	// Dir holds the *.rego files, searched recursively; *_test.rego files
	// and hidden files and directories (name starting with ".") are
	// excluded. Default "./rego". With Options.FS, Dir is a path inside
	// that FS (default ".").
	Dir string `yaml:"dir"`
	// Query is the decision query. Default "data.veil.decision".
	Query string `yaml:"query"`
}

// Options are fixed when the Engine is created.
type Options struct {
	// Logger receives reload and invalid-decision messages. Default: a
	// no-op logger.
	Logger *zap.Logger
	// Timeout bounds one evaluation. Default 50ms.
	Timeout time.Duration
	// MaxJSONDepth bounds the nesting of a request body the policy reads.
	// Default 128.
	MaxJSONDepth int
	// CredentialHeaders names extra headers (case-insensitive) that are
	// dropped from the input, on top of authorization, cookie,
	// proxy-authorization and x-api-key, which are always dropped.
	CredentialHeaders []string
	// FS, when set, is where the policies are loaded from instead of the
	// OS directory Config.Dir (the demo embeds its policies). Watch needs
	// an OS directory and refuses to run with FS. Default nil.
	FS fs.FS
}

// Input is one request as the gateway saw it, already normalised. The
// engine may keep copies of its values in its caches after Decide returns,
// so its strings must not alias memory that is reused (no unsafe
// conversions of pooled buffers).
type Input struct {
	// Method, Host and Path are the normalised request line values.
	Method, Host, Path string
	// Segments are the non-empty segments of Path.
	Segments []string
	// Query holds the query parameters in order, duplicates kept; the
	// policy sees {name: [values...]}.
	Query [][2]string
	// Headers holds the request headers with lower-case names, duplicates
	// kept; the policy sees {name: [values...]}. Credential headers are
	// dropped by the engine even if the gateway passes them.
	Headers [][2]string
	// BodyState is one of absent, parsed, not_json, too_large, invalid.
	// Empty means absent.
	BodyState string
	// Body is the raw JSON text when BodyState is parsed. It is decoded
	// only when the policy revision reads input.request.body; if it is not
	// one valid JSON document the policy sees body_state "invalid" and no
	// body.
	Body []byte
	// ClientIP and RequestID become input.request.client_ip and
	// input.request.id.
	ClientIP, RequestID string
	// RouteName and RoutePrefix become input.route.name and
	// input.route.prefix.
	RouteName, RoutePrefix string
	// Subject is the verified caller (the zero value is anonymous).
	Subject identity.Subject
	// TimeNS becomes input.time_ns.
	TimeNS int64
}

// AuditSpec is the decision's audit object.
type AuditSpec struct {
	// RecordIDs is a JSONPath into the response whose values are logged as
	// record ids. Empty: none.
	RecordIDs string
	// Path is the path template logged instead of the request path. Empty:
	// the normalised path.
	Path string
	// Tags are free-form string tags copied to the audit event.
	Tags map[string]string
}

// Decision is a validated policy decision.
type Decision struct {
	// Allow is false unless the policy set allow to true.
	Allow bool
	// Status is 0 unless the policy set it; always within 400..499.
	Status int
	// Reason is the policy's reason; empty when not set.
	Reason string
	// RequestTransforms and ResponseTransforms are the decoded rules, not
	// yet validated by package transforms.
	RequestTransforms, ResponseTransforms []transforms.Rule
	// QueryTransforms are applied to the query parameters before the
	// upstream sees them, the query seen as a JSON object of arrays of
	// strings ({"email": ["tok_v1_..."]}).
	QueryTransforms []transforms.Rule
	// Audit is the decision's audit object.
	Audit AuditSpec
	// Revision is the policy revision that produced the decision.
	Revision string

	// memo holds what a consumer derived from this decision (the gateway's
	// compiled transform programs), so a decision served again from the
	// cache is not derived again. Decisions are shared: never copy one.
	memo atomic.Pointer[any]
}

// Memo returns the value SetMemo stored (nil if none).
func (d *Decision) Memo() any {
	if p := d.memo.Load(); p != nil {
		return *p
	}
	return nil
}

// SetMemo stores v for Memo. Concurrent callers may each derive and store
// a value; the derivation must be deterministic.
func (d *Decision) SetMemo(v any) { d.memo.Store(&v) }

const (
	defaultDir      = "./rego"
	defaultQuery    = "data.veil.decision"
	defaultTimeout  = 50 * time.Millisecond
	defaultMaxDepth = 128
)

// alwaysDropped are credential headers never passed to the policy.
var alwaysDropped = []string{"authorization", "cookie", "proxy-authorization", "x-api-key"}

// Engine evaluates one prepared decision query per policy revision. It is
// safe for concurrent use; Reload swaps revisions atomically.
type Engine struct {
	cfg      Config
	fsys     fs.FS
	log      *zap.Logger
	timeout  time.Duration
	maxDepth int
	creds    []string // lower-case credential header names

	cur      atomic.Pointer[revision]
	reloadMu sync.Mutex // serialises Reload

	routes  sync.Map     // routeKey -> *ast.Term, see routeTerm
	nroutes atomic.Int32 // entries stored in routes, at most maxRouteTerms

	cacheHits, cacheMisses atomic.Uint64 // decision cache lookups
}

// CacheStats returns the decision cache's hits and misses since start
// (lookups only: inputs the cache bypasses count as neither).
func (e *Engine) CacheStats() (hits, misses uint64) {
	return e.cacheHits.Load(), e.cacheMisses.Load()
}

// New loads, compiles and prepares the policies of cfg.Dir (or opts.FS). It
// fails with ErrCompile if any source fails to parse or compile or the
// query is invalid.
func New(cfg Config, opts Options) (*Engine, error) {
	if cfg.Query == "" {
		cfg.Query = defaultQuery
	}
	if cfg.Dir == "" {
		cfg.Dir = defaultDir
		if opts.FS != nil {
			cfg.Dir = "."
		}
	}
	e := &Engine{
		cfg:      cfg,
		fsys:     opts.FS,
		log:      opts.Logger,
		timeout:  opts.Timeout,
		maxDepth: opts.MaxJSONDepth,
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	if e.timeout <= 0 {
		e.timeout = defaultTimeout
	}
	if e.maxDepth <= 0 {
		e.maxDepth = defaultMaxDepth
	}
	e.creds = append(e.creds, alwaysDropped...)
	for _, h := range opts.CredentialHeaders {
		if h != "" {
			e.creds = append(e.creds, strings.ToLower(h))
		}
	}
	rev, err := e.load(context.Background())
	if err != nil {
		return nil, err
	}
	e.cur.Store(rev)
	return e, nil
}

// Revision returns the current policy revision: the first 16 hex characters
// of a SHA-256 over the sorted (file name, content) pairs of the loaded
// sources.
func (e *Engine) Revision() string { return e.cur.Load().id }

// ReadsBody reports whether the current revision may read
// input.request.body or input.request.body_state: true if any module
// refers to input, input.request, input.request.body (or below) or
// input.request.body_state, or reaches into input or input.request with a
// non-constant key. The gateway reads and classifies the request body only
// then (body_state needs the body read to be truthful).
func (e *Engine) ReadsBody() bool { return e.cur.Load().readsBody }

// ReadsHeaders reports whether the current revision may read
// input.request.headers; when false the gateway need not collect them.
func (e *Engine) ReadsHeaders() bool { return e.Current().ReadsHeaders() }

// ReadsQuery reports whether the current revision may read
// input.request.query; when false the gateway need not collect it.
func (e *Engine) ReadsQuery() bool { return e.Current().ReadsQuery() }

// Reload recompiles the policies. On failure the current revision keeps
// serving and the error (ErrCompile) is returned. Reloading unchanged
// sources keeps the revision.
func (e *Engine) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	rev, err := e.load(context.Background()) // the current one when unchanged
	if err != nil {
		return err
	}
	e.cur.Store(rev)
	return nil
}

// Decide evaluates the decision for one request within Options.Timeout.
//
// Decisions repeat heavily across requests, so the returned *Decision may be
// shared with other callers (decoded once per distinct decision value and
// policy revision): callers must treat it, its rule slices and its tags map
// as read-only.
func (e *Engine) Decide(ctx context.Context, in *Input) (*Decision, error) {
	return e.decide(ctx, e.cur.Load(), in, nil)
}

// Revision is one policy revision, pinned: a gateway takes it once per
// request, asks it which parts of the request it reads (to build only
// those), and decides with that same revision even if a reload happens
// meanwhile.
type Revision struct {
	e *Engine
	r *revision
}

// Current returns the revision being served.
func (e *Engine) Current() Revision { return Revision{e: e, r: e.cur.Load()} }

// ID is the revision id (see Engine.Revision).
func (r Revision) ID() string { return r.r.id }

// ReadsBody is Engine.ReadsBody for this revision.
func (r Revision) ReadsBody() bool { return r.r.readsBody }

// ReadsHeaders reports whether this revision may read input.request.headers.
func (r Revision) ReadsHeaders() bool { return r.r.uses&useHeaders != 0 }

// ReadsQuery reports whether this revision may read input.request.query.
func (r Revision) ReadsQuery() bool { return r.r.uses&useQuery != 0 }

// Decide evaluates in with this revision (see Engine.Decide).
func (r Revision) Decide(ctx context.Context, in *Input) (*Decision, error) {
	return r.e.decide(ctx, r.r, in, nil)
}

// Explain evaluates like Decide and writes the full evaluation trace (as
// `opa eval --explain full` prints it) to w, also when evaluation fails.
// Unlike Decide, evaluation errors keep OPA's full message: Explain is a
// diagnostic tool for the policy author's own inputs.
func (e *Engine) Explain(ctx context.Context, in *Input, w io.Writer) (*Decision, error) {
	buf := topdown.NewBufferTracer()
	d, err := e.decide(ctx, e.cur.Load(), in, buf)
	topdown.PrettyTraceWithLocation(w, *buf)
	return d, err
}

// evalNoMetrics spares each evaluation a metrics registry nobody reads.
var evalNoMetrics = rego.EvalMetrics(metrics.NoOp())

func (e *Engine) decide(ctx context.Context, rev *revision, in *Input, tracer *topdown.BufferTracer) (*Decision, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: nil input", ErrEvaluation)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvaluation, err) // fail closed, the caller has gone
	}
	// An input the revision already decided, unless Explain wants a trace
	// or the input holds a request body (large, and rarely repeated): by
	// its key (inputkey.go) when the key stands for the document, else by
	// the document itself.
	cacheable := rev.byInput != nil && tracer == nil && !(rev.uses&useBody != 0 && rev.readsBody && in.BodyState == BodyParsed)
	var key []byte
	if cacheable && keyable(in, rev.uses, rev.readsBody) {
		kb := keyBufs.Get().(*[]byte)
		key = e.appendInputKey((*kb)[:0], in, rev.uses)
		defer func() { *kb = key[:0]; keyBufs.Put(kb) }()
		if d := rev.byKey.get(key); d != nil {
			e.cacheHits.Add(1)
			return d, nil
		}
		e.cacheMisses.Add(1)
	}
	input, err := e.buildInput(in, rev.readsBody, rev.uses)
	if err != nil {
		return nil, err
	}
	byInput := rev.byInput
	if !cacheable || key != nil {
		byInput = nil
	}
	if byInput != nil {
		if d := byInput.get(input); d != nil {
			e.cacheHits.Add(1)
			return d, nil
		}
		e.cacheMisses.Add(1)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	// Cancel evaluation with the context without the goroutine per
	// evaluation that rego starts when it has no external cancel.
	c := topdown.NewCancel()
	stop := context.AfterFunc(ctx, c.Cancel)
	defer stop()

	var rs rego.ResultSet
	if tracer != nil {
		rs, err = rev.pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(c), rego.EvalQueryTracer(tracer))
	} else {
		rs, err = rev.pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(c), evalNoMetrics)
	}
	if err != nil {
		return nil, evalError(ctx, err, tracer != nil)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, ErrUndefined
	}
	term, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected result type %T", ErrEvaluation, rs[0].Expressions[0].Value)
	}
	d := rev.decisions.get(term.Value)
	if d == nil {
		var reason string
		d, reason = decodeDecision(term.Value)
		if reason != "" {
			e.log.Warn("policy decision invalid",
				zap.String("revision", rev.id), zap.String("reason", reason))
			return nil, fmt.Errorf("%w: %s", ErrInvalidDecision, reason)
		}
		d.Revision = rev.id
		rev.decisions.put(term.Value, d)
	}
	switch {
	case key != nil:
		rev.byKey.put(key, d)
	case byInput != nil:
		byInput.put(input, d)
	}
	return d, nil
}

// evalError classifies an evaluation error. Outside Explain only OPA's
// error code and location are kept: built-in errors may quote operands,
// which can be input values.
func evalError(ctx context.Context, err error, full bool) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	if full {
		return fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if te, ok := errors.AsType[*topdown.Error](err); ok {
		if te.Location != nil {
			return fmt.Errorf("%w: %s at %s", ErrEvaluation, te.Code, te.Location)
		}
		return fmt.Errorf("%w: %s", ErrEvaluation, te.Code)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w: %w", ErrEvaluation, ctxErr)
	}
	return ErrEvaluation
}
