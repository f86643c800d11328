package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/veilgw/veil/internal/testpki"
)

const kafkaTestTopic = "veil-audit"

// kafkaChains are two chain ids that murmur2 puts in different partitions
// of a 3-partition topic (TestKafkaSinkOutage checks it).
var kafkaChains = []string{"ab12cd34ef56ab12cd34ef56ab12cd34", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"}

// kafkaBatch returns n audit lines per chain, interleaved, starting at seq
// from: events, with a checkpoint and a segment record per chain so that
// every line shape is keyed.
func kafkaBatch(from, n int) [][]byte {
	var lines [][]byte
	for i := from; i < from+n; i++ {
		for _, c := range kafkaChains {
			var l string
			switch i % 50 {
			case 10:
				l = fmt.Sprintf(`{"time":"2026-01-02T03:04:05Z","checkpoint":{"chain_id":%q,"seq":%d,"hash":"h%d"},"sig":"s"}`, c, i, i)
			case 20:
				l = fmt.Sprintf(`{"time":"2026-01-02T03:04:05Z","segment":{"chain_id":%q,"seq":%d,"prev":{"chain_id":"0000","seq":9,"hash":"h"}},"sig":"s"}`, c, i)
			default:
				l = fmt.Sprintf(`{"time":"2026-01-02T03:04:05Z","chain_id":%q,"seq":%d,"prev_hash":"x","path":"/crm/customers","hash":"h%d"}`, c, i, i)
			}
			lines = append(lines, []byte(l+"\n"))
		}
	}
	return lines
}

func newKafkaTestCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, kafkaTestTopic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newKafkaTestSink(t *testing.T, c *KafkaConfig) *kafkaSink {
	t.Helper()
	s, err := newKafkaSink(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*kafkaSink)
}

// consumeKafka reads the whole topic (up to its high watermarks) and checks
// it holds exactly want, once each, keyed by chain, each chain in order and
// in one partition.
func consumeKafka(t *testing.T, c *kfake.Cluster, want [][]byte, opts ...kgo.Opt) {
	t.Helper()
	var total int64
	for _, p := range c.PartitionInfos(kafkaTestTopic) {
		total += p.HighWatermark
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(kafkaTestTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for int64(len(recs)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(recs), total, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		recs = append(recs, fs.Records()...)
	}

	wantSet := make(map[string]bool, len(want))
	for _, l := range want {
		wantSet[string(bytes.TrimSuffix(l, []byte("\n")))] = true
	}
	seen := make(map[string]int)
	lastSeq := make(map[string]int)
	part := make(map[string]int32)
	for _, r := range recs {
		v := string(r.Value)
		seen[v]++
		if seen[v] > 1 {
			t.Errorf("record delivered %d times: %s", seen[v], v)
			continue
		}
		if !wantSet[v] {
			t.Errorf("unexpected record: %s", v)
			continue
		}
		var rec struct {
			ChainID    string `json:"chain_id"`
			Seq        int    `json:"seq"`
			Checkpoint *struct {
				ChainID string `json:"chain_id"`
				Seq     int    `json:"seq"`
			} `json:"checkpoint"`
			Segment *struct {
				ChainID string `json:"chain_id"`
				Seq     int    `json:"seq"`
			} `json:"segment"`
		}
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatalf("record value is not the JSON line: %v: %s", err, v)
		}
		if rec.Checkpoint != nil {
			rec.ChainID, rec.Seq = rec.Checkpoint.ChainID, rec.Checkpoint.Seq
		}
		if rec.Segment != nil {
			rec.ChainID, rec.Seq = rec.Segment.ChainID, rec.Segment.Seq
		}
		if string(r.Key) != rec.ChainID {
			t.Errorf("key %q, want chain_id %q", r.Key, rec.ChainID)
		}
		if p, ok := part[rec.ChainID]; ok && p != r.Partition {
			t.Errorf("chain %s in partitions %d and %d", rec.ChainID, p, r.Partition)
		}
		part[rec.ChainID] = r.Partition
		// Records of one partition come back in offset order.
		if s, ok := lastSeq[rec.ChainID]; ok && rec.Seq != s+1 {
			t.Errorf("chain %s: seq %d after %d", rec.ChainID, rec.Seq, s)
		}
		lastSeq[rec.ChainID] = rec.Seq
	}
	for v := range wantSet {
		if seen[v] == 0 {
			t.Errorf("record lost: %s", v)
		}
	}
	if bad := len(recs) != len(want); bad || t.Failed() {
		t.Fatalf("consumed %d records, want %d", len(recs), len(want))
	}
}

func TestKafkaSinkDelivers(t *testing.T) {
	t.Parallel()
	c := newKafkaTestCluster(t)
	s := newKafkaTestSink(t, &KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic})
	var all [][]byte
	for i := range 3 {
		b := kafkaBatch(i*100, 100)
		if err := s.Write(b); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		all = append(all, b...)
	}
	consumeKafka(t, c, all)
}

// TestKafkaSinkOutage makes the broker fail produce requests in three ways
// and retries each batch as the delivery goroutine does, with a 1s timeout
// so that Write fails during the outage: every line must land exactly once.
func TestKafkaSinkOutage(t *testing.T) {
	t.Parallel()
	c := newKafkaTestCluster(t)
	s := newKafkaTestSink(t, &KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic, Timeout: time.Second})

	all := kafkaBatch(0, 50)
	if err := s.Write(all); err != nil {
		t.Fatal(err)
	}
	// The partition of each chain, from where its first records went.
	var parts []int32
	for _, p := range c.PartitionInfos(kafkaTestTopic) {
		if p.HighWatermark > 0 {
			parts = append(parts, p.Partition)
		}
	}
	if len(parts) != 2 {
		t.Fatalf("the test chains share a partition (%v); pick other ids", parts)
	}

	// retry writes b until it succeeds and returns the errors; heal (if
	// any) runs after the nth failure.
	retry := func(t *testing.T, b [][]byte, n int, heal func()) []error {
		t.Helper()
		var errs []error
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := s.Write(b)
			if err == nil {
				break
			}
			errs = append(errs, err)
			t.Logf("write failed (%d): %v", len(errs), err)
			if len(errs) == n && heal != nil {
				heal()
			}
			if time.Now().After(deadline) {
				t.Fatalf("write still failing after the outage: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(errs) < n {
			t.Fatalf("write succeeded after %d failures, want at least %d: the outage did not bite", len(errs), n)
		}
		return errs
	}

	t.Run("partial", func(t *testing.T) {
		// One chain's partition rejects its records (a non-retriable
		// error: the client fails them at once); the other chain's are
		// acknowledged, and the retries must produce only the rejected
		// ones, or the consumer sees the others twice.
		h := c.Fault(kfake.Fault{
			Keys:       []kmsg.Key{kmsg.Produce},
			Topic:      kafkaTestTopic,
			Partitions: parts[:1],
			Err:        kerr.InvalidRecord,
			Count:      -1,
		})
		b := kafkaBatch(50, 100)
		errs := retry(t, b, 2, h.Remove)
		for i, want := range []string{"100 of 200 records not delivered: INVALID_RECORD", "100 of 100 records not delivered: INVALID_RECORD"} {
			if !strings.Contains(errs[i].Error(), want) {
				t.Errorf("attempt %d: %v, want %q", i+1, errs[i], want)
			}
		}
		all = append(all, b...)
	})

	t.Run("appended-unacknowledged", func(t *testing.T) {
		// The broker stores a batch but answers an error: the client does
		// not know the outcome, keeps the records in flight past Write's
		// timeout and resends them under the same sequence numbers, which
		// the broker deduplicates; the retried Writes must not add copies.
		h := c.Fault(kfake.Fault{
			Keys:  []kmsg.Key{kmsg.Produce},
			Topic: kafkaTestTopic,
			Err:   kerr.NotEnoughReplicasAfterAppend,
			Count: -1,
		})
		b := kafkaBatch(150, 100)
		errs := retry(t, b, 1, h.Remove)
		if !strings.Contains(errs[0].Error(), "not acknowledged after 1s") {
			t.Errorf("first attempt: %v, want records still in flight", errs[0])
		}
		all = append(all, b...)
	})

	t.Run("connection-drops", func(t *testing.T) {
		// Every produce request drops the connection until the outage
		// ends.
		var down atomic.Bool
		down.Store(true)
		c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			if down.Load() {
				return nil, errors.New("broker outage"), true
			}
			return nil, nil, false
		})
		b := kafkaBatch(250, 100)
		retry(t, b, 2, func() { down.Store(false) })
		all = append(all, b...)
	})

	consumeKafka(t, c, all)
}

