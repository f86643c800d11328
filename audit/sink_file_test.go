package audit

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stalledDisk is an fsync that blocks until unstall (a disk that takes
// long to sync, the one simulated part); entered receives once when the
// first fsync starts.
type stalledDisk struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStalledDisk() *stalledDisk {
	return &stalledDisk{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (d *stalledDisk) fsync(f *os.File) error {
	select {
	case d.entered <- struct{}{}:
	default:
	}
	<-d.release
	return f.Sync()
}

func (d *stalledDisk) unstall() { d.once.Do(func() { close(d.release) }) }

// TestFileSinkIntervalWriteDoesNotWaitForFsync: with the interval policy
// a write only marks the file dirty; a background fsync that takes long
// (a slow or saturated disk) must not hold up delivery, or under load the
// sink's queue fills and the gateway fails closed. The disk's stall is the
// one simulated part: the fsync blocks until released.
func TestFileSinkIntervalWriteDoesNotWaitForFsync(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	disk := newStalledDisk()
	s, err := openFileSink(&SinkConfig{Type: "file", Path: path}, time.Millisecond, disk.fsync)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		disk.unstall()
		if !closed {
			_ = s.Close()
		}
	}()
	if err := s.Write([][]byte{[]byte("a\n")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-disk.entered: // the background fsync has started and stalls
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
	disk.unstall()
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

// TestStateSaveDoesNotStallDelivery: the state file's save (an fsync,
// which on ext4 also commits the trail's data) runs beside delivery, not
// in it: while a save is stalled on the disk, events keep reaching the
// sink, and closing the logger still saves the last delivered checkpoint.
func TestStateSaveDoesNotStallDelivery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	disk := newStalledDisk()
	defer disk.unstall()
	opts := Options{Signer: ed25519.NewKeyFromSeed(testSeed), stateSync: disk.fsync}
	l, err := New(Config{
		Sinks:      []SinkConfig{{Type: "file", Path: path, Fsync: "never"}},
		Checkpoint: CheckpointConfig{EveryEvents: 5, Every: -1},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			disk.unstall()
			_ = l.Close()
		}
	}()
	events := func() int {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), `"request_id"`)
	}
	for range 20 {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-disk.entered: // a state save has started and stalls on the disk
	case <-time.After(5 * time.Second):
		t.Fatal("no state save after checkpoints were delivered")
	}
	for range 20 {
		if err := l.Log(sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	// The save stays stalled until unstall: delivery must go on beside it.
	waitFor(t, func() bool { return events() == 40 })
	disk.unstall()
	closed = true
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The state names the trail's last checkpoint.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last string
	for _, line := range lines {
		if strings.Contains(line, `"checkpoint"`) {
			last = line
		}
	}
	st, err := (&stateFile{path: filepath.Join(dir, ".audit.log.state")}).load()
	if err != nil || st == nil {
		t.Fatalf("state file: %v %v", st, err)
	}
	if !strings.Contains(last, `"seq":`+strconv.FormatUint(st.seq, 10)+`,`) || !strings.Contains(last, st.hash) {
		t.Fatalf("state names seq %d hash %s, the last checkpoint is %s", st.seq, st.hash, last)
	}
}
