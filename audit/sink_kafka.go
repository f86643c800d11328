package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	// kafkaDefaultTimeout bounds one Write when KafkaConfig.Timeout is 0.
	kafkaDefaultTimeout = 10 * time.Second
	// kafkaCloseTimeout bounds the flush of Close.
	kafkaCloseTimeout = 5 * time.Second
)

// kafkaSink produces each audit line as one record of an idempotent,
// acks=all franz-go producer, keyed by the line's chain_id.
//
// Delivery is at least once. Write returns nil only when every record of
// the batch was acknowledged by all in-sync replicas. When it returns an
// error, the delivery goroutine offers the same lines again, and:
//   - lines acknowledged by an earlier attempt are not produced again
//     (acked), so a partial failure does not duplicate the delivered part;
//   - records whose outcome is unknown (sent, no answer yet) stay in the
//     client, which resends them with their original sequence numbers until
//     the broker answers (the broker drops copies it already stored); the
//     retry waits for them instead of producing their lines a second time.
//
// Copies remain possible where the producer identity is lost with records
// of unknown outcome: Close (or a crash) with records in flight, whose lines
// the queue keeps for the next run, and the broker forgetting the producer
// (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER), after which the client
// renumbers under a new epoch. The verifier reports a copy as "reordered".
type kafkaSink struct {
	cl      *kgo.Client
	topic   string
	timeout time.Duration
	// closeTimeout bounds the flush of Close (kafkaCloseTimeout).
	closeTimeout time.Duration
	seeds        [2]maphash.Seed

	mu sync.Mutex
	// outstanding counts records handed to the client whose promise has
	// not run yet; idle is closed when it drops to zero. A record still in
	// flight after a failed Write (the idempotent producer does not give
	// up on a request it has sent) may yet be acknowledged, so the next
	// Write waits for it rather than producing its line a second time.
	outstanding int
	idle        chan struct{}
	failed      int   // records of the current attempt that failed
	firstErr    error // the first of those failures
	// acked holds the identities of lines acknowledged since the last
	// Write that returned nil: a retried batch skips them. A line's
	// identity is its content (128 bits of seeded hash): identical bytes
	// are the same audit line, wherever the queue keeps them, and an
	// acknowledged line is in Kafka.
	acked map[lineID]struct{}
	// connErr is the last failed broker connection (dial, TLS or SASL), so
	// that a timed-out Write can say why.
	connErr error
	// saslWho names the SASL mechanism and user for that message ("" when
	// SASL is off).
	saslWho string
}

// lineID identifies a line by content.
type lineID [2]uint64

func newKafkaSink(c *KafkaConfig) (Sink, error) {
	if len(c.Brokers) == 0 || c.Topic == "" {
		return nil, errors.New("audit: kafka sink needs brokers and topic")
	}
	s := &kafkaSink{
		topic:        c.Topic,
		timeout:      c.Timeout,
		closeTimeout: kafkaCloseTimeout,
		seeds:        [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		idle:         make(chan struct{}),
		acked:        make(map[lineID]struct{}),
	}
	close(s.idle)
	if s.timeout <= 0 {
		s.timeout = kafkaDefaultTimeout
	}
	clientID := c.ClientID
	if clientID == "" {
		clientID = "veil"
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(clientID),
		// acks=all with the idempotent producer (franz-go's default, kept
		// on): the broker drops the client's own retries of a request it
		// already stored, and sequence numbers keep each partition in
		// order with up to 5 requests in flight per broker (the client
		// caps it there; MaxProduceRequestsInflightPerBroker only applies
		// without idempotency).
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Records with a key go to murmur2(key) mod partitions, as in the
		// Java client: one chain, one partition. This is the default
		// partitioner, spelled out because ordering depends on it.
		kgo.RecordPartitioner(kgo.UniformBytesPartitioner(64<<10, true, true, nil)),
		// The client fails records it has not sent (or that got an answer)
		// after the timeout (franz-go accepts no less than 1s); Write
		// stops waiting at the timeout itself.
		kgo.RecordDeliveryTimeout(max(s.timeout, time.Second)),
		kgo.ProduceRequestTimeout(max(s.timeout, time.Second)),
		kgo.WithHooks(connHook{s}),
	}
	tc, err := kafkaTLS(&c.TLS)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	mech, err := kafkaSASL(&c.SASL)
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
		s.saslWho = fmt.Sprintf("sasl %s (user %q)", c.SASL.Mechanism, c.SASL.Username)
	}
	// NewClient does not connect: a broker down at start is a failing
	// Write later (queued and retried), not a failed start.
	s.cl, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("audit: kafka sink: %w", err)
	}
	return s, nil
}

