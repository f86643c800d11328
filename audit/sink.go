package audit

import (
	"fmt"
	"io"
	"time"
)

// Sink is one destination of the audit trail. The Logger hands every sink
// its own bounded queue and one delivery goroutine (queue.go), so a sink
// only ever sees one Write at a time, in chain order.
type Sink interface {
	// Write delivers lines, each a complete JSON line ending in '\n', in
	// order. It returns nil only when every line has been handed over to
	// the destination (written, acknowledged). On error the same lines are
	// offered again after a backoff, so a destination that stored part of a
	// failed batch may see those lines twice (at least once); the verifier
	// reports such repeats as "reordered".
	Write(lines [][]byte) error
	// Close flushes and releases the sink. It is called once, after the
	// last Write.
	Close() error
}

// SinkConfig configures one sink (an entry of audit.sinks).
type SinkConfig struct {
	// Type is "stdout", "file", "kafka" or "webhook".
	Type string `yaml:"type"`
	// Name labels the sink in metrics and logs. Default: type, then
	// type-N for the Nth sink of the same type.
	Name string `yaml:"name"`
	// Witness makes the sink receive only checkpoint and segment records:
	// a second place that knows every chain and how far it went, so that
	// a deleted or cut file is detectable (`veil audit verify --witness`).
	Witness bool `yaml:"witness"`
	// QueueSize bounds the sink's in-memory queue, in records. Default 10000.
	QueueSize int `yaml:"queue_size"`
	// Format is "veil" (default: the canonical lines the chain covers) or
	// "ecs" (Elastic Common Schema field names for a SIEM; the chain fields
	// ride along under veil.*, but only a "veil" sink is verifiable).
	Format string `yaml:"format"`

	// Path of the file sink. Required for type file.
	Path string `yaml:"path"`
	// MaxSizeMB rotates the file before it would pass this size; a batch
	// that fits in one file is not split across two, and a single record
	// this large gets a file of its own. Default 100.
	MaxSizeMB int `yaml:"max_size_mb"`
	// RotateEvery rotates the file when it is this old (0: never by age).
	RotateEvery time.Duration `yaml:"rotate_every"`
	// MaxBackups keeps this many rotated files; 0 keeps all.
	MaxBackups int `yaml:"max_backups"`
	// MaxAgeDays removes rotated files older than this; 0 keeps them.
	MaxAgeDays int `yaml:"max_age_days"`
	// Compress gzips rotated files. Default false.
	Compress bool `yaml:"compress"`
	// Fsync is "interval" (default: a background fsync at most once a
	// second; writes never wait on the disk), "batch" (fsync before a batch
	// counts as delivered) or "never" (leave it to the OS).
	Fsync string `yaml:"fsync"`

	// Kafka configures type kafka.
	Kafka KafkaConfig `yaml:"kafka"`
	// Webhook configures type webhook.
	Webhook WebhookConfig `yaml:"webhook"`
}

// TLSConfig is the client TLS of a network sink.
type TLSConfig struct {
	// Enabled turns TLS on (implied by any file below).
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server with these PEM roots instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile present a client certificate (mTLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name"`
}

// KafkaConfig is a kafka sink: an idempotent producer with acks=all; the
// record key is the chain_id, so one chain stays in one partition, in order.
type KafkaConfig struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string `yaml:"brokers"`
	// Topic receives the records. Required.
	Topic string `yaml:"topic"`
	// ClientID identifies Veil to the brokers. Default "veil".
	ClientID string `yaml:"client_id"`
	// Timeout bounds one batch's delivery before Write reports an error
	// (the producer keeps retrying inside it). Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLSConfig     `yaml:"tls"`
	SASL    SASLConfig    `yaml:"sasl"`
}

// SASLConfig authenticates a kafka sink.
type SASLConfig struct {
	// Mechanism is "", "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordFile holds the password (never inline in the config).
	PasswordFile string `yaml:"password_file"`
}

// WebhookConfig is a webhook sink: batches of JSON lines POSTed to a URL
// (a Splunk HEC raw endpoint, a log collector).
type WebhookConfig struct {
	// URL receives the POSTs. Required; https unless the host is loopback.
	URL string `yaml:"url"`
	// Headers are added to every POST (e.g. Content-Type overrides).
	Headers map[string]string `yaml:"headers"`
	// HeaderFiles are headers whose value is read from a file at start
	// (e.g. Authorization: /run/secrets/hec), so secrets stay out of the
	// config.
	HeaderFiles map[string]string `yaml:"header_files"`
	// Timeout bounds one POST. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBatchBytes splits a batch into POSTs of at most this many bytes.
	// Default 1 MiB.
	MaxBatchBytes int       `yaml:"max_batch_bytes"`
	TLS           TLSConfig `yaml:"tls"`
}

// validateSink reports the first invalid setting of sink i.
func validateSink(i int, s *SinkConfig) error {
	if s.QueueSize < 0 {
		return fmt.Errorf("audit: sinks[%d]: queue_size must be >= 0", i)
	}
	switch s.Format {
	case "", "veil", "ecs":
	default:
		return fmt.Errorf("audit: sinks[%d]: format %q: want veil or ecs", i, s.Format)
	}
	switch s.Type {
	case "stdout":
	case "file":
		if s.Path == "" {
			return fmt.Errorf("audit: sinks[%d]: file sink needs path", i)
		}
		if s.MaxSizeMB < 0 {
			return fmt.Errorf("audit: sinks[%d]: max_size_mb must be >= 0", i)
		}
		switch s.Fsync {
		case "", "batch", "interval", "never":
		default:
			return fmt.Errorf("audit: sinks[%d]: fsync %q: want batch, interval or never", i, s.Fsync)
		}
	case "kafka":
		if len(s.Kafka.Brokers) == 0 || s.Kafka.Topic == "" {
			return fmt.Errorf("audit: sinks[%d]: kafka sink needs kafka.brokers and kafka.topic", i)
		}
		switch s.Kafka.SASL.Mechanism {
		case "", "plain", "scram-sha-256", "scram-sha-512":
		default:
			return fmt.Errorf("audit: sinks[%d]: kafka.sasl.mechanism %q: want plain, scram-sha-256 or scram-sha-512", i, s.Kafka.SASL.Mechanism)
		}
	case "webhook":
		if s.Webhook.URL == "" {
			return fmt.Errorf("audit: sinks[%d]: webhook sink needs webhook.url", i)
		}
	default:
		return fmt.Errorf("audit: sinks[%d]: unknown type %q (want stdout, file, kafka or webhook)", i, s.Type)
	}
	return nil
}

// openSink builds the sink of cfg; stdout is the stdout sink's writer.
func openSink(cfg *SinkConfig, stdout io.Writer) (Sink, error) {
	switch cfg.Type {
	case "stdout":
		return &writerSink{w: stdout}, nil
	case "file":
		return newFileSink(cfg)
	case "kafka":
		return newKafkaSink(&cfg.Kafka)
	case "webhook":
		return newWebhookSink(&cfg.Webhook)
	}
	return nil, fmt.Errorf("audit: unknown sink type %q", cfg.Type)
}
