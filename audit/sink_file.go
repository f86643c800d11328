package audit

import (
	"bytes"
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

// fileSink appends lines to a file that lumberjack rotates by size (and
// that the sink rotates by age), and fsyncs per its policy:
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
type fileSink struct {
	lj          *lumberjack.Logger
	path        string
	fsync       string
	rotateEvery time.Duration
	opened      time.Time // when the current file was started (age rotation)
	buf         []byte

	syncMu    sync.Mutex
	syncf     *os.File               // a second handle on the current file, for fsync; guarded by syncMu
	fsyncFile func(f *os.File) error // (*os.File).Sync; a test stalls it
	syncEvery time.Duration          // the interval policy's period
	dirty     atomic.Bool            // written since the last fsync began (never waits on syncMu)
	stop      chan struct{}
	done      chan struct{}
}

// chunk bounds one write: lumberjack refuses a single write larger than
// max_size_mb, and a batch is at most a few MiB.
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
		rotateEvery: c.RotateEvery,
		opened:      time.Now(),
		fsyncFile:   fsyncFile,
		syncEvery:   syncEvery,
	}
	if fi, err := os.Stat(c.Path); err == nil {
		s.opened = fi.ModTime() // an existing file is at least this old
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

func (s *fileSink) Write(lines [][]byte) error {
	if s.rotateEvery > 0 && time.Since(s.opened) >= s.rotateEvery {
		if err := s.lj.Rotate(); err != nil {
			return err
		}
		s.opened = time.Now()
	}
	s.buf = s.buf[:0]
	for _, l := range lines {
		if len(s.buf)+len(l) > chunk && len(s.buf) > 0 {
			if _, err := s.lj.Write(s.buf); err != nil {
				return err
			}
			s.buf = s.buf[:0]
		}
		s.buf = append(s.buf, l...)
	}
	if len(s.buf) > 0 {
		if _, err := s.lj.Write(s.buf); err != nil {
			return err
		}
	}
	switch s.fsync {
	case "batch":
		s.syncMu.Lock()
		defer s.syncMu.Unlock()
		return s.syncLocked()
	case "interval":
		// Not under syncMu: the background fsync holds it for as long as
		// the disk takes, and delivery must not wait for that (under load
		// the queue would fill and the gateway fail closed).
		s.dirty.Store(true)
	}
	return nil
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
