package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/veilgw/veil/internal/syncbuf"
)

// End-to-end tests of the audit pipeline: a real Logger, its queues and
// delivery goroutines, and the network sinks against real servers on
// loopback (kfake, httptest) that fail the way production ones do. What a
// destination ends up holding is checked line by line and by Verify.

// logConcurrently logs n events from workers goroutines, numbering their
// request ids from first, optionally pausing between events, and fails the
// test on any Log error.
func logConcurrently(t *testing.T, l *Logger, first, n, workers int, pause time.Duration) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make(chan error, n)
	)
	next.Store(int64(first))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(first+n) {
					return
				}
				e := sampleEvent()
				e.RequestID = fmt.Sprintf("r%d", i)
				if err := l.Log(e); err != nil {
					errs <- fmt.Errorf("event %d: %w", i, err)
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// trailLine is what checkTrail reads of a record.
type trailLine struct {
	ChainID    string `json:"chain_id"`
	Seq        uint64 `json:"seq"`
	Checkpoint *struct {
		ChainID string `json:"chain_id"`
		Seq     uint64 `json:"seq"`
	} `json:"checkpoint"`
	Segment *struct {
		ChainID string `json:"chain_id"`
	} `json:"segment"`
}

// checkTrail asserts that lines (no newlines) are exactly the records of
// chain with n events and a checkpoint every `every` events plus the one
// Close writes: the segment record, then events 1..n in order, each once,
// with the checkpoints where the Logger queued them. The layout is fixed
// because Log queues an event and its checkpoint under one lock.
func checkTrail(t *testing.T, lines []string, chain string, n, every int) {
	t.Helper()
	var want []string // expected kind@seq per line
	want = append(want, "segment@0")
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("event@%d", i))
		if i%every == 0 || i == n {
			want = append(want, fmt.Sprintf("checkpoint@%d", i))
		}
	}
	got := make([]string, len(lines))
	for i, l := range lines {
		var r trailLine
		var raw map[string]json.RawMessage
		if err := errors.Join(json.Unmarshal([]byte(l), &r), json.Unmarshal([]byte(l), &raw)); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i+1, err, l)
		}
		switch {
		case r.Segment != nil:
			got[i], r.ChainID = "segment@0", r.Segment.ChainID
		case r.Checkpoint != nil:
			got[i], r.ChainID = fmt.Sprintf("checkpoint@%d", r.Checkpoint.Seq), r.Checkpoint.ChainID
		case raw["prev_hash"] != nil:
			got[i] = fmt.Sprintf("event@%d", r.Seq)
		default:
			got[i] = "unknown"
		}
		if r.ChainID != chain {
			t.Errorf("line %d (%s) is of chain %q, want %q", i+1, got[i], r.ChainID, chain)
		}
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for k, c := range seen {
		if c > 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	for _, w := range want {
		if seen[w] == 0 {
			t.Errorf("%s lost", w)
		}
	}
	if !t.Failed() {
		for i := range want {
			if i >= len(got) || got[i] != want[i] {
				t.Errorf("line %d is %s, want %s: order lost", i+1, kindAt(got, i), want[i])
				break
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d lines, want %d", len(got), len(want))
	}
	if t.Failed() {
		t.FailNow()
	}
}

// kindAt is s[i], or "(missing)" past its end.
func kindAt(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(missing)"
}

// verifyLines writes lines (no newlines) to a file, one per line, and
// asserts Verify finds one intact chain of n events, all checkpointed.
func verifyLines(t *testing.T, lines []string, n int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "received.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey)
	rep, err := Verify(pub, p)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].Events != n || rep.Chains[0].CheckpointSeq != uint64(n) {
		t.Fatalf("verify of the received trail: %+v", rep)
	}
}

// consumeTopic returns the values of every record of the topic (up to the
// high watermarks), in offset order per partition.
func consumeTopic(t *testing.T, c *kfake.Cluster) []string {
	t.Helper()
	var total int64
	for _, p := range c.PartitionInfos(kafkaTestTopic) {
		total += p.HighWatermark
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(kafkaTestTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	parts := map[int32]bool{}
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), total, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		for _, r := range fs.Records() {
			parts[r.Partition] = true
			out = append(out, string(r.Value))
		}
	}
	if len(parts) != 1 {
		t.Fatalf("one chain's records are in %d partitions", len(parts))
	}
	return out
}

func sinkStats(t *testing.T, l *Logger, name string) SinkStats {
	t.Helper()
	for _, s := range l.SinkStats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sink %q", name)
	return SinkStats{}
}

// TestPipelineKafkaOutageLosesNothing: the broker drops every produce
// request for a while as events keep coming; the pipeline reports it
// unhealthy, keeps the records, and once the broker is back the topic
// holds the whole chain exactly once, in order, verifiable.
func TestPipelineKafkaOutageLosesNothing(t *testing.T) {
	t.Parallel()
	c := newKafkaTestCluster(t)
	var down atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if down.Load() {
			return nil, errors.New("broker outage"), true // kfake drops the connection
		}
		return nil, nil, false
	})
	var out syncbuf.Buffer
	l, err := New(Config{
		Sinks: []SinkConfig{
			{Type: "kafka", Kafka: KafkaConfig{Brokers: c.ListenAddrs(), Topic: kafkaTestTopic, Timeout: time.Second}},
			{Type: "stdout"},
		},
		Checkpoint: CheckpointConfig{EveryEvents: 50, Every: -1},
	}, Options{Stdout: &out, Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	t.Cleanup(func() { down.Store(false) }) // runs first: a failed test still closes quickly

	const perPhase = 100
	logConcurrently(t, l, 0, perPhase, 4, 0)
	// Segment, events and 2 checkpoints in Kafka before the outage.
	waitFor(t, func() bool { return sinkStats(t, l, "kafka").Written == 1+perPhase+2 })
	if err := l.Healthy(); err != nil {
		t.Fatalf("before the outage: %v", err)
	}

	down.Store(true)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		logConcurrently(t, l, perPhase, perPhase, 4, 20*time.Millisecond)
	}()
	waitFor(t, func() bool { return l.Healthy() != nil })
	if err := l.Healthy(); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "audit sink kafka:") {
		t.Fatalf("during the outage: %v, want the kafka sink failing or stalled", err)
	}
	if err := l.Reserve(sampleEvent()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("reserve during the outage: %v, want ErrUnhealthy", err)
	}
	<-done
	if d := 2*time.Second - time.Since(start); d > 0 {
		time.Sleep(d) // keep the outage going for ~2s in all
	}
	down.Store(false)

	logConcurrently(t, l, 2*perPhase, perPhase, 4, 0)
	waitFor(t, func() bool { return l.Healthy() == nil && sinkStats(t, l, "kafka").Queued == 0 })
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	st := sinkStats(t, l, "kafka")
	if st.Dropped != 0 || st.Errors == 0 {
		t.Errorf("kafka sink stats %+v: want no drops and some failed writes", st)
	}
	const n = 3 * perPhase
	got := consumeTopic(t, c)
	checkTrail(t, got, l.ChainID(), n, 50)
	// Kafka holds exactly what the healthy stdout sink got.
	if want := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("kafka (%d records) differs from stdout (%d lines)", len(got), len(want))
	}
	verifyLines(t, got, n)
}

