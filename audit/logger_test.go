package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/syncbuf"
)

func sampleEvent() *Event {
	return &Event{
		Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), RequestID: "r1", Route: "crm", Method: "GET",
		Path: "/crm/customers/{id}", Status: 200, Allowed: true, SubjectID: "alice", SubjectRoles: []string{"support"},
		ClientIP: "127.0.0.1", PolicyRevision: "abc",
		Transforms: []TransformCount{{Direction: "response", Path: "$..ssn", Action: "mask", Count: 3}},
		RecordIDs:  []string{`"c-1"`}, BytesIn: 0, BytesOut: 120, Duration: 1500 * time.Microsecond, UpstreamStatus: 200,
	}
}

// events returns the event lines (no checkpoint or segment records).
func events(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.Contains(l, `"prev_hash":`) {
			out = append(out, l)
		}
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLogWritesOneJSONLinePerEvent(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	l, err := New(Config{}, Options{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := events(out.String())
	if len(lines) != 3 {
		t.Fatalf("%d event lines: %q", len(lines), out.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"time": "2026-11-22T10:00:00Z", "route": "crm", "status": 200.0, "allowed": true, "duration_us": 1500.0, "path": "/crm/customers/{id}"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	sub := m["subject"].(map[string]any)
	if sub["id"] != "alice" || sub["roles"].([]any)[0] != "support" {
		t.Errorf("subject %v", sub)
	}
	tr := m["transforms"].([]any)[0].(map[string]any)
	if tr["action"] != "mask" || tr["count"] != 3.0 || tr["direction"] != "response" {
		t.Errorf("transforms %v", tr)
	}
	if w, d := l.Stats(); w != 3 || d != 0 {
		t.Errorf("stats %d %d", w, d)
	}
	st := l.SinkStats()
	if len(st) != 1 || st[0].Name != "stdout" || st[0].Written != 4 || st[0].Queued != 0 || !st[0].Healthy {
		t.Errorf("sink stats %+v (want the segment record and 3 events written)", st)
	}
}

func TestFileSinkAndValidation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(Config{Sinks: []SinkConfig{{Type: "file", Path: path}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Log(sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(events(string(data))) != 1 {
		t.Fatalf("file sink: %q %v", data, err)
	}
	for _, c := range []Config{
		{OnFailure: "maybe"},
		{Sinks: []SinkConfig{{Type: "file"}}},
		{Sinks: []SinkConfig{{Type: "carrier-pigeon"}}},
		{Sinks: []SinkConfig{{Type: "stdout", Witness: true}}},
		{Sinks: []SinkConfig{{Type: "stdout", Name: "a"}, {Type: "stdout", Name: "a"}}},
		{Sinks: []SinkConfig{{Type: "file", Path: path, Fsync: "sometimes"}}},
		{Sinks: []SinkConfig{{Type: "file", Path: path, MaxSizeMB: -1}}},
		{Sinks: []SinkConfig{{Type: "kafka"}}},
		{Sinks: []SinkConfig{{Type: "webhook"}}},
	} {
		if _, err := New(c, Options{}); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// flakyWriter fails while fail is set, blocks while gate is closed and
// takes delay per write.
type flakyWriter struct {
	syncbuf.Buffer
	fail  atomic.Bool
	calls atomic.Int64
	gate  chan struct{} // nil: open
	delay atomic.Int64  // per write (a slow destination)
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	w.calls.Add(1)
	if w.gate != nil {
		<-w.gate
	}
	time.Sleep(time.Duration(w.delay.Load()))
	if w.fail.Load() {
		return 0, errors.New("disk full")
	}
	return w.Buffer.Write(p)
}

// TestFailingSinkKeepsEventsUntilRecovery: a sink error never loses an
// event: the batch is retried until the sink recovers, in order, and the
// pipeline reports unhealthy (deny mode refuses requests) meanwhile.
func TestFailingSinkKeepsEventsUntilRecovery(t *testing.T) {
	t.Parallel()
	w := &flakyWriter{}
	w.fail.Store(true)
	l, err := New(Config{Checkpoint: CheckpointConfig{Every: -1}}, Options{Stdout: w, Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return l.Healthy() != nil })
	if !errors.Is(l.Healthy(), ErrUnhealthy) || !errors.Is(l.Reserve(&Event{}), ErrUnhealthy) {
		t.Fatal("a failing sink does not make the pipeline unhealthy")
	}
	waitFor(t, func() bool { return w.calls.Load() >= 3 }) // retried with backoff
	w.fail.Store(false)
	waitFor(t, func() bool { return l.Healthy() == nil && len(events(w.String())) == 20 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trail.log")
	if err := os.WriteFile(p, []byte(w.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey), p)
	if err != nil || !rep.OK() || rep.Chains[0].Events != 20 {
		t.Fatalf("after recovery: %+v %v", rep, err)
	}
	if st := l.SinkStats()[0]; st.Errors < 2 || st.Dropped != 0 {
		t.Errorf("sink stats %+v", st)
	}
}

// TestFullQueueSpoolsInOrder: a slow sink fills its queue; the overflow
// goes to the spool, and delivery keeps chain order across both.
func TestFullQueueSpoolsInOrder(t *testing.T) {
	t.Parallel()
	w := &flakyWriter{gate: make(chan struct{})}
	spool := t.TempDir()
	l, err := New(Config{Sinks: []SinkConfig{{Type: "stdout", QueueSize: 4}}, SpoolDir: spool}, Options{Stdout: w})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if st := l.SinkStats()[0]; st.Spooled == 0 || st.Queued > 4 {
		t.Fatalf("no spooling with a full queue: %+v", st)
	}
	close(w.gate)
	waitFor(t, func() bool { return len(events(w.String())) == 50 })
	for i, line := range events(w.String()) {
		var ev struct{ Seq int }
		_ = json.Unmarshal([]byte(line), &ev)
		if ev.Seq != i+1 {
			t.Fatalf("line %d has seq %d: order lost between queue and spool", i, ev.Seq)
		}
	}
	waitFor(t, func() bool { return l.SinkStats()[0].Spooled == 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(spool, "stdout.spool")); err != nil || fi.Size() != 0 {
		t.Errorf("spool not emptied after delivery: %v %v", fi, err)
	}
}

// TestReserveAndDrops: without a spool, deny mode's reservation bounds
// the requests in flight by the queue; an event with no slot is dropped
// and counted, never blocking the caller.
func TestReserveAndDrops(t *testing.T) {
	t.Parallel()
	w := &flakyWriter{gate: make(chan struct{})}
	l, err := New(Config{Sinks: []SinkConfig{{Type: "stdout", QueueSize: 4}}}, Options{Stdout: w})
	if err != nil {
		t.Fatal(err)
	}
	// The segment record is in the blocked Write and keeps its slot until
	// it is delivered: 3 slots are left.
	waitFor(t, func() bool { return w.calls.Load() == 1 })
	var evs [3]Event
	for i := range evs {
		if err := l.Reserve(&evs[i]); err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
	}
	if err := l.Reserve(&Event{}); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("4th reservation with 3 free slots: %v", err)
	}
	if err := l.Log(sampleEvent()); !errors.Is(err, ErrDropped) {
		t.Fatalf("unreserved event with every slot reserved: %v", err)
	}
	for i := range evs {
		e := sampleEvent()
		e.reserved = evs[i].reserved
		if err := l.Log(e); err != nil {
			t.Fatalf("reserved event %d: %v", i, err)
		}
	}
	if _, d := l.Stats(); d != 1 {
		t.Fatalf("dropped %d, want 1", d)
	}
	close(w.gate)
	waitFor(t, func() bool { return len(events(w.String())) == 3 })
	_ = l.Close()
}

// spoolingLogger logs to w through a stdout sink of queueSize slots with a
// 1 MiB spool, without checkpoints.
func spoolingLogger(t *testing.T, w io.Writer, queueSize int) *Logger {
	t.Helper()
	l, err := New(Config{
		Sinks:      []SinkConfig{{Type: "stdout", QueueSize: queueSize}},
		SpoolDir:   t.TempDir(),
		SpoolMaxMB: 1,
		Checkpoint: CheckpointConfig{Every: -1},
	}, Options{Stdout: w})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReservedEventNeverDroppedByAFullSpool: requests reserved their
// events' places, then the sink started spooling (refused requests'
// events overflowed its queue) and the spool filled up. The reserved
// events go to the spool too (chain order), and are never dropped: the
// spool keeps room for them, and spools one larger than that room anyway.
func TestReservedEventNeverDroppedByAFullSpool(t *testing.T) {
	t.Parallel()
	w := &flakyWriter{gate: make(chan struct{})}
	l := spoolingLogger(t, w, 4)
	defer l.Close()
	var once sync.Once
	release := func() { once.Do(func() { close(w.gate) }) }
	defer release()
	waitFor(t, func() bool { return w.calls.Load() == 1 }) // the segment record's Write blocks
	var held [2]Event
	for i := range held {
		if err := l.Reserve(&held[i]); err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
	}
	// Requests refused meanwhile: their events take the last free slot,
	// then the spool, until it is full.
	kept := 0
	for ; ; kept++ {
		err := l.Log(sampleEvent())
		if errors.Is(err, ErrDropped) {
			break
		}
		if err != nil || kept > 100000 {
			t.Fatalf("unreserved event %d: %v", kept, err)
		}
	}
	if st := l.SinkStats()[0]; st.Spooled == 0 {
		t.Fatalf("nothing spooled: %+v", st)
	}
	o := l.outs[0]
	o.mu.Lock()
	free := o.spool.max - o.spool.size
	o.mu.Unlock()
	if free < int64(len(held))*spoolHold {
		t.Errorf("the refused requests' events left %d bytes of the spool, want the room kept for %d reserved events", free, len(held))
	}
	for i := range held {
		e := sampleEvent()
		if i == 1 {
			e.Path = "/" + strings.Repeat("p", 3*spoolHold) // more than the room kept for it
		}
		e.reserved = held[i].reserved
		if err := l.Log(e); err != nil {
			t.Fatalf("reserved event %d with the spool full: %v", i, err)
		}
	}
	release()
	waitFor(t, func() bool { return len(events(w.String())) == kept+len(held) })
}

// TestReserveRefusedWhileAFullSpoolDrains: after an outage that filled the
// spool, the sink recovers and is healthy, but every new event goes to
// the spool (order) until it is drained, and the spool has no room:
// Reserve refuses (the gateway answers 503) instead of admitting a request
// whose event would be dropped. Once the spool is drained, it admits again.
func TestReserveRefusedWhileAFullSpoolDrains(t *testing.T) {
	t.Parallel()
	w := &flakyWriter{}
	w.fail.Store(true)
	l := spoolingLogger(t, w, 8)
	defer l.Close()
	for i := 0; ; i++ {
		if err := l.Log(sampleEvent()); errors.Is(err, ErrDropped) {
			break
		} else if err != nil || i > 100000 {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	w.delay.Store(int64(100 * time.Millisecond)) // recovered, slowly
	w.fail.Store(false)
	waitFor(t, func() bool { return l.Healthy() == nil })
	admitted, refused := 0, 0
	for l.SinkStats()[0].Spooled > 0 {
		e := sampleEvent()
		if err := l.Reserve(e); err != nil {
			if !errors.Is(err, ErrUnhealthy) {
				t.Fatalf("reserve while the spool drains: %v, want ErrUnhealthy", err)
			}
			if strings.Contains(err.Error(), "spool full") {
				refused++
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		admitted++
		if err := l.Log(e); err != nil {
			t.Fatalf("admitted (reserved) event %d while the spool drains: %v", admitted, err)
		}
	}
	if refused == 0 {
		t.Error(`Reserve never refused ("spool full") while a full spool drained`)
	}
	e := sampleEvent()
	if err := l.Reserve(e); err != nil {
		t.Fatalf("reserve once the spool is drained: %v", err)
	}
	if err := l.Log(e); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownSpoolsWhatASinkCannotTake: a sink down at shutdown keeps
// its records on disk; the next start delivers them first.
func TestShutdownSpoolsWhatASinkCannotTake(t *testing.T) {
	t.Parallel()
	spool := t.TempDir()
	cfg := Config{SpoolDir: spool, DrainTimeout: 200 * time.Millisecond, Checkpoint: CheckpointConfig{Every: -1}}
	down := &flakyWriter{}
	down.fail.Store(true)
	l, err := New(cfg, Options{Stdout: down})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		_ = l.Log(sampleEvent())
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close with a spool: %v", err)
	}
	up := &syncbuf.Buffer{}
	l2, err := New(cfg, Options{Stdout: up})
	if err != nil {
		t.Fatal(err)
	}
	_ = l2.Log(sampleEvent())
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(up.String()), "\n")
	if len(lines) != 1+5+1+1 || !strings.Contains(lines[0], `"segment":{"chain_id":"`+l.ChainID()) ||
		!strings.Contains(lines[6], `"segment":{"chain_id":"`+l2.ChainID()) || !strings.Contains(lines[7], l2.ChainID()) {
		t.Fatalf("delivered after restart:\n%s", up.String())
	}
}

// TestShutdownDoesNotSpoolADeliveredBatch: drain_timeout passes while a
// Write to a slow destination is in flight; the Write then completes
// (shutdown waits for it). Its batch is delivered, so it is not spooled:
// after the restart every event is there once and the trail verifies.
func TestShutdownDoesNotSpoolADeliveredBatch(t *testing.T) {
	t.Parallel()
	cfg := Config{SpoolDir: t.TempDir(), DrainTimeout: 100 * time.Millisecond, Checkpoint: CheckpointConfig{Every: -1}}
	priv := ed25519.NewKeyFromSeed(testSeed)
	w := &flakyWriter{}
	w.delay.Store(int64(400 * time.Millisecond))
	l, err := New(cfg, Options{Stdout: w, Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return w.calls.Load() >= 1 }) // a Write is in flight
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	w.delay.Store(0)
	l2, err := New(cfg, Options{Stdout: w, Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Log(sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trail.log")
	if err := os.WriteFile(p, []byte(w.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(priv.Public().(ed25519.PublicKey), p)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(events(w.String())); n != 6 || !rep.OK() {
		t.Errorf("%d event lines for 6 events; damages %+v\n%s", n, rep.Damages, w.String())
	}
}

// TestShutdownSpoolsABatchStillInFlight: a Write that outlasts
// drain_timeout and the grace shutdown gives it may or may not land: its
// batch is spooled, so the next start delivers it (at least once).
func TestShutdownSpoolsABatchStillInFlight(t *testing.T) {
	t.Parallel()
	cfg := Config{SpoolDir: t.TempDir(), DrainTimeout: 50 * time.Millisecond, Checkpoint: CheckpointConfig{Every: -1}}
	stuck := &flakyWriter{gate: make(chan struct{})}
	defer close(stuck.gate)
	l, err := New(cfg, Options{Stdout: stuck})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return stuck.calls.Load() >= 1 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	up := &syncbuf.Buffer{}
	l2, err := New(cfg, Options{Stdout: up})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(up.String(), `"segment":{"chain_id":"`+l.ChainID()) || len(events(up.String())) != 5 {
		t.Errorf("delivered after restart:\n%s", up.String())
	}
}

// TestECSFormatSink: a sink with format ecs gets the same records with
// Elastic Common Schema names, the chain fields under veil.*, while the
// canonical sink keeps the verifiable lines.
func TestECSFormatSink(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	var ecs syncbuf.Buffer
	l, err := New(Config{Sinks: []SinkConfig{{Type: "file", Path: path}, {Type: "stdout", Format: "ecs"}}, Checkpoint: CheckpointConfig{Every: -1}},
		Options{Stdout: &ecs, Signer: ed25519.NewKeyFromSeed(testSeed)})
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent()
	ev.Allowed, ev.Status, ev.Reason, ev.ErrorCode, ev.Tags = false, 403, "not yours", "policy_denied", map[string]string{"purpose": "support"}
	_ = l.Log(ev)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimSpace(ecs.String()), "\n")
	if len(docs) != 3 {
		t.Fatalf("ecs sink: %d documents (want segment, event, checkpoint):\n%s", len(docs), ecs.String())
	}
	var d struct {
		Timestamp string `json:"@timestamp"`
		Event     struct {
			Kind, Outcome, Action, ID, Reason string
			Type                              []string
			Duration                          int64
		}
		HTTP struct {
			Request  struct{ Method string }
			Response struct {
				StatusCode int `json:"status_code"`
			}
		}
		URL    struct{ Path string }
		User   struct{ ID string }
		Source struct{ IP string }
		Error  struct{ Code string }
		Labels map[string]string
		Veil   struct {
			ChainID string `json:"chain_id"`
			Seq     int
			Hash    string
		}
	}
	if err := json.Unmarshal([]byte(docs[1]), &d); err != nil {
		t.Fatal(err)
	}
	canon, _ := os.ReadFile(path)
	ev1 := events(string(canon))[0]
	if d.Timestamp != "2026-11-22T10:00:00Z" || d.Event.Kind != "event" || d.Event.Outcome != "failure" || d.Event.Type[1] != "denied" ||
		d.Event.ID != "r1" || d.Event.Reason != "not yours" || d.Event.Duration != 1500000 || d.HTTP.Request.Method != "GET" ||
		d.HTTP.Response.StatusCode != 403 || d.URL.Path != "/crm/customers/{id}" || d.User.ID != "alice" || d.Source.IP != "127.0.0.1" ||
		d.Error.Code != "policy_denied" || d.Labels["purpose"] != "support" || d.Veil.ChainID != l.ChainID() || d.Veil.Seq != 1 ||
		!strings.Contains(ev1, `"hash":"`+d.Veil.Hash+`"`) {
		t.Fatalf("ecs document: %+v\ncanonical: %s", d, ev1)
	}
	if !strings.Contains(docs[0], `"action":"veil-audit-segment"`) || !strings.Contains(docs[2], `"action":"veil-audit-checkpoint"`) {
		t.Fatalf("ecs state documents:\n%s\n%s", docs[0], docs[2])
	}
	if rep, err := Verify(ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey), path); err != nil || !rep.OK() {
		t.Fatalf("canonical sink beside an ecs sink: %+v %v", rep, err)
	}
}

// TestFileSinkRepairsATornLastLine: a crash can cut the file's last line
// (an interrupted multi-page write); the next start moves the fragment
// aside instead of gluing its first record to it, and the trail verifies.
func TestFileSinkRepairsATornLastLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	cfg := Config{Sinks: []SinkConfig{{Type: "file", Path: path}}, Checkpoint: CheckpointConfig{Every: -1}}
	opts := Options{Signer: ed25519.NewKeyFromSeed(testSeed)}
	l, _ := New(cfg, opts)
	_ = l.Log(sampleEvent())
	_ = l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	frag := `{"time":"2026-11-22T10:00:00Z","chain_id":"0123456789abcdef01234567","seq":1,"prev_ha`
	_, _ = f.WriteString(frag)
	f.Close()
	l, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Log(sampleEvent())
	_ = l.Close()
	rep, err := Verify(ed25519.NewKeyFromSeed(testSeed).Public().(ed25519.PublicKey), path)
	if err != nil || !rep.OK() || len(rep.Chains) != 2 {
		t.Fatalf("after a torn line: %+v %v", rep, err)
	}
	torn, _ := filepath.Glob(filepath.Join(dir, ".audit.log.torn-*"))
	if len(torn) != 1 {
		t.Fatalf("torn fragment not kept: %v", torn)
	}
	if b, _ := os.ReadFile(torn[0]); string(b) != frag {
		t.Fatalf("kept fragment %q", b)
	}
}