// kafkaTLS builds the client TLS config; nil means plaintext.
func kafkaTLS(c *TLSConfig) (*tls.Config, error) {
	if !c.Enabled && c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("audit: kafka tls ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("audit: kafka tls ca_file %s: no PEM certificate found", c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, errors.New("audit: kafka tls: cert_file and key_file go together")
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("audit: kafka tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// kafkaSASL builds the SASL mechanism; nil means none.
func kafkaSASL(c *SASLConfig) (sasl.Mechanism, error) {
	if c.Mechanism == "" {
		return nil, nil
	}
	if c.PasswordFile == "" {
		return nil, fmt.Errorf("audit: kafka sasl %s needs password_file", c.Mechanism)
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("audit: kafka sasl password_file: %w", err)
	}
	pass := strings.TrimRight(string(b), "\r\n")
	switch c.Mechanism {
	case "plain":
		return plain.Auth{User: c.Username, Pass: pass}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: c.Username, Pass: pass}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: c.Username, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("audit: kafka sasl mechanism %q: want plain, scram-sha-256 or scram-sha-512", c.Mechanism)
}

// connHook remembers why broker connections fail.
type connHook struct{ s *kafkaSink }

func (h connHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.s.mu.Lock()
	h.s.connErr = err
	h.s.mu.Unlock()
}

var (
	chainIDField = []byte(`"chain_id":"`)
	newline      = []byte{'\n'}
)

// chainKey returns the first chain_id value of line (events carry it at the
// top level, checkpoints and segments inside their object), or nil.
func chainKey(line []byte) []byte {
	i := bytes.Index(line, chainIDField)
	if i < 0 {
		return nil
	}
	v := line[i+len(chainIDField):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}

func (s *kafkaSink) id(v []byte) lineID {
	return lineID{maphash.Bytes(s.seeds[0], v), maphash.Bytes(s.seeds[1], v)}
}

// Write produces the lines not yet acknowledged and waits for every one of
// them, at most the configured timeout.
func (s *kafkaSink) Write(lines [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	// Cancelling fails this attempt's records that were not sent yet, so
	// that only records truly in flight outlive a failed Write.
	defer cancel()

	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		s.mu.Lock()
		n := s.outstanding
		s.mu.Unlock()
		return fmt.Errorf("audit: kafka: %d records of an earlier attempt still in flight after %s%s", n, s.timeout, s.connCause())
	}

	// Copy the lines still to deliver into one buffer the records own: a
	// record may stay in the client after a failed Write returns, and the
	// queue's buffers must not be read then.
	send := make([]bool, len(lines))
	size, todo := 0, 0
	s.mu.Lock()
	for i, l := range lines {
		l = bytes.TrimSuffix(l, newline)
		if len(s.acked) > 0 {
			if _, done := s.acked[s.id(l)]; done {
				continue
			}
		}
		send[i] = true
		size += len(l)
		todo++
	}
	s.mu.Unlock()
	if todo == 0 {
		s.delivered()
		return nil
	}
	buf := make([]byte, 0, size)
	recs := make([]kgo.Record, 0, todo)
	for i, l := range lines {
		if !send[i] {
			continue
		}
		start := len(buf)
		buf = append(buf, bytes.TrimSuffix(l, newline)...)
		v := buf[start:len(buf):len(buf)]
		recs = append(recs, kgo.Record{Topic: s.topic, Key: chainKey(v), Value: v})
	}

	s.mu.Lock()
	s.outstanding, s.failed, s.firstErr = todo, 0, nil
	idle = make(chan struct{})
	s.idle = idle
	s.mu.Unlock()
	for i := range recs {
		s.cl.Produce(ctx, &recs[i], s.promise)
	}
	// Flush ends the linger so the batch goes out now; the promises tell
	// which records made it.
	_ = s.cl.Flush(ctx)
	select {
	case <-idle:
	case <-ctx.Done():
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outstanding > 0 {
		return fmt.Errorf("audit: kafka: %d of %d records not acknowledged after %s%s", s.outstanding, todo, s.timeout, s.connCauseLocked())
	}
	if s.failed > 0 {
		return fmt.Errorf("audit: kafka: %d of %d records not delivered: %w%s", s.failed, todo, s.firstErr, s.connCauseLocked())
	}
	clear(s.acked)
	return nil
}

// promise runs (serially, on the client's goroutine) for every record.
func (s *kafkaSink) promise(r *kgo.Record, err error) {
	var id lineID
	if err == nil {
		id = s.id(r.Value)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.acked[id] = struct{}{}
	} else {
		if s.failed == 0 {
			s.firstErr = err
		}
		s.failed++
	}
	s.outstanding--
	if s.outstanding == 0 {
		close(s.idle)
	}
}

// delivered forgets the acknowledged lines once a whole batch is in.
func (s *kafkaSink) delivered() {
	s.mu.Lock()
	clear(s.acked)
	s.mu.Unlock()
}

func (s *kafkaSink) connCause() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connCauseLocked()
}

func (s *kafkaSink) connCauseLocked() string {
	if s.connErr == nil {
		return ""
	}
	if s.saslWho != "" && (errors.Is(s.connErr, io.EOF) || errors.Is(s.connErr, io.ErrUnexpectedEOF)) {
		// Brokers answer bad credentials with an error (Kafka 1.0+) or by
		// closing the connection; only the latter needs a hint.
		return " (broker connection failed: " + s.connErr.Error() + "; the broker closed it during connect, which with " +
			s.saslWho + " usually means the credentials were rejected)"
	}
	return " (broker connection failed: " + s.connErr.Error() + ")"
}

// Close waits (bounded) for records still in flight, then closes the
// client, which fails whatever is left. Lines of those records are still in
// the queue (their Write failed), so they are delivered again by the next
// run: at least once.
func (s *kafkaSink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.closeTimeout)
	defer cancel()
	err := s.cl.Flush(ctx)
	s.mu.Lock()
	left, idle := s.outstanding, s.idle
	s.mu.Unlock()
	s.cl.Close()
	// The client fails what it still held; its promises run on their own
	// goroutine, so wait for them (bounded) so none runs after Close.
	t := time.NewTimer(s.closeTimeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
	if err != nil {
		return fmt.Errorf("audit: kafka: close: %d records not acknowledged within %s: %w", left, s.closeTimeout, err)
	}
	return nil
}
