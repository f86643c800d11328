package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestAppendEventMatchesZap: the hand-written encoder writes exactly what
// the zap JSON encoder writes for the same event (MarshalLogObject), for
// plain, empty, escaped, non-ASCII and invalid UTF-8 values.
func TestAppendEventMatchesZap(t *testing.T) {
	t.Parallel()
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
	var times timeCache // as the logger formats times
	for i, e := range events {
		want := []byte(encodeEvent(t, e))
		got := appendEvent(nil, e)
		if !bytes.Equal(got, want) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got, want)
		}
		if cached := appendEventTimes(nil, e, &times); !bytes.Equal(cached, want) {
			t.Errorf("event %d, time cache:\n got %s\nwant %s", i, cached, want)
		}
		if !json.Valid(got) {
			t.Errorf("event %d: not JSON: %s", i, got)
		}
	}
	// Transform heads (TransformHead, kept by the caller) encode as the
	// fields they stand for.
	for i, e := range events {
		he := *e
		he.Transforms = nil
		for _, tc := range e.Transforms {
			tc.Head = TransformHead(tc.Direction, tc.Path, tc.Action)
			he.Transforms = append(he.Transforms, tc)
		}
		if got, want := appendEvent(nil, &he), appendEvent(nil, e); !bytes.Equal(got, want) {
			t.Errorf("event %d with heads:\n got %s\nwant %s", i, got, want)
		}
	}
	// Several tags: sorted keys (zap follows map order).
	e := sampleEvent()
	e.Tags = map[string]string{"b": "2", "a": "1", "c": "3"}
	if got := appendEvent(nil, e); !bytes.Contains(got, []byte(`"tags":{"a":"1","b":"2","c":"3"}`)) {
		t.Errorf("tags: %s", got)
	}
}

