package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ErrUnhealthy means the audit pipeline cannot currently take events: a
// sink is failing or stalled, or its queue is full. In on_failure "deny"
// mode the gateway refuses requests (503) meanwhile.
var ErrUnhealthy = errors.New("audit: pipeline unhealthy")

// ErrDropped means an event could not be queued or spooled for some sink.
var ErrDropped = errors.New("audit: event dropped")

// Config is `audit` in veil.yaml.
type Config struct {
	// Sinks receive every event. Default: one stdout sink.
	Sinks []SinkConfig `yaml:"sinks"`
	// OnFailure is "deny" (default: no audit, no access) or "continue"
	// (serve, count the lost events).
	OnFailure string `yaml:"on_failure"`
	// RecordIDsMax caps record_ids per event. Default 100.
	RecordIDsMax int `yaml:"record_ids_max"`
	// Checkpoint sets how often signed checkpoints are written.
	Checkpoint CheckpointConfig `yaml:"checkpoint"`
	// SpoolDir holds a spool file per sink for records its queue cannot
	// hold (an outage) and records left undelivered at shutdown. Default:
	// ".veil-spool" beside the first file sink; without a file sink, no
	// spool (records beyond the queues are dropped and counted).
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxMB bounds each spool file. Default 1024.
	SpoolMaxMB int `yaml:"spool_max_mb"`
	// StateFile remembers the last checkpoint the first file sink
	// received, so the next start links its new segment to it. Default:
	// ".<name>.state" beside the first file sink (hidden, so a glob over
	// the trail's files does not pick it up); without a file sink, none.
	StateFile string `yaml:"state_file"`
	// DrainTimeout bounds how long shutdown waits for sinks to take the
	// queued records (the rest is spooled). Default 10s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if len(c.Sinks) == 0 {
		c.Sinks = []SinkConfig{{Type: "stdout"}}
	}
	if c.OnFailure == "" {
		c.OnFailure = "deny"
	}
	if c.RecordIDsMax == 0 {
		c.RecordIDsMax = 100
	}
	if c.Checkpoint.EveryEvents == 0 {
		c.Checkpoint.EveryEvents = 1000
	}
	if c.Checkpoint.Every == 0 {
		c.Checkpoint.Every = 10 * time.Second
	}
	if c.SpoolMaxMB == 0 {
		c.SpoolMaxMB = 1024
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	seen := map[string]int{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.QueueSize == 0 {
			s.QueueSize = 10000
		}
		if s.Name == "" {
			seen[s.Type]++
			s.Name = s.Type
			if n := seen[s.Type]; n > 1 {
				s.Name += "-" + strconv.Itoa(n)
			}
		}
	}
	for _, s := range c.Sinks {
		if s.Type == "file" && !s.Witness {
			if c.SpoolDir == "" {
				c.SpoolDir = filepath.Join(filepath.Dir(s.Path), ".veil-spool")
			}
			if c.StateFile == "" {
				c.StateFile = filepath.Join(filepath.Dir(s.Path), "."+filepath.Base(s.Path)+".state")
			}
			break
		}
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.OnFailure != "deny" && c.OnFailure != "continue" {
		return fmt.Errorf("audit: on_failure %q: want deny or continue", c.OnFailure)
	}
	if c.RecordIDsMax < 0 {
		return fmt.Errorf("audit: record_ids_max must be >= 0")
	}
	names := map[string]bool{}
	events := 0
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if err := validateSink(i, s); err != nil {
			return err
		}
		if s.Name != "" && names[s.Name] {
			return fmt.Errorf("audit: sinks[%d]: name %q used twice", i, s.Name)
		}
		names[s.Name] = true
		if !s.Witness {
			events++
		}
	}
	if len(c.Sinks) > 0 && events == 0 {
		return fmt.Errorf("audit: every sink is a witness: at least one must receive the events")
	}
	return nil
}

// Options are the Logger's collaborators.
type Options struct {
	// Stdout is the stdout sink's writer (nil: os.Stdout).
	Stdout io.Writer
	// Signer signs checkpoints and segment records (nil: unsigned, and no
	// checkpoints).
	Signer ed25519.PrivateKey
	// Logger receives the pipeline's own diagnostics (nil: none).
	Logger *zap.Logger
	// stateSync replaces the state file's fsync (tests: a stalled disk).
	stateSync func(*os.File) error
}

