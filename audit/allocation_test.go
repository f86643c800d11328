//go:build !race

package audit

import (
	"io"
	"testing"
)

// TestLogDoesNotAllocate: writing an event is on every request's path.
func TestLogDoesNotAllocate(t *testing.T) {
	l, err := New(Config{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent()
	ev.Tags = map[string]string{"purpose": "support"}
	if n := testing.AllocsPerRun(200, func() { _ = l.Log(ev) }); n > 0 {
		t.Fatalf("Log allocates %.1f times per event", n)
	}
}

func BenchmarkLog(b *testing.B) {
	l, _ := New(Config{}, io.Discard)
	ev := sampleEvent()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = l.Log(ev)
	}
}
