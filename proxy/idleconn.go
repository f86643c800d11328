package proxy

import (
	"net"
	"time"
)

// idleConn turns absolute I/O deadlines into idle timeouts: every Read
// (Write) may wait at most readIdle (writeIdle) for progress, however long
// the whole transfer takes. fasthttp sets one deadline per request or
// response, which would cut a long streamed body (a 1 GiB upload) that is
// making steady progress; a proxy wants "no byte for T" instead, like
// nginx's proxy_read_timeout. Deadlines fasthttp sets are ignored.
//
// Moving a deadline costs a timer update per call, so it moves at most
// every quarter of the timeout, to 1.25 times the timeout: a connection
// is then cut after between T and 1.25 T without progress, never sooner.
type idleConn struct {
	net.Conn
	readIdle, writeIdle time.Duration
	readNext, writeNext time.Duration // monoNow after which the deadline moves again
}

// monoEpoch and monoNow give a monotonic clock reading that costs one
// clock read (time.Now reads the wall clock too): idleConn checks it on
// every Read and Write, and forward times the upstream with it.
var monoEpoch = time.Now()

func monoNow() time.Duration { return time.Since(monoEpoch) }

// due reports whether a deadline must move (now past next) and where to:
// 1.25 idle from now, moving again after a quarter of idle.
func due(next *time.Duration, idle time.Duration) (time.Time, bool) {
	now := monoNow()
	if now < *next {
		return time.Time{}, false
	}
	*next = now + idle/4
	return monoEpoch.Add(now + idle + idle/4), true
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.readIdle > 0 {
		if d, ok := due(&c.readNext, c.readIdle); ok {
			if err := c.Conn.SetReadDeadline(d); err != nil {
				return 0, err
			}
		}
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.writeIdle > 0 {
		if d, ok := due(&c.writeNext, c.writeIdle); ok {
			if err := c.Conn.SetWriteDeadline(d); err != nil {
				return 0, err
			}
		}
	}
	return c.Conn.Write(p)
}

func (c *idleConn) SetDeadline(time.Time) error      { return nil }
func (c *idleConn) SetReadDeadline(time.Time) error  { return nil }
func (c *idleConn) SetWriteDeadline(time.Time) error { return nil }

// idleListener wraps accepted connections in idleConn.
type idleListener struct {
	net.Listener
	readIdle, writeIdle time.Duration
}

func (l idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, readIdle: l.readIdle, writeIdle: l.writeIdle}, nil
}