// TestKafkaSinkCloseBounded closes a sink whose records are stuck in
// flight: Close gives up after its bound and says so.
func TestKafkaSinkCloseBounded(t *testing.T) {
	t.Parallel()
	c := newKafkaTestCluster(t)
	s, err := newKafkaSink(&KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ks := s.(*kafkaSink)
	ks.closeTimeout = 500 * time.Millisecond
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errors.New("broker outage"), true
	})
	if err := s.Write(kafkaBatch(0, 5)); err == nil {
		t.Fatal("write succeeded during the outage")
	}
	err = s.Close()
	if want := "audit: kafka: close: 10 records not acknowledged within 500ms: context deadline exceeded"; err == nil || err.Error() != want {
		t.Fatalf("close: %v, want %q", err, want)
	}
	ks.mu.Lock()
	n := ks.outstanding
	ks.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d records still outstanding after Close; the client should have failed them", n)
	}
}

func TestKafkaSinkSASL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("guess\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newKafkaTestCluster(t, kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "s3cret"),
		kfake.Superuser("SCRAM-SHA-256", "scram256-user", "s3cret"),
		kfake.Superuser("SCRAM-SHA-512", "scram512-user", "s3cret"),
	)
	var all [][]byte
	for i, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		user := map[string]string{"plain": "plain-user", "scram-sha-256": "scram256-user", "scram-sha-512": "scram512-user"}[mech]
		t.Run(mech, func(t *testing.T) {
			s := newKafkaTestSink(t, &KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic,
				SASL: SASLConfig{Mechanism: mech, Username: user, PasswordFile: good}})
			b := kafkaBatch(i*10, 10)
			if err := s.Write(b); err != nil {
				t.Fatalf("right password: %v", err)
			}
			all = append(all, b...)

			s = newKafkaTestSink(t, &KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic, Timeout: time.Second,
				SASL: SASLConfig{Mechanism: mech, Username: user, PasswordFile: bad}})
			err := s.Write(kafkaBatch(100, 1))
			// kfake closes the connection on bad credentials (Kafka
			// answers SASL_AUTHENTICATION_FAILED, which the error quotes).
			want := fmt.Sprintf("with sasl %s (user %q) usually means the credentials were rejected", mech, user)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("wrong password: got %v, want an error ending %q", err, want)
			}
		})
	}
	consumeKafka(t, c, all, kgo.SASL(plain.Auth{User: "plain-user", Pass: "s3cret"}.AsMechanism()))
}

func TestKafkaSinkTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, server := kafkaTestCA(t, dir)
	c := newKafkaTestCluster(t, kfake.TLS(server))
	s := newKafkaTestSink(t, &KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic,
		TLS: TLSConfig{CAFile: caFile, ServerName: "kafka.test"}})
	b := kafkaBatch(0, 20)
	if err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(caFile)
	roots.AppendCertsFromPEM(pemBytes)
	consumeKafka(t, c, b, kgo.DialTLSConfig(&tls.Config{RootCAs: roots, ServerName: "kafka.test"}))

	// The same broker, verified against the system roots, is refused.
	s = newKafkaTestSink(t, &KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic, Timeout: time.Second,
		TLS: TLSConfig{Enabled: true, ServerName: "kafka.test"}})
	if err := s.Write(b[:1]); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted broker: got %v, want a certificate error", err)
	}
}

// kafkaTestCA writes a CA certificate to dir and returns its path and a
// server TLS config for "kafka.test" signed by it.
func kafkaTestCA(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	ca := testpki.NewCA(t, "veil test ca")
	srv := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "kafka.test"},
		DNSNames: []string{"kafka.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil)
	return ca.WriteCert(t, filepath.Join(dir, "ca.pem")), &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{srv.TLS()}}
}

func TestKafkaSinkConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	base := KafkaConfig{Brokers: []string{"127.0.0.1:1"}, Topic: kafkaTestTopic}
	for name, tc := range map[string]struct {
		edit func(*KafkaConfig)
		want string
	}{
		"missing password file": {func(c *KafkaConfig) {
			c.SASL = SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: missing}
		}, "audit: kafka sasl password_file: open " + missing + ": no such file or directory"},
		"no password file": {func(c *KafkaConfig) {
			c.SASL = SASLConfig{Mechanism: "scram-sha-256", Username: "u"}
		}, "audit: kafka sasl scram-sha-256 needs password_file"},
		"unknown mechanism": {func(c *KafkaConfig) {
			c.SASL = SASLConfig{Mechanism: "gssapi", PasswordFile: notPEM}
		}, `audit: kafka sasl mechanism "gssapi": want plain, scram-sha-256 or scram-sha-512`},
		"missing ca file": {func(c *KafkaConfig) { c.TLS.CAFile = missing },
			"audit: kafka tls ca_file: open " + missing + ": no such file or directory"},
		"bad ca file": {func(c *KafkaConfig) { c.TLS.CAFile = notPEM },
			"audit: kafka tls ca_file " + notPEM + ": no PEM certificate found"},
		"cert without key": {func(c *KafkaConfig) { c.TLS.CertFile = notPEM },
			"audit: kafka tls: cert_file and key_file go together"},
		"bad client cert": {func(c *KafkaConfig) { c.TLS.CertFile, c.TLS.KeyFile = notPEM, notPEM },
			"audit: kafka tls client certificate: tls: failed to find any PEM data in certificate input"},
		"no topic": {func(c *KafkaConfig) { c.Topic = "" },
			"audit: kafka sink needs brokers and topic"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			s, err := newKafkaSink(&c)
			if err == nil {
				_ = s.Close()
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestKafkaChainKey(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ line, want string }{
		"event":      {`{"time":"t","chain_id":"ab12","seq":7,"hash":"h"}`, "ab12"},
		"checkpoint": {`{"time":"t","checkpoint":{"chain_id":"cd34","seq":1000,"hash":"h"},"sig":"s"}`, "cd34"},
		"segment":    {`{"time":"t","segment":{"chain_id":"ef56","prev":{"chain_id":"ab12","seq":3,"hash":"h"}},"sig":"s"}`, "ef56"},
		"escaped":    {`{"time":"t","reason":"\"chain_id\":\"zz\"","chain_id":"ab12"}`, "ab12"},
		"none":       {`{"time":"t"}`, ""},
		"cut":        {`{"time":"t","chain_id":"ab`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := chainKey([]byte(tc.line)); string(got) != tc.want {
				t.Fatalf("chainKey = %q, want %q", got, tc.want)
			}
		})
	}
}
