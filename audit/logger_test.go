package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestLogWritesOneJSONLinePerEvent(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l, err := New(Config{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
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
	if w, f := l.Stats(); w != 3 || f != 0 {
		t.Errorf("stats %d %d", w, f)
	}
}

func TestFileSinkAndValidation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := New(Config{Sinks: []SinkConfig{{Type: "file", Path: path}}}, nil)
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
	if err != nil || !json.Valid(bytes.TrimSpace(data)) {
		t.Fatalf("file sink: %q %v", data, err)
	}
	for _, c := range []Config{
		{OnFailure: "maybe"},
		{Sinks: []SinkConfig{{Type: "file"}}},
		{Sinks: []SinkConfig{{Type: "carrier-pigeon"}}},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

type failingWriter struct{ fail bool }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestSinkFailureMarksUnhealthyUntilRecovery(t *testing.T) {
	t.Parallel()
	w := &failingWriter{fail: true}
	l, _ := New(Config{}, w)
	if err := l.Log(sampleEvent()); err == nil {
		t.Fatal("write error not reported")
	}
	if !errors.Is(l.Healthy(), ErrUnhealthy) {
		t.Fatal("not unhealthy after a failed write")
	}
	w.fail = false
	if err := l.Log(sampleEvent()); err != nil || l.Healthy() != nil {
		t.Fatalf("not recovered: %v %v", err, l.Healthy())
	}
}
