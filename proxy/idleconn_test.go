package proxy

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync/atomic"
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

// probeConn is a net.Conn whose Read reports whether the probe goroutine
// had run by then.
type probeConn struct {
	net.Conn
	ran  *atomic.Bool
	seen bool
}

func (p *probeConn) Read(b []byte) (int, error)  { p.seen = p.ran.Load(); return len(b), nil }
func (p *probeConn) Write(b []byte) (int, error) { return len(b), nil }

// TestIdleConnYieldsBeforeReadAfterWrite: a Read that follows a Write lets
// the runnable goroutines go first (they would otherwise wait for this one
// to fail a read and park on the poller); a Read that follows a Read does
// not. With one P, a goroutine just started can only run when this one
// yields. The scheduler takes the global queue first on one schedule in
// 61, so a yield is counted as seen when most rounds show it.
func TestIdleConnYieldsBeforeReadAfterWrite(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	buf := make([]byte, 1)
	const rounds = 40
	afterWrite, afterRead := 0, 0
	for range rounds {
		var ran atomic.Bool
		p := &probeConn{ran: &ran}
		c := &idleConn{Conn: p}
		_, _ = c.Read(buf) // a first read: no write before it
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { ran.Store(true); close(done) }()
		_, _ = c.Read(buf)
		if p.seen {
			afterWrite++
		}
		<-done
		var ran2 atomic.Bool
		p.ran = &ran2
		done2 := make(chan struct{})
		go func() { ran2.Store(true); close(done2) }()
		_, _ = c.Read(buf) // follows a read
		if p.seen {
			afterRead++
		}
		<-done2
	}
	if afterWrite < rounds*3/4 {
		t.Errorf("read after write ran the waiting goroutine first in %d of %d rounds, want most", afterWrite, rounds)
	}
	if afterRead > rounds/4 {
		t.Errorf("read after read yielded in %d of %d rounds, want (almost) none", afterRead, rounds)
	}
}
