package audit

import "io"

// writerSink writes lines to an io.Writer (the stdout sink), one Write
// per batch.
type writerSink struct {
	w   io.Writer
	buf []byte
}

func (s *writerSink) Write(lines [][]byte) error {
	s.buf = s.buf[:0]
	for _, l := range lines {
		s.buf = append(s.buf, l...)
	}
	_, err := s.w.Write(s.buf)
	return err
}

func (s *writerSink) Close() error { return nil }
