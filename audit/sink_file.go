package audit

import (
	"os"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// fileSink appends lines to a file that lumberjack rotates by size (and
// that the sink rotates by age), and fsyncs per its policy.
type fileSink struct {
	lj          *lumberjack.Logger
	path        string
	fsync       string
	rotateEvery time.Duration
	opened      time.Time // when the current file was started (age rotation)
	lastSync    time.Time
	syncf       *os.File // a second handle on the current file, for fsync
	buf         []byte
}

// chunk bounds one write: lumberjack refuses a single write larger than
// max_size_mb, and a batch is at most a few MiB.
const chunk = 256 << 10

func newFileSink(c *SinkConfig) (*fileSink, error) {
	size := c.MaxSizeMB
	if size == 0 {
		size = 100
	}
	fsync := c.Fsync
	if fsync == "" {
		fsync = "batch"
	}
	s := &fileSink{
		lj:          &lumberjack.Logger{Filename: c.Path, MaxSize: size, MaxBackups: c.MaxBackups, MaxAge: c.MaxAgeDays, Compress: c.Compress},
		path:        c.Path,
		fsync:       fsync,
		rotateEvery: c.RotateEvery,
		opened:      time.Now(),
	}
	if fi, err := os.Stat(c.Path); err == nil {
		s.opened = fi.ModTime() // an existing file is at least this old
	}
	return s, nil
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
		return s.sync()
	case "interval":
		if time.Since(s.lastSync) >= time.Second {
			return s.sync()
		}
	}
	return nil
}

// sync fsyncs the current file. lumberjack does not expose its handle;
// on Linux fsync flushes the file whichever descriptor names it, so the
// sink keeps its own, reopened when rotation replaced the file.
func (s *fileSink) sync() error {
	s.lastSync = time.Now()
	if s.syncf != nil {
		cur, err1 := os.Stat(s.path)
		mine, err2 := s.syncf.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(cur, mine) {
			_ = s.syncf.Sync() // the rotated file's last writes
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
	return s.syncf.Sync()
}

func (s *fileSink) Close() error {
	err := s.lj.Close()
	if s.syncf != nil {
		_ = s.syncf.Sync()
		_ = s.syncf.Close()
	}
	return err
}
