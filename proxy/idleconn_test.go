package proxy

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestIdleConnIdleTimeout: a read that keeps making progress is never cut,
// however long the transfer; once the peer goes quiet the read fails with
// a timeout, never sooner than the idle timeout.
func TestIdleConnIdleTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	const idle = 200 * time.Millisecond
	c := &idleConn{Conn: a, readIdle: idle, writeIdle: idle}
	go func() {
		for range 8 { // 8 x 100 ms: four times the idle timeout in all
			time.Sleep(idle / 2)
			if _, err := b.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	for i := range 8 {
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("read %d while the peer makes progress: %v", i, err)
		}
	}
	start := time.Now()
	_, err := c.Read(buf)
	waited := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a quiet peer: %v, want a deadline error", err)
	}
	if waited < idle {
		t.Errorf("cut after %v, before the idle timeout %v", waited, idle)
	}
	// Deadlines set by the caller (fasthttp) are ignored.
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = b.Write([]byte{'y'}) }()
	if _, err := c.Read(buf); err != nil || buf[0] != 'y' {
		t.Fatalf("read after a past caller deadline: %q %v", buf, err)
	}
}
