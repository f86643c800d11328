package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestAppendEventMatchesZap: the hand-written encoder writes exactly what
// the zap JSON encoder writes for the same event (MarshalLogObject), for
// plain, empty, escaped, non-ASCII and invalid UTF-8 values.
func TestAppendEventMatchesZap(t *testing.T) {
	t.Parallel()
	enc := newEncoder()
	tricky := "q\"uote\\back\nnl\rcr\ttab\x01ctl\x7fdel <>& é 日本 \xff\xfe bad"
	events := []*Event{
		sampleEvent(),
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{Time: time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("x", 3600)), ChainID: "abc", Seq: 42, prevHash: []byte("0123abcd"),
			RequestID: tricky, DecisionID: "d1", Route: tricky, Method: "PATCH", Path: tricky, Status: 503, Reason: tricky, ErrorCode: "audit_unavailable",
			SubjectID: tricky, SubjectRoles: []string{"a", tricky, ""}, SubjectMethod: "api_key", ClientIP: "::1", PolicyRevision: "r",
			Transforms:   []TransformCount{{Direction: "request", Path: `$["a\"b"]`, Action: "mask", Count: 0}, {Direction: "query", Path: tricky, Action: "x", Count: -1}},
			FailedValues: 7, RecordIDs: []string{`"c-1"`, "42", tricky}, RecordIDsCut: true, Tags: map[string]string{tricky: tricky},
			BytesIn: -1, BytesOut: 1 << 40, Duration: 1234567 * time.Nanosecond, UpstreamStatus: 200},
	}
	for i, e := range events {
		buf, err := enc.EncodeEntry(zapcore.Entry{Time: e.Time}, []zapcore.Field{{Type: zapcore.InlineMarshalerType, Interface: e}})
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		got := appendEvent(nil, e)
		if !bytes.Equal(got, want) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("event %d: not JSON: %s", i, got)
		}
	}
	// Several tags: sorted keys (zap follows map order).
	e := sampleEvent()
	e.Tags = map[string]string{"b": "2", "a": "1", "c": "3"}
	if got := appendEvent(nil, e); !bytes.Contains(got, []byte(`"tags":{"a":"1","b":"2","c":"3"}`)) {
		t.Errorf("tags: %s", got)
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	e := sampleEvent()
	e.RecordIDs = []string{`"c-0000010"`, `"c-0000011"`, `"c-0000012"`, `"c-0000013"`, `"c-0000014"`, `"c-0000015"`, `"c-0000016"`, `"c-0000017"`, `"c-0000018"`, `"c-0000019"`}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = appendEvent(dst[:0], e)
	}
}

// newEncoder is the zap JSON encoder the audit line format was defined
// with (the reference for appendEvent).
func newEncoder() zapcore.Encoder {
	return zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey:        "time",
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		LineEnding:     "\n",
		EncodeDuration: zapcore.NanosDurationEncoder,
	})
}
