package audit

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// maxLine is the longest line a reader of the trail accepts; an event is
// far smaller, but a line is never cut silently.
const maxLine = 16 << 20

// readLines calls fn for every line (1-based n, blank lines included) of
// a plain or gzip-compressed trail file (detected by its magic bytes, not
// its name), streaming, and stops at fn's first error, which it returns
// as is. Errors of its own name the file.
func readLines(name string, fn func(n int, line []byte) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s after line %d: %w", name, n, err)
	}
	return nil
}
