package audit

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"sort"
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

// trailFiles returns a file sink's files oldest first: lumberjack's
// timestamped rotated files, then the current one.
func trailFiles(t *testing.T, dir, base string) []string {
	t.Helper()
	ext := filepath.Ext(base)
	rotated, err := filepath.Glob(filepath.Join(dir, strings.TrimSuffix(base, ext)+"-*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(rotated)
	return append(rotated, filepath.Join(dir, base))
}

// readTrail returns the concatenated content of a file sink's files,
// oldest first, and how many files there are.
func readTrail(t *testing.T, dir, base string) ([]byte, int) {
	t.Helper()
	files := trailFiles(t, dir, base)
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all, len(files)
}

// verifyTrail verifies dir's audit.log trail (rotated files first) and
// returns the report, its number of event lines and of files.
func verifyTrail(t *testing.T, dir string, pub ed25519.PublicKey) (*Report, int, int) {
	t.Helper()
	rep, err := Verify(pub, trailFiles(t, dir, "audit.log")...)
	if err != nil {
		t.Fatal(err)
	}
	all, nfiles := readTrail(t, dir, "audit.log")
	return rep, len(events(string(all))), nfiles
}

// TestFileSinkOversizeLineGetsAFileOfItsOwn: lumberjack refuses a write
// larger than max_size_mb; a line that large (one event) is written to a
// file of its own instead of failing its batch for ever, and the lines
// around it keep their order. Two such lines in a row rotate twice within
// a millisecond or so: no rotated file is replaced.
func TestFileSinkOversizeLineGetsAFileOfItsOwn(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"never", "batch", "interval"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := openFileSink(&SinkConfig{Type: "file", Path: filepath.Join(dir, "audit.log"), MaxSizeMB: 1, Fsync: policy},
				time.Hour, (*os.File).Sync)
			if err != nil {
				t.Fatal(err)
			}
			small := webhookLines(0, 3, 100)
			big := webhookLines(10, 2, 3<<19) // 1.5 MiB each
			exact := webhookLines(20, 1, 1<<20)[0]
			batches := [][][]byte{
				{small[0], big[0], small[1]},
				{big[1]},
				{exact, small[2]},
			}
			var want []byte
			for _, b := range batches {
				if err := s.Write(b); err != nil {
					t.Fatalf("batch with a line of max_size_mb or more: %v", err)
				}
				want = append(want, bytes.Join(b, nil)...)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, files := readTrail(t, dir, "audit.log")
			if !bytes.Equal(got, want) {
				t.Fatalf("the trail holds %d bytes, want the %d written, in order", len(got), len(want))
			}
			for _, f := range trailFiles(t, dir, "audit.log") {
				b, _ := os.ReadFile(f)
				if len(b) > 1<<20 && bytes.Count(b, []byte("\n")) != 1 {
					t.Errorf("%s: %d bytes, %d lines: an oversize line shares its file", f, len(b), bytes.Count(b, []byte("\n")))
				}
			}
			if files != 6 { // small, big, small | big | exact | small
				t.Errorf("%d files, want 6", files)
			}
		})
	}
}

// TestOversizeEventDoesNotWedgeFileSink: through the Logger, an event
// longer than max_size_mb is written (in a file of its own) and the
// events after it are delivered; the trail verifies across the files.
func TestOversizeEventDoesNotWedgeFileSink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(testSeed)
	l, err := New(Config{
		Sinks:      []SinkConfig{{Type: "file", Path: filepath.Join(dir, "audit.log"), MaxSizeMB: 1, Fsync: "never"}},
		Checkpoint: CheckpointConfig{Every: -1, EveryEvents: 1 << 30},
	}, Options{Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	big := sampleEvent()
	big.Path = "/" + strings.Repeat("p", 3<<19) // 1.5 MiB
	for i := range 5 {
		e := sampleEvent()
		if i == 2 {
			e = big
		}
		if err := l.Reserve(e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := l.Log(e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	waitFor(t, func() bool { st := l.SinkStats()[0]; return st.Written == 6 }) // segment + 5 events
	if st := l.SinkStats()[0]; !st.Healthy || st.Errors != 0 {
		t.Errorf("sink after an oversize event: %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, n, nfiles := verifyTrail(t, dir, priv.Public().(ed25519.PublicKey))
	if !rep.OK() || n != 5 {
		t.Errorf("%d event lines in %d files, want 5; damages %+v", n, nfiles, rep.Damages)
	}
}

// TestFileSinkRotationsLoseNoFile: a backlog drains at full speed, so
// the sink rotates many times per millisecond or close to it. lumberjack
// names a rotated file by the time to the millisecond and renames over an
// existing one of that name: the sink spaces rotations so none is lost.
func TestFileSinkRotationsLoseNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openFileSink(&SinkConfig{Type: "file", Path: filepath.Join(dir, "audit.log"), MaxSizeMB: 1, Fsync: "never"},
		time.Hour, (*os.File).Sync)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 40
	batch := webhookLines(0, 150, 4<<10) // 600 KiB: a file each
	for range batches {
		if err := s.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, files := readTrail(t, dir, "audit.log")
	if n := bytes.Count(got, []byte("\n")); n != batches*len(batch) || files != batches {
		t.Errorf("%d of %d lines in %d files after rotation, want %d files", n, batches*len(batch), files, batches)
	}
}

// TestFileSinkRotationKeepsTrailVerifiable: through the Logger, events
// logged as fast as they come rotate the file several times; the chain
// verifies across the rotated files, with every event once.
func TestFileSinkRotationKeepsTrailVerifiable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(testSeed)
	l, err := New(Config{
		Sinks:      []SinkConfig{{Type: "file", Path: filepath.Join(dir, "audit.log"), Fsync: "never", MaxSizeMB: 1}},
		Checkpoint: CheckpointConfig{Every: -1, EveryEvents: 100},
	}, Options{Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1200 // about 4.8 MiB: 4 rotations or more
	for i := range n {
		e := sampleEvent()
		e.RequestID = "r-" + strconv.Itoa(i)
		e.RecordIDs = make([]string, 100)
		for j := range e.RecordIDs {
			e.RecordIDs[j] = `"customer-` + strconv.Itoa(i*1000+j) + `-xxxxxxxxxxxxxxxxxxxx"`
		}
		if err := l.Log(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, got, nfiles := verifyTrail(t, dir, priv.Public().(ed25519.PublicKey))
	if got != n || !rep.OK() || nfiles < 5 {
		t.Errorf("%d of %d events in %d files; damages %+v", got, n, nfiles, rep.Damages)
	}
}