// Logger chains events and queues them for every sink. It is safe for
// concurrent use.
type Logger struct {
	mu    sync.Mutex
	outs  []*output
	last  *output // the last event sink: it takes the line instead of a copy
	deny  bool
	chain chain     // guarded by mu
	line  []byte    // the event being logged; guarded by mu
	times timeCache // guarded by mu
	// logged and dropped count events (not checkpoints).
	logged  atomic.Uint64
	dropped atomic.Uint64
	signer  ed25519.PrivateKey
	cp      CheckpointConfig
	cpSeq   uint64 // seq of the last checkpoint; guarded by mu
	closed  bool   // guarded by mu
	drain   time.Duration
	stop    chan struct{}
	log     *zap.Logger
	prev    *cpRef
}

// New opens the sinks of cfg, links the new chain to the previous run's
// (state file) and starts delivery.
func New(cfg Config, opts Options) (*Logger, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	l := &Logger{deny: cfg.OnFailure == "deny", chain: chain{id: newChainID()},
		cp: cfg.Checkpoint, signer: opts.Signer, drain: cfg.DrainTimeout, log: opts.Logger}
	var state *stateFile
	if cfg.StateFile != "" {
		fsync := opts.stateSync
		if fsync == nil {
			fsync = (*os.File).Sync
		}
		state = &stateFile{path: cfg.StateFile, fsync: fsync}
		prev, err := state.load()
		if err != nil {
			opts.Logger.Warn("audit state unreadable; the new segment is not linked", zap.Error(err))
		}
		l.prev = prev
	}
	if cfg.SpoolDir != "" {
		if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("audit: spool_dir: %w", err)
		}
	}
	fail := func(err error) (*Logger, error) {
		for _, o := range l.outs { // started ones
			_ = o.close(time.Now())
		}
		return nil, err
	}
	stateSet := false
	for i := range cfg.Sinks {
		sc := &cfg.Sinks[i]
		sink, err := openSink(sc, opts.Stdout)
		if err != nil {
			return fail(fmt.Errorf("audit: sink %s: %w", sc.Name, err))
		}
		var sp *spool
		if cfg.SpoolDir != "" {
			if sp, err = openSpool(filepath.Join(cfg.SpoolDir, sc.Name+".spool"), int64(cfg.SpoolMaxMB)<<20); err != nil {
				_ = sink.Close()
				return fail(err)
			}
		}
		o := newOutput(sc.Name, sc.Type, sc.Witness, sink, sc.QueueSize, sp, opts.Logger)
		if sc.Format == "ecs" {
			o.format = ecsLine
		}
		if state != nil && !stateSet && sc.Type == "file" && !sc.Witness {
			o.state, stateSet = state, true
		}
		o.start()
		l.outs = append(l.outs, o)
		if !o.witness {
			l.last = o
		}
	}
	seg := segmentLine(time.Now(), l.chain.id, l.prev, l.signer)
	for _, o := range l.outs {
		o.enqueue(seg, false, nil)
	}
	if l.signer != nil && l.cp.Every > 0 {
		l.stop = make(chan struct{})
		go l.tick(l.cp.Every, l.stop)
	}
	return l, nil
}

// Encode returns e's JSON line, unchained (for tests and tools).
func (l *Logger) Encode(e *Event) ([]byte, error) {
	return append(appendEvent(nil, e), '\n'), nil
}

// ChainID is the id of this Logger's chain.
func (l *Logger) ChainID() string { return l.chain.id }

// Reserve takes a queue slot on every event sink for e, to be used by
// Log(e), so that Log cannot drop e (queue.go). It fails (ErrUnhealthy)
// when a sink is failing or stalled, a queue is full, or a sink is
// delivering from its spool and the spool is full: the gateway's deny mode
// then refuses the request before the upstream sees it.
func (l *Logger) Reserve(e *Event) error {
	if err := l.Healthy(); err != nil {
		return err
	}
	for i, o := range l.outs {
		if o.witness {
			continue
		}
		o.mu.Lock()
		why := o.reserveLocked()
		o.mu.Unlock()
		if why != "" {
			for _, p := range l.outs[:i] {
				if !p.witness {
					p.mu.Lock()
					p.reserved--
					p.mu.Unlock()
				}
			}
			return fmt.Errorf("%w: sink %s %s", ErrUnhealthy, o.name, why)
		}
	}
	e.reserved = true
	return nil
}