// TestPipelineWebhookFlakyServerLosesNothing: a collector that refuses
// every third POST, asks once to come back later (429, Retry-After), fails
// a POST three times running (the whole Write fails and the batch is
// retried by the queue, resuming after its delivered part) and once
// answers too late: every line arrives exactly once, in order.
func TestPipelineWebhookFlakyServerLosesNothing(t *testing.T) {
	t.Parallel()
	var slowSeen, retryAfterSeen atomic.Bool
	rec := &webhookRecorder{respond: func(n int, w http.ResponseWriter, r *http.Request) bool {
		switch {
		case n == 4:
			retryAfterSeen.Store(true)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return false
		case n == 5, n%3 == 0: // 4, 5, 6 fail: one POST out of attempts
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		case n == 10:
			// Too slow: the client gives up first, and the body is not
			// stored, so a retry is no duplicate.
			slowSeen.Store(true)
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return true
	}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)

	l, err := New(Config{
		Sinks: []SinkConfig{{Type: "webhook", Webhook: WebhookConfig{URL: srv.URL + "/hec",
			Timeout: time.Second, MaxBatchBytes: 4 << 10}}}, // ~7 events per POST: many POSTs
		Checkpoint: CheckpointConfig{EveryEvents: 50, Every: -1},
	}, Options{Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })

	const n = 500
	logConcurrently(t, l, 0, n, 8, 0)
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	posts, bodies, received := rec.snapshot()
	if !slowSeen.Load() || !retryAfterSeen.Load() {
		t.Fatalf("only %d POSTs: the slow answer (%v) or the 429 (%v) never happened", posts, slowSeen.Load(), retryAfterSeen.Load())
	}
	t.Logf("%d POSTs, %d stored", posts, len(bodies))
	st := sinkStats(t, l, "webhook")
	if st.Dropped != 0 || st.Errors == 0 {
		t.Errorf("webhook sink stats %+v: want no drops and a failed Write", st)
	}
	got := strings.Split(strings.TrimSuffix(string(received), "\n"), "\n")
	checkTrail(t, got, l.ChainID(), n, 50)
	verifyLines(t, got, n)
}

// TestPipelineDenyModeSlowSinkBoundsInFlight: with a collector that does
// not answer and no spool, deny mode admits only as many requests as the
// queue has slots, reports the stalled sink, and delivers every admitted
// event once the collector answers.
func TestPipelineDenyModeSlowSinkBoundsInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	rec := &webhookRecorder{respond: func(_ int, w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
			return true
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
	}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)

	const queue = 8
	l, err := New(Config{
		Sinks: []SinkConfig{{Type: "webhook", QueueSize: queue,
			Webhook: WebhookConfig{URL: srv.URL, Timeout: 30 * time.Second}}},
		OnFailure:  "deny",
		Checkpoint: CheckpointConfig{Every: -1},
	}, Options{Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	t.Cleanup(open) // runs first, so Close does not wait on a blocked POST

	// The segment record's POST is in flight and keeps its slot until it
	// is answered: queue-1 slots are free.
	waitFor(t, func() bool { posts, _, _ := rec.snapshot(); return posts == 1 })
	var admitted []*Event
	for i := range queue - 1 {
		e := sampleEvent()
		e.RequestID = fmt.Sprintf("r%d", i)
		if err := l.Reserve(e); err != nil {
			t.Fatalf("reserve %d of %d free slots: %v", i+1, queue-1, err)
		}
		admitted = append(admitted, e)
	}
	if err := l.Reserve(sampleEvent()); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("reserve with every slot taken: %v, want ErrUnhealthy (queue full)", err)
	}
	for i, e := range admitted {
		if err := l.Log(e); err != nil {
			t.Fatalf("log reserved event %d: %v", i, err)
		}
	}
	if err := l.Reserve(sampleEvent()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("reserve with the queue full of events: %v, want ErrUnhealthy", err)
	}

	// The POST has been in flight past stallAfter: stalled.
	waitFor(t, func() bool { return l.Healthy() != nil })
	if err := l.Healthy(); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "audit sink webhook: stalled") {
		t.Fatalf("healthy with a POST in flight for over %s: %v, want stalled", stallAfter, err)
	}
	if st := sinkStats(t, l, "webhook"); st.Healthy || st.Queued != queue || st.Written != 0 {
		t.Fatalf("stalled sink stats %+v", st)
	}

	open()
	waitFor(t, func() bool { return l.Healthy() == nil && sinkStats(t, l, "webhook").Queued == 0 })
	// Capacity is back: one more request is admitted and logged.
	e := sampleEvent()
	e.RequestID = "after"
	if err := l.Reserve(e); err != nil {
		t.Fatalf("reserve after recovery: %v", err)
	}
	if err := l.Log(e); err != nil {
		t.Fatalf("log after recovery: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, d := l.Stats(); d != 0 {
		t.Errorf("%d events dropped", d)
	}
	_, _, received := rec.snapshot()
	got := strings.Split(strings.TrimSuffix(string(received), "\n"), "\n")
	n := queue - 1 + 1
	checkTrail(t, got, l.ChainID(), n, 1000)
	verifyLines(t, got, n)
}
