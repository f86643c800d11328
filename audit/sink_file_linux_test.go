//go:build linux

package audit

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv marks a re-executed test binary that runs one test in a process
// of its own (the test changes a process-wide limit).
const childEnv = "VEIL_AUDIT_TEST_CHILD"

// inChild re-runs the calling test alone in a child process and reports
// its outcome; it returns true in the child, which then does the work.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child process did not run the test:\n%s", out)
	}
	return false
}

// fullDiskAt sets the soft RLIMIT_FSIZE, the largest file this process
// may write: a write beyond it is cut short, then fails with EFBIG, as on
// a disk that fills up. It returns a function restoring the limit.
func fullDiskAt(t *testing.T, size int64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(size), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFileSinkDiskFullUndoesTheFailedBatch: the disk fills up in the
// middle of a batch, here in its second write (chunk) of the batch, in
// the middle of a line. The failed Write leaves the file as it was before
// the batch, and its retry (same batch, README "Delivery") appends the
// batch once, whole: no fragment, no line twice.
func TestFileSinkDiskFullUndoesTheFailedBatch(t *testing.T) {
	if !inChild(t) {
		return
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := openFileSink(&SinkConfig{Type: "file", Path: path, Fsync: "never"}, time.Hour, (*os.File).Sync)
	if err != nil {
		t.Fatal(err)
	}
	first := []byte(`{"first":true}` + "\n")
	if err := s.Write([][]byte{first}); err != nil {
		t.Fatal(err)
	}
	batch := webhookLines(0, 8, 64<<10) // 512 KiB: two chunks
	restore := fullDiskAt(t, int64(len(first))+300<<10)
	if err := s.Write(batch); err == nil {
		restore()
		t.Fatal("a write beyond the full disk succeeded")
	}
	got, _ := os.ReadFile(path)
	restore()
	if !bytes.Equal(got, first) {
		t.Errorf("after the failed batch the file holds %d bytes, want the %d it held before it", len(got), len(first))
	}
	if err := s.Write(batch); err != nil {
		t.Fatalf("retry with room again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), first...)
	for _, l := range batch {
		want = append(want, l...)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("after the retry the file holds %d bytes, want %d: the line before the batch, then the batch once", len(got), len(want))
	}
}

// TestFileSinkDiskFullRetryKeepsTrailVerifiable: the same through the
// Logger: the disk fills up mid-line, the delivery goroutine retries, and
// once the disk has room again the trail verifies with every event once.
func TestFileSinkDiskFullRetryKeepsTrailVerifiable(t *testing.T) {
	if !inChild(t) {
		return
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	priv := ed25519.NewKeyFromSeed(testSeed)
	l, err := New(Config{
		Sinks:      []SinkConfig{{Type: "file", Path: path, Fsync: "never"}},
		Checkpoint: CheckpointConfig{Every: -1, EveryEvents: 1 << 30},
	}, Options{Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	stats := func() SinkStats { return l.SinkStats()[0] }
	if err := l.Log(sampleEvent()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return stats().Written >= 2 }) // segment + event 1
	// Room for about half of the next event.
	restore := fullDiskAt(t, fileSize(path)+250)
	for range 3 {
		if err := l.Log(sampleEvent()); err != nil {
			restore()
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return stats().Errors >= 1 })
	restore()
	waitFor(t, func() bool { s := stats(); return s.Healthy && s.Queued == 0 && s.Written >= 5 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(priv.Public().(ed25519.PublicKey), path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := len(events(string(data))); !rep.OK() || n != 4 {
		t.Errorf("after a transient full disk: %d event lines for 4 events, damages %+v", n, rep.Damages)
	}
}

// TestFileSinkRotatedBatchResumesAfterFailure: a batch that cannot land
// in one file goes to two; when the disk fills in the second, the retry
// writes only what is not in the first.
func TestFileSinkRotatedBatchResumesAfterFailure(t *testing.T) {
	if !inChild(t) {
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	s, err := openFileSink(&SinkConfig{Type: "file", Path: path, MaxSizeMB: 1, Fsync: "never"}, time.Hour, (*os.File).Sync)
	if err != nil {
		t.Fatal(err)
	}
	// 600 KiB, then 500 + 500 KiB: a file each.
	batch := [][]byte{webhookLines(0, 1, 600<<10)[0], webhookLines(1, 1, 500<<10)[0], webhookLines(2, 1, 500<<10)[0]}
	restore := fullDiskAt(t, 800<<10) // the second file fills mid-line
	if err := s.Write(batch); err == nil {
		restore()
		t.Fatal("a write beyond the full disk succeeded")
	}
	restore()
	if err := s.Write(batch); err != nil {
		t.Fatalf("retry with room again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, nfiles := readTrail(t, dir, "audit.log")
	if want := bytes.Join(batch, nil); !bytes.Equal(got, want) || nfiles != 2 {
		t.Errorf("%d files hold %d bytes (%d lines), want 2 holding the 3 lines once, in order", nfiles, len(got), bytes.Count(got, []byte("\n")))
	}
}
