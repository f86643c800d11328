package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// fileSink appends lines to a file that rotates by size (max_size_mb)
// and by age, and fsyncs per its policy:
//
//   - interval (default): a background fsync at most once a second, so
//     writes never wait on the disk (not even on a slow fsync: a write only
//     marks the file dirty) and a kill -9 loses nothing written (the page
//     cache survives it); a power loss loses at most ~1 s.
//   - batch: fsync after every delivered batch before it counts as
//     delivered; the strongest against power loss, but delivery then lags
//     by an fsync under load, and records still queued are what a kill -9
//     loses.
//   - never: leave it to the OS.
//
// lumberjack writes the file and renames, compresses and prunes rotated
// files, but the sink decides when to rotate (rotate), so that:
//
//   - a batch lands in one file whenever it fits in one (the sink rotates
//     before it rather than in its middle), and a failed write is undone
//     by cutting that file back to where the batch began (undo): a disk
//     that fills mid-line leaves no fragment for the retry to append to;
//   - a line that alone reaches max_size_mb, which lumberjack refuses,
//     gets a file of its own (writeAlone) instead of wedging the sink;
//   - two rotations are never within one millisecond: lumberjack names a
//     rotated file by the time to the millisecond and renames over a file
//     of that name.
type fileSink struct {
	lj          *lumberjack.Logger
	path        string
	fsync       string
	max         int64 // max_size_mb in bytes
	size        int64 // bytes in the current file, as lumberjack counts them
	rotateEvery time.Duration
	opened      time.Time // when the current file was started (age rotation)
	rotatedMs   int64     // Unix milliseconds of the last rotation
	buf         []byte

	// cut, when >= 0, is the offset a failed write's leftovers must be
	// cut back to before anything else is written (undo could not).
	cut int64
	// The lines of a failed batch that are in the trail (in a file rotated
	// before the failure, or written before a failed fsync): the retry of
	// the same batch resumes after them.
	sent deliveredPrefix

	syncMu    sync.Mutex
	syncf     *os.File               // a second handle on the current file, for fsync; guarded by syncMu
	fsyncFile func(f *os.File) error // (*os.File).Sync; a test stalls it
	syncEvery time.Duration          // the interval policy's period
	dirty     atomic.Bool            // written since the last fsync began (never waits on syncMu)
	stop      chan struct{}
	done      chan struct{}
}

// chunk bounds one write syscall of a batch.
const chunk = 256 << 10

func newFileSink(c *SinkConfig) (*fileSink, error) {
	return openFileSink(c, time.Second, (*os.File).Sync)
}

