package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"
)

// ErrUnhealthy means the audit pipeline cannot currently write events. In
// on_failure "deny" mode the gateway refuses requests (503) meanwhile.
var ErrUnhealthy = errors.New("audit: pipeline unhealthy")

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
}

// SinkConfig configures one sink.
type SinkConfig struct {
	// Type is "stdout" or "file".
	Type string `yaml:"type"`
	// Path of the file sink. Required for type file.
	Path string `yaml:"path"`
	// MaxSizeMB rotates the file at this size. Default 100.
	MaxSizeMB int `yaml:"max_size_mb"`
	// MaxBackups keeps this many rotated files; 0 keeps all.
	MaxBackups int `yaml:"max_backups"`
	// MaxAgeDays removes rotated files older than this; 0 keeps them.
	MaxAgeDays int `yaml:"max_age_days"`
	// Compress gzips rotated files. Default false.
	Compress bool `yaml:"compress"`
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
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.OnFailure != "deny" && c.OnFailure != "continue" {
		return fmt.Errorf("audit: on_failure %q: want deny or continue", c.OnFailure)
	}
	if c.RecordIDsMax < 0 {
		return fmt.Errorf("audit: record_ids_max must be >= 0")
	}
	for i, s := range c.Sinks {
		switch s.Type {
		case "stdout":
		case "file":
			if s.Path == "" {
				return fmt.Errorf("audit: sinks[%d]: file sink needs path", i)
			}
		default:
			return fmt.Errorf("audit: sinks[%d]: unknown type %q (want stdout or file)", i, s.Type)
		}
	}
	return nil
}

// Logger encodes events and writes each to every sink. It is safe for
// concurrent use.
type Logger struct {
	enc     zapcore.Encoder
	mu      sync.Mutex
	sinks   []io.Writer
	closers []io.Closer
	written atomic.Uint64
	failed  atomic.Uint64
	broken  atomic.Bool
	deny    bool
	chain   chain  // guarded by mu
	line    []byte // guarded by mu
	signer  ed25519.PrivateKey
	cp      CheckpointConfig
	cpSeq   uint64 // seq of the last checkpoint; guarded by mu
	stop    chan struct{}
}

// New opens the sinks of cfg. stdout may be nil (os.Stdout).
func New(cfg Config, stdout io.Writer) (*Logger, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	l := &Logger{enc: newEncoder(), deny: cfg.OnFailure == "deny", chain: chain{id: newChainID()}, cp: cfg.Checkpoint}
	for _, s := range cfg.Sinks {
		switch s.Type {
		case "stdout":
			l.sinks = append(l.sinks, stdout)
		case "file":
			size := s.MaxSizeMB
			if size == 0 {
				size = 100
			}
			lj := &lumberjack.Logger{Filename: s.Path, MaxSize: size, MaxBackups: s.MaxBackups, MaxAge: s.MaxAgeDays, Compress: s.Compress}
			l.sinks = append(l.sinks, lj)
			l.closers = append(l.closers, lj)
		}
	}
	return l, nil
}

func newEncoder() zapcore.Encoder {
	return zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey:        "time",
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		LineEnding:     "\n",
		EncodeDuration: zapcore.NanosDurationEncoder,
	})
}

// Encode appends e's JSON line to dst (used by Log and by tests).
func (l *Logger) Encode(e *Event) ([]byte, error) {
	buf, err := l.enc.EncodeEntry(zapcore.Entry{Time: e.Time}, []zapcore.Field{{Type: zapcore.InlineMarshalerType, Interface: e}})
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), buf.Bytes()...)
	buf.Free()
	return out, nil
}

// fieldPool holds the one-field slices Log hands to the encoder (a slice
// literal would escape to the heap on every event).
var fieldPool = sync.Pool{New: func() any { return new([1]zapcore.Field) }}

// Log chains e (chain_id, seq, prev_hash, hash) and writes it to every
// sink. A sink error marks the pipeline unhealthy (see Healthy) and is
// returned; the event keeps its place in the chain (a gap a verifier
// reports as a deleted event, which is what it is for that sink).
func (l *Logger) Log(e *Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chain.seq++
	e.ChainID, e.Seq, e.prevHash = l.chain.id, l.chain.seq, l.chain.prev
	f := fieldPool.Get().(*[1]zapcore.Field)
	f[0] = zapcore.Field{Type: zapcore.InlineMarshalerType, Interface: e}
	buf, err := l.enc.EncodeEntry(zapcore.Entry{Time: e.Time}, f[:])
	f[0] = zapcore.Field{}
	fieldPool.Put(f)
	if err != nil {
		l.failed.Add(1)
		l.chain.seq--
		return fmt.Errorf("audit: encode: %w", err)
	}
	l.line = l.chain.seal(l.line[:0], buf.Bytes())
	buf.Free()
	var werr error
	for _, s := range l.sinks {
		if _, err := s.Write(l.line); err != nil {
			werr = errors.Join(werr, err)
		}
	}
	if werr != nil {
		l.failed.Add(1)
		l.broken.Store(true)
		return fmt.Errorf("audit: write: %w", werr)
	}
	l.broken.Store(false)
	l.written.Add(1)
	if l.signer != nil && l.chain.seq-l.cpSeq >= uint64(l.cp.EveryEvents) {
		return l.checkpointLocked()
	}
	return nil
}

// Healthy reports ErrUnhealthy while the last write failed.
func (l *Logger) Healthy() error {
	if l.broken.Load() {
		return ErrUnhealthy
	}
	return nil
}

// DenyOnFailure reports whether on_failure is "deny".
func (l *Logger) DenyOnFailure() bool { return l.deny }

// Stats returns events written and failed since start.
func (l *Logger) Stats() (written, failed uint64) { return l.written.Load(), l.failed.Load() }

// Close flushes and closes file sinks.
func (l *Logger) Close() error {
	if l.stop != nil {
		close(l.stop)
		l.stop = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.checkpointLocked() // a clean shutdown leaves no unverified tail
	for _, c := range l.closers {
		err = errors.Join(err, c.Close())
	}
	return err
}
