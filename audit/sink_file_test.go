package audit

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestFileSinkIntervalWriteDoesNotWaitForFsync: with the interval policy
// a write only marks the file dirty; a background fsync that takes long
// (a slow or saturated disk) must not hold up delivery, or under load the
// sink's queue fills and the gateway fails closed. The disk's stall is the
// one simulated part: the fsync blocks until released.
func TestFileSinkIntervalWriteDoesNotWaitForFsync(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	entered, release := make(chan struct{}, 1), make(chan struct{})
	stalled := func(f *os.File) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return f.Sync()
	}
	s, err := openFileSink(&SinkConfig{Type: "file", Path: path}, time.Millisecond, stalled)
	if err != nil {
		t.Fatal(err)
	}
	var releaseOnce sync.Once
	unstall := func() { releaseOnce.Do(func() { close(release) }) }
	closed := false
	defer func() {
		unstall()
		if !closed {
			_ = s.Close()
		}
	}()
	if err := s.Write([][]byte{[]byte("a\n")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered: // the background fsync has started and stalls
	case <-time.After(5 * time.Second):
		t.Fatal("no background fsync after a write")
	}
	done := make(chan error, 1)
	go func() { done <- s.Write([][]byte{[]byte("b\n")}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a write waited for the stalled fsync")
	}
	unstall()
	closed = true
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\nb\n" {
		t.Fatalf("file holds %q (%v), want both lines", b, err)
	}
}

// TestFileSinkCloseSyncsLastWrites: closing the sink fsyncs what was
// written since the last background fsync (here: before the first tick),
// under both fsyncing policies, and never under "never".
func TestFileSinkCloseSyncsLastWrites(t *testing.T) {
	t.Parallel()
	for policy, want := range map[string]int{"interval": 1, "batch": 2, "never": 0} {
		var n int
		counting := func(f *os.File) error { n++; return f.Sync() }
		path := filepath.Join(t.TempDir(), "audit.log")
		s, err := openFileSink(&SinkConfig{Type: "file", Path: path, Fsync: policy}, time.Hour, counting)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write([][]byte{[]byte("a\n")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("fsync %q: %d fsyncs for one write and close, want %d", policy, n, want)
		}
	}
}