// Log chains e (chain_id, seq, prev_hash, hash) and queues it for every
// event sink; delivery is asynchronous (queue.go). It returns ErrDropped
// when some sink could neither queue nor spool the event (counted).
func (l *Logger) Log(e *Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	reserved := e.reserved
	e.reserved = false
	if l.closed {
		l.dropped.Add(1)
		l.release(reserved)
		return fmt.Errorf("%w: logger closed", ErrDropped)
	}
	l.chain.seq++
	e.ChainID, e.Seq, e.prevHash = l.chain.id, l.chain.seq, l.chain.prev
	l.line = l.chain.seal(appendEventTimes(l.line[:0], e, &l.times))
	var lost error
	for _, o := range l.outs {
		if o.witness {
			continue
		}
		var ok bool
		if o == l.last {
			ok = o.enqueueOwned(&l.line, reserved)
		} else {
			ok = o.enqueue(l.line, reserved, nil)
		}
		if !ok {
			lost = fmt.Errorf("%w: sink %s", ErrDropped, o.name)
		}
	}
	l.logged.Add(1)
	if lost != nil {
		l.dropped.Add(1)
	}
	if l.signer != nil && l.chain.seq-l.cpSeq >= uint64(l.cp.EveryEvents) {
		l.checkpointLocked()
	}
	return lost
}

// release returns the slots of a reservation that will not be used.
func (l *Logger) release(reserved bool) {
	if !reserved {
		return
	}
	for _, o := range l.outs {
		if !o.witness {
			o.mu.Lock()
			if o.reserved > 0 {
				o.reserved--
			}
			o.mu.Unlock()
		}
	}
}

// Healthy reports ErrUnhealthy while any sink (witnesses included) is
// failing or stalled.
func (l *Logger) Healthy() error {
	for _, o := range l.outs {
		if err := o.healthy(); err != nil {
			return fmt.Errorf("%w: %v", ErrUnhealthy, err)
		}
	}
	return nil
}

// DenyOnFailure reports whether on_failure is "deny".
func (l *Logger) DenyOnFailure() bool { return l.deny }

// SinkStats is one sink's delivery counters.
type SinkStats struct {
	Name    string
	Type    string
	Witness bool
	// Written counts records (events, checkpoints, segments) delivered.
	Written uint64
	// Dropped counts records lost: no queue slot and no spool.
	Dropped uint64
	// Errors counts failed Write attempts.
	Errors uint64
	// Queued is the queue depth now; Spooled the records waiting on disk.
	Queued  int
	Spooled int
	Healthy bool
}

// Stats returns events logged and dropped since start.
func (l *Logger) Stats() (logged, dropped uint64) { return l.logged.Load(), l.dropped.Load() }

// SinkStats returns every sink's counters.
func (l *Logger) SinkStats() []SinkStats {
	out := make([]SinkStats, 0, len(l.outs))
	for _, o := range l.outs {
		o.mu.Lock()
		q, sp := o.queued(), 0
		if o.spool != nil {
			sp = o.spool.count
		}
		o.mu.Unlock()
		out = append(out, SinkStats{Name: o.name, Type: o.typ, Witness: o.witness, Written: o.written.Load(),
			Dropped: o.dropped.Load(), Errors: o.errs.Load(), Queued: q, Spooled: sp, Healthy: o.healthy() == nil})
	}
	return out
}

// Close writes a final checkpoint, drains every sink's queue (at most
// drain_timeout; what is left is spooled for the next start) and closes
// the sinks. Events logged after Close are dropped.
func (l *Logger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if l.stop != nil {
		close(l.stop)
	}
	l.checkpointLocked() // a clean shutdown leaves no unverified tail
	l.closed = true
	l.mu.Unlock()
	deadline := time.Now().Add(l.drain)
	errs := make([]error, len(l.outs))
	var wg sync.WaitGroup
	for i, o := range l.outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = o.close(deadline)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
