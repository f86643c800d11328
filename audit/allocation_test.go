//go:build !race

package audit

import (
	"io"
	"testing"
)

// TestLogDoesNotAllocate: writing an event is on every request's path.
func TestLogDoesNotAllocate(t *testing.T) {
	l, err := New(Config{}, Options{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent()
	ev.Tags = map[string]string{"purpose": "support"}
	// Warm the queue's buffers: the delivery goroutine hands each record's
	// buffer back once the sink has it. AllocsPerRun runs on one P, where
	// delivery lags behind, so warm up the same way.
	testing.AllocsPerRun(1000, func() { _ = l.Log(ev) })
	waitFor(t, func() bool { return l.SinkStats()[0].Queued == 0 })
	if n := testing.AllocsPerRun(200, func() { _ = l.Log(ev) }); n > 0 {
		t.Fatalf("Log allocates %.1f times per event", n)
	}
}

func BenchmarkLog(b *testing.B) {
	l, _ := New(Config{}, Options{Stdout: io.Discard})
	ev := sampleEvent()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = l.Log(ev)
	}
}