// openFileSink is newFileSink with the interval policy's period and the
// fsync operation given.
func openFileSink(c *SinkConfig, syncEvery time.Duration, fsyncFile func(*os.File) error) (*fileSink, error) {
	size := c.MaxSizeMB
	if size == 0 {
		size = 100
	}
	fsync := c.Fsync
	if fsync == "" {
		fsync = "interval"
	}
	if err := repairTornTail(c.Path); err != nil {
		return nil, err
	}
	s := &fileSink{
		lj:          &lumberjack.Logger{Filename: c.Path, MaxSize: size, MaxBackups: c.MaxBackups, MaxAge: c.MaxAgeDays, Compress: c.Compress},
		path:        c.Path,
		fsync:       fsync,
		max:         int64(size) << 20,
		rotateEvery: c.RotateEvery,
		opened:      time.Now(),
		cut:         -1,
		fsyncFile:   fsyncFile,
		syncEvery:   syncEvery,
	}
	if fi, err := os.Stat(c.Path); err == nil {
		s.opened = fi.ModTime() // an existing file is at least this old
		s.size = fi.Size()
	}
	if fsync == "interval" {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return s, nil
}

// repairTornTail handles a file whose last line was cut by a crash (a
// kill can interrupt a multi-page write): the fragment is never a whole
// record, and appending after it would glue the next run's first record
// to it. It is moved to a hidden ".<name>.torn-<unix ns>" file beside the
// trail (kept as evidence) and cut from the trail.
func repairTornTail(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit file sink: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	// Find the last newline, reading backwards in blocks.
	size := fi.Size()
	end := size
	buf := make([]byte, 64<<10)
	for end > 0 {
		n := int64(len(buf))
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil && err != io.EOF {
			return fmt.Errorf("audit file sink: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return nil
	}
	frag := make([]byte, size-end)
	if _, err := f.ReadAt(frag, end); err != nil && err != io.EOF {
		return fmt.Errorf("audit file sink: %w", err)
	}
	torn := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".torn-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.WriteFile(torn, frag, 0o600); err != nil {
		return fmt.Errorf("audit file sink: saving a torn last line: %w", err)
	}
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("audit file sink: %w", err)
	}
	return f.Sync()
}

// Write appends lines in order. It cuts every batch into runs: the
// lines that fit in an empty file together (a line that alone reaches
// max_size_mb is a run of its own). A run goes to the current file when
// it fits there, else to a new one, so a batch that fits in a file is
// never split across two.
func (s *fileSink) Write(lines [][]byte) error {
	if s.cut >= 0 {
		if err := s.cutTail(); err != nil {
			return fmt.Errorf("audit file sink: cutting a failed write's leftovers: %w", err)
		}
	}
	i := s.sent.resume(lines)
	if s.rotateEvery > 0 && time.Since(s.opened) >= s.rotateEvery {
		if err := s.rotate(); err != nil {
			s.sent.keep(lines, i)
			return err
		}
	}
	for i < len(lines) {
		j, n := i, int64(0)
		for j < len(lines) && n+int64(len(lines[j])) < s.max {
			n += int64(len(lines[j]))
			j++
		}
		if j == i {
			j, n = i+1, int64(len(lines[i]))
		}
		if s.size > 0 && s.size+n >= s.max {
			if err := s.rotate(); err != nil {
				s.sent.keep(lines, i) // lines[:i] are in the trail
				return err
			}
		}
		start := s.size
		var err error
		if n >= s.max {
			err = s.writeAlone(lines[i])
		} else {
			err = s.writeRun(lines[i:j])
		}
		if err != nil {
			s.undo(start)
			s.sent.keep(lines, i)
			return err
		}
		i = j
	}
	switch s.fsync {
	case "batch":
		s.syncMu.Lock()
		defer s.syncMu.Unlock()
		if err := s.syncLocked(); err != nil {
			s.sent.keep(lines, len(lines)) // written: the retry only fsyncs
			return err
		}
	case "interval":
		// Not under syncMu: the background fsync holds it for as long as
		// the disk takes, and delivery must not wait for that (under load
		// the queue would fill and the gateway fail closed).
		s.dirty.Store(true)
	}
	return nil
}

// writeRun writes lines, fewer than max_size_mb together, through
// lumberjack in chunks. Write has made sure they fit in the current file,
// so lumberjack does not rotate in their middle.
func (s *fileSink) writeRun(lines [][]byte) error {
	s.buf = s.buf[:0]
	for _, l := range lines {
		if len(s.buf)+len(l) > chunk && len(s.buf) > 0 {
			if err := s.writeChunk(); err != nil {
				return err
			}
		}
		s.buf = append(s.buf, l...)
	}
	if len(s.buf) > 0 {
		return s.writeChunk()
	}
	return nil
}

func (s *fileSink) writeChunk() error {
	n, err := s.lj.Write(s.buf)
	s.size += int64(n)
	s.buf = s.buf[:0]
	return err
}

// writeAlone writes a line that alone reaches max_size_mb, which
// lumberjack refuses to write, to the current file (empty: Write rotated
// before it) around lumberjack; the next write rotates, so the line has a
// file of its own. lumberjack's handle is closed first (a new file's is
// not in append mode: it would write over the line), to be reopened in
// append mode by its next write. The file is fsynced unless the policy is
// never: it is rotated away before the interval policy's next tick.
func (s *fileSink) writeAlone(line []byte) error {
	if err := s.lj.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	n, err := f.Write(line)
	s.size += int64(n)
	if err == nil && s.fsync != "never" {
		err = s.fsyncFile(f)
	}
	return errors.Join(err, f.Close())
}

// rotate starts a new file, at least one millisecond after the last
// rotation: lumberjack names a rotated file by the time to the millisecond
// and renames over an existing file of that name, so a second rotation
// within the same millisecond (a backlog draining, an oversize line)
// would replace the first rotated file and lose its records.
func (s *fileSink) rotate() error {
	for {
		wait := time.Until(time.UnixMilli(s.rotatedMs + 1))
		if wait <= 0 {
			break
		}
		time.Sleep(wait)
	}
	err := s.lj.Rotate()
	now := time.Now()
	s.rotatedMs, s.opened = now.UnixMilli(), now
	if err != nil {
		s.size = fileSize(s.path) // the rename may or may not have happened
		return err
	}
	s.size = 0
	return nil
}

// undo cuts the current file back to start, the size it had before a
// write that failed (a full disk writes part of a line, then fails), so
// that the retry appends where the failed write began. lumberjack's handle
// is closed first: a new file's is not in append mode, and would write the
// retry at its old offset, past the cut; its next write reopens the file
// in append mode. When the cut fails, the next Write tries it again before
// writing anything.
func (s *fileSink) undo(start int64) {
	_ = s.lj.Close()
	s.cut = start
	_ = s.cutTail()
}

// cutTail cuts the current file to s.cut (never lengthening it).
func (s *fileSink) cutTail() error {
	fi, err := os.Stat(s.path)
	switch {
	case os.IsNotExist(err):
		s.size = 0
	case err != nil:
		return err
	case fi.Size() > s.cut:
		if err := os.Truncate(s.path, s.cut); err != nil {
			return err
		}
		s.size = s.cut
	default:
		s.size = fi.Size()
	}
	s.cut = -1
	return nil
}

// fileSize is the size of the file at path; 0 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *fileSink) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// Cleared before the fsync: a write during it marks the file
			// dirty again for the next tick.
			if s.dirty.Swap(false) {
				s.syncMu.Lock()
				_ = s.syncLocked() // a failing disk shows in the next write
				s.syncMu.Unlock()
			}
		}
	}
}

// syncLocked fsyncs the current file; syncMu must be held. lumberjack
// does not expose its handle; on Linux fsync flushes the file whichever
// descriptor names it, so the sink keeps its own, reopened when rotation
// replaced the file.
func (s *fileSink) syncLocked() error {
	if s.syncf != nil {
		cur, err1 := os.Stat(s.path)
		mine, err2 := s.syncf.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(cur, mine) {
			_ = s.fsyncFile(s.syncf) // the rotated file's last writes
			_ = s.syncf.Close()
			s.syncf = nil
		}
	}
	if s.syncf == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return err
		}
		s.syncf = f
	}
	return s.fsyncFile(s.syncf)
}

func (s *fileSink) Close() error {
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	err := s.lj.Close()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.fsync != "never" {
		_ = s.syncLocked() // the last writes, whether or not a tick synced before
	}
	if s.syncf != nil {
		_ = s.syncf.Close()
		s.syncf = nil
	}
	return err
}
