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
type idleConn struct {
	net.Conn
	readIdle, writeIdle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.readIdle > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.readIdle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.writeIdle > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeIdle)); err != nil {
			return 0, err
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
