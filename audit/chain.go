package audit

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// The hash chain. Every event carries chain_id, seq (1, 2, ... within the
// chain) and prev_hash (the hash of the previous event of the chain, ""
// for the first), and ends with hash = hex SHA-256(prev_hash || line),
// where line is the event's JSON line exactly as written, without the
// trailing `,"hash":"..."` member (so the line ends in "}"). Editing,
// deleting or reordering events breaks the chain; Verify reports where.

// chain is the Logger's running chain state; guarded by Logger.mu.
type chain struct {
	id   string
	seq  uint64
	prev []byte    // hex hash of the previous event ("" for the first)
	h    hash.Hash // SHA-256, reused
	sum  []byte    // h's output, reused
}

func newChainID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hashMember is what separates an event's body from its hash.
var hashMember = []byte(`,"hash":"`)

// seal chains line, the encoded event (ending in "}", no newline), in
// place: it makes the line's hash the chain's prev and replaces the closing
// brace with `,"hash":"<hex>"}` and a newline. Sealing in place spares the
// request path a second copy of the line.
func (c *chain) seal(line []byte) []byte {
	if c.h == nil {
		c.h = sha256.New()
	}
	c.h.Reset()
	c.h.Write(c.prev)
	c.h.Write(line)
	c.sum = c.h.Sum(c.sum[:0])
	c.prev = hex.AppendEncode(c.prev[:0], c.sum)
	line = append(line[:len(line)-1], hashMember...)
	line = append(line, c.prev...)
	return append(line, '"', '}', '\n')
}

// lineHash recomputes the hash of a written line given prev, and returns
// the hash the line claims; ok is false when the line has no hash member.
func lineHash(line []byte, prev string) (computed, claimed string, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	i := bytes.LastIndex(line, hashMember)
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return "", "", false
	}
	claimed = string(line[i+len(hashMember) : len(line)-2])
	body := make([]byte, 0, i+1)
	body = append(body, line[:i]...)
	body = append(body, '}')
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)), claimed, true
}