// TestRecordIDsBoundedBytes: an event's record_ids array is at most
// recordIDsMaxBytes encoded: the ids from the first that does not fit are
// left out and record_ids_truncated is set, in both encoders alike. The
// event is still chained and verifies.
func TestRecordIDsBoundedBytes(t *testing.T) {
	t.Parallel()
	ids := func(n, size int, c string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strings.Repeat(c, size)
		}
		return out
	}
	for name, tc := range map[string]struct {
		ids  []string
		kept int
	}{
		"small":            {[]string{`"c-1"`, "42"}, 2},
		"exactly the max":  {ids(1, recordIDsMaxBytes-4, "x"), 1}, // ["x…x"]
		"one byte over":    {ids(1, recordIDsMaxBytes-3, "x"), 0},
		"many of 1 KiB":    {ids(100, 1<<10, "x"), 63}, // 63 × 1027 + 1 <= 64 KiB
		"escaping":         {append(ids(1, 100, "x"), strings.Repeat("\x01", 20000), "1"), 1},
		"one huge value":   {append(ids(1, 1<<20, "y"), "1"), 0},
		"escaping exactly": {ids(1, (recordIDsMaxBytes-4)/2, `\`), 1}, // each backslash escaped: two bytes
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := sampleEvent()
			e.RecordIDs = tc.ids
			got := appendEvent(nil, e)
			if want := []byte(encodeEvent(t, e)); !bytes.Equal(got, want) {
				t.Errorf("appendEvent and zap differ (%d and %d bytes)", len(got), len(want))
			}
			var ev struct {
				RecordIDs []string `json:"record_ids"`
				Truncated bool     `json:"record_ids_truncated"`
			}
			if err := json.Unmarshal(got, &ev); err != nil {
				t.Fatal(err)
			}
			if len(ev.RecordIDs) != tc.kept || ev.Truncated != (tc.kept < len(tc.ids)) {
				t.Errorf("%d ids kept, truncated %v; want %d of %d", len(ev.RecordIDs), ev.Truncated, tc.kept, len(tc.ids))
			}
			for i, id := range ev.RecordIDs {
				if id != strings.ToValidUTF8(tc.ids[i], "\ufffd") {
					t.Fatalf("id %d changed", i)
				}
			}
			start := bytes.Index(got, []byte(`"record_ids":`)) + len(`"record_ids":`)
			end := bytes.Index(got[start:], []byte(`],`))
			if n := end + 1; n > recordIDsMaxBytes {
				t.Errorf("record_ids array of %d bytes", n)
			}
		})
	}
	// Chained and verified.
	var out bytes.Buffer
	priv := ed25519.NewKeyFromSeed(testSeed)
	l, err := New(Config{Checkpoint: CheckpointConfig{Every: -1}}, Options{Stdout: &out, Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	e.RecordIDs = ids(100, 1<<10, "z")
	if err := l.Log(e); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trail.log")
	if err := os.WriteFile(p, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(priv.Public().(ed25519.PublicKey), p)
	if err != nil || !rep.OK() || rep.Chains[0].Events != 1 || !bytes.Contains(out.Bytes(), []byte(`"record_ids_truncated":true`)) {
		t.Errorf("a truncated event: %+v %v", rep, err)
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

// typicalEvent is the shape of a gateway event (~1.1 KB sealed): a list
// response with record ids and several transforms.
func typicalEvent() *Event {
	e := sampleEvent()
	e.RequestID = "01JDB4Z9Q6X8M2K7P3N5R1T0VW"
	e.DecisionID = "4f1c2e7a9b3d5f60"
	e.Path = "/crm/customers"
	e.SubjectID = "alice@example.com"
	e.SubjectRoles = []string{"support", "eu-agents"}
	e.SubjectMethod = "jwt"
	e.ClientIP = "10.20.30.40"
	e.PolicyRevision = "9c1b7e3f2a6d4c58b0e1f7a3d9c2b4e6"
	e.Transforms = []TransformCount{
		{Direction: "response", Path: "$.customers[*].ssn", Action: "mask", Count: 10},
		{Direction: "response", Path: "$.customers[*].email", Action: "hash", Count: 10},
		{Direction: "response", Path: "$.customers[*].phone", Action: "redact", Count: 9},
		{Direction: "response", Path: "$.customers[*].address.street", Action: "drop", Count: 10},
	}
	e.RecordIDs = []string{`"c-0000010"`, `"c-0000011"`, `"c-0000012"`, `"c-0000013"`, `"c-0000014"`, `"c-0000015"`, `"c-0000016"`, `"c-0000017"`, `"c-0000018"`, `"c-0000019"`}
	e.Tags = map[string]string{"purpose": "support"}
	e.BytesIn, e.BytesOut = 0, 18342
	return e
}

func BenchmarkLogTypical(b *testing.B) {
	l, _ := New(Config{}, Options{Stdout: io.Discard})
	ev := typicalEvent()
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Log(ev)
	}
}

// TestAppendStringMatchesZap: appendString (its fast paths and the
// escaper's 8-byte scan) agrees with zap for every special byte at every
// position of strings around the word size, and for random mixes
// (fastStringInputs).
func TestAppendStringMatchesZap(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		t.Helper()
		e := &Event{Time: time.Unix(0, 0).UTC(), RequestID: s}
		want := []byte(encodeEvent(t, e))
		if got := appendEvent(nil, e); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
	for _, s := range fastStringInputs() {
		check(s)
	}
}

// BenchmarkLogTypicalCold writes over 256 KiB between events, as the
// gateway's own work does between requests: the bytes the audit path
// touches then cost what they cost live, not what they cost in cache.
func BenchmarkLogTypicalCold(b *testing.B) {
	l, _ := New(Config{}, Options{Stdout: io.Discard})
	ev := typicalEvent()
	junk := make([]byte, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(junk); i += 64 {
			junk[i]++
		}
		_ = l.Log(ev)
	}
}

// BenchmarkColdBaseline is BenchmarkLogTypicalCold without the event.
func BenchmarkColdBaseline(b *testing.B) {
	junk := make([]byte, 256<<10)
	for b.Loop() {
		for i := 0; i < len(junk); i += 64 {
			junk[i]++
		}
	}
}

func BenchmarkAppendEventTypical(b *testing.B) {
	e := typicalEvent()
	e.ChainID, e.Seq, e.prevHash = "0123456789abcdef01234567", 42, []byte("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = appendEvent(dst[:0], e)
	}
}

// BenchmarkAppendEventTypicalHeads: the typical event with its transform
// heads kept, as the gateway logs it.
func BenchmarkAppendEventTypicalHeads(b *testing.B) {
	e := typicalEvent()
	e.ChainID, e.Seq, e.prevHash = "0123456789abcdef01234567", 42, []byte("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	for i := range e.Transforms {
		t := &e.Transforms[i]
		t.Head = TransformHead(t.Direction, t.Path, t.Action)
	}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = appendEvent(dst[:0], e)
	}
}

// TestAppendIntMatchesStrconv: the integers are what zap writes
// (strconv), from the edges to random values.
func TestAppendIntMatchesStrconv(t *testing.T) {
	t.Parallel()
	ints := []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1 << 40, math.MaxInt64, -1, -10, math.MinInt64}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		ints = append(ints, r.Int64()>>r.IntN(64), -r.Int64()>>r.IntN(64))
	}
	for v := int64(0); v < 1e5; v++ { // every digit pair in every place
		ints = append(ints, v)
	}
	for p := int64(1); p <= 1e18; p *= 10 {
		ints = append(ints, p-1, p, p+1, 2*p-1, -p)
	}
	for _, v := range ints {
		if got, want := string(appendInt([]byte("x"), v)), strconv.AppendInt([]byte("x"), v, 10); got != string(want) {
			t.Fatalf("appendInt(%d) = %s, want %s", v, got, want)
		}
		u := uint64(v)
		if got, want := string(appendUint([]byte("x"), u)), strconv.AppendUint([]byte("x"), u, 10); got != string(want) {
			t.Fatalf("appendUint(%d) = %s, want %s", u, got, want)
		}
	}
}

// TestTimeCacheMatchesAppendFormat: the cached formatting is
// time.RFC3339Nano's for instants in and across seconds, in zones of
// every kind of offset, with fractions of every length, and for years
// far from today.
func TestTimeCacheMatchesAppendFormat(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("plus", 5*3600+30*60), time.FixedZone("minus", -(9*3600 + 59*60 + 59)),
		time.FixedZone("z0", 0)}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny) // crosses DST: one second, two offsets
	}
	r := rand.New(rand.NewPCG(5, 6))
	var c timeCache
	check := func(tm time.Time) {
		t.Helper()
		want := tm.AppendFormat(nil, time.RFC3339Nano)
		if got := c.appendTime(nil, tm); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s want %s", tm, got, want)
		}
	}
	nanos := []int{0, 1, 10, 100, 999999999, 500000000, 123456789, 120000000, 100000001}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, z := range zones {
		// Many events in one second, then the next seconds.
		for s := range 3 {
			for _, ns := range nanos {
				check(base.Add(time.Duration(s) * time.Second).Add(time.Duration(ns)).In(z))
			}
		}
		// The same second in another zone, back and forth.
		check(base.In(time.UTC))
		check(base.In(z))
		// Far and random instants, negative years included.
		for range 2000 {
			sec := r.Int64N(1<<40) - 1<<39
			check(time.Unix(sec, int64(r.IntN(1e9))).In(z))
		}
	}
	// DST: 2026-11-01 01:30 happens twice in New York (offsets -4h, -5h).
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		first := time.Date(2026, 11, 1, 5, 30, 0, 7, time.UTC).In(ny)
		check(first)
		check(first.Add(time.Hour))
		check(first)
	}
	// Without a cache it is AppendFormat itself.
	var none *timeCache
	if got := none.appendTime(nil, base); string(got) != "2026-11-22T10:00:00Z" {
		t.Errorf("nil cache: %s", got)
	}
}

// BenchmarkLogTime: the event time formatted by time.AppendFormat and
// through the logger's cache.
func BenchmarkLogTime(b *testing.B) {
	tm := time.Now()
	var dst []byte
	b.Run("AppendFormat", func(b *testing.B) {
		for b.Loop() {
			dst = tm.AppendFormat(dst[:0], time.RFC3339Nano)
		}
	})
	b.Run("cache", func(b *testing.B) {
		var c timeCache
		for b.Loop() {
			dst = c.appendTime(dst[:0], tm)
		}
	})
}
