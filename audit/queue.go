package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Delivery. Every sink has an output: a bounded in-memory FIFO of records
// (queue_size), an optional spool file on disk, and one goroutine that
// hands batches to the sink in order and retries a failed batch with
// exponential backoff until it lands. The request path only appends to the
// FIFO, so it never waits on a slow sink.
//
// Order is kept per sink: once a record had to go to the spool (FIFO
// full, or left over at shutdown), every later record goes there too until
// the spool is drained; the FIFO's records are always older than the
// spool's. A spool left by a previous run is delivered first at start.
//
// Health (Logger.Healthy, Logger.Reserve): an output is unhealthy while
// its last write failed or a write has been in flight longer than
// stallAfter. In deny mode the gateway reserves one FIFO slot per sink
// before it calls the upstream, so the event of every request that reached
// the upstream has a place; events of requests refused earlier take a
// free slot, else the spool, else they are dropped and counted.
//
// A reserved event can still have to go to the spool: the sink was
// spooling when it was reserved, or started spooling (for order) since.
// So unreserved records leave spoolHold bytes of the spool free per
// outstanding reservation, Reserve refuses while the sink is spooling and
// its spool lacks that room for one more, and a reserved event is spooled
// whatever the spool holds: it is never dropped. The spool passes
// spool_max_mb only when reserved events need more than the room kept for
// them (events larger than spoolHold, or more reservations than the spool
// had room for when spooling began; reservations never outnumber
// queue_size).

const (
	maxBatch     = 512
	maxBatchSize = 1 << 20
	minBackoff   = 50 * time.Millisecond
	maxBackoff   = 5 * time.Second
	stallAfter   = 2 * time.Second
	// linger delays a batch of fewer than lingerBelow records once, so
	// records arriving together share one write.
	linger      = 2 * time.Millisecond
	lingerBelow = 128
	// spoolHold is the spool room kept per reserved event (a typical
	// event is well under 1 KiB).
	spoolHold = 4 << 10
	// closeGrace bounds how long shutdown waits, after drain_timeout, for
	// a Write in flight to finish.
	closeGrace = time.Second
)

// cpRef identifies a checkpoint record in a queue (for the state file).
type cpRef struct {
	chain string
	seq   uint64
	hash  string
}

type qitem struct {
	buf *[]byte
	cp  *cpRef // set for checkpoint records
}

// output is one sink with its queue, spool and delivery goroutine.
type output struct {
	name    string
	typ     string
	witness bool
	sink    Sink
	size    int
	log     *zap.Logger
	state   *stateFile                   // set on the sink whose delivered checkpoints link the next segment
	format  func([]byte) ([]byte, error) // nil: the canonical line

	mu       sync.Mutex
	q        []qitem   // q[head:] is queued, oldest first
	free     []*[]byte // delivered records' buffers, reused by enqueue
	head     int
	reserved int
	spool    *spool // nil: no spool directory
	closing  bool
	aborted  bool

	wake chan struct{}
	done chan struct{}
	stop chan struct{} // closed when the drain deadline passes

	failing    atomic.Bool
	writeStart atomic.Int64 // unix nanos of the Write in flight; 0: idle
	written    atomic.Uint64
	dropped    atomic.Uint64
	errs       atomic.Uint64
}

func newOutput(name, typ string, witness bool, sink Sink, size int, sp *spool, log *zap.Logger) *output {
	o := &output{name: name, typ: typ, witness: witness, sink: sink, size: size, spool: sp, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{})}
	if sp != nil && sp.count > 0 {
		o.signal() // a spool left by the previous run goes first
	}
	return o
}

// start runs the delivery goroutine; configure o before.
func (o *output) start() { go o.run() }

func (o *output) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *output) queued() int { return len(o.q) - o.head }

// healthy reports whether the sink is delivering.
func (o *output) healthy() error {
	if o.failing.Load() {
		return fmt.Errorf("audit sink %s: failing", o.name)
	}
	if s := o.writeStart.Load(); s != 0 && time.Since(time.Unix(0, s)) > stallAfter {
		return fmt.Errorf("audit sink %s: stalled", o.name)
	}
	return nil
}

// reserveLocked takes one FIFO slot for a future event, and while the
// sink is spooling makes sure its spool has room for the event (it will
// go there) beside the other reserved ones; o.mu must be held. It returns
// why it cannot ("" when it did).
func (o *output) reserveLocked() string {
	switch {
	case o.closing:
		return "closing"
	case o.queued()+o.reserved >= o.size:
		return "queue full"
	case o.spool != nil && o.spool.count > 0 && !o.spool.fits(int64(o.reserved+1)*spoolHold):
		return "spool full"
	}
	o.reserved++
	return ""
}

// enqueue appends a copy of line; o.mu must NOT be held. reserved says
// the event holds a slot taken by reserve. It reports false when the
// record was dropped (counted): no slot and no spool.
func (o *output) enqueue(line []byte, reserved bool, cp *cpRef) bool {
	return o.push(line, nil, reserved, cp)
}

// enqueueOwned is enqueue for a line the caller gives up: *line itself is
// queued, and the caller gets a delivered record's buffer for its next
// line in exchange. So the request path encodes an event straight into
// the buffer its (last) sink's queue keeps, without a copy. A spooled or
// dropped line stays the caller's.
func (o *output) enqueueOwned(line *[]byte, reserved bool) bool {
	return o.push(*line, line, reserved, nil)
}

// push queues line, a copy of it or, with owned (&line), line itself, or
// spools it; see enqueue.
func (o *output) push(line []byte, owned *[]byte, reserved bool, cp *cpRef) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if reserved && o.reserved > 0 {
		o.reserved--
	}
	if o.aborted {
		o.dropped.Add(1)
		return false
	}
	spooling := o.spool != nil && o.spool.count > 0
	if !spooling && (reserved || o.queued()+o.reserved < o.size) {
		var b *[]byte
		if n := len(o.free); n > 0 {
			b, o.free = o.free[n-1], o.free[:n-1]
		} else {
			b = new([]byte)
		}
		if owned == nil {
			*b = append((*b)[:0], line...)
		} else {
			next := (*b)[:0]
			if cap(next) < len(line) {
				// The next event needs about as much room: one
				// allocation instead of the appends' repeated growth.
				next = make([]byte, 0, cap(line))
			}
			*b, *owned = line, next
		}
		o.q = append(o.q, qitem{buf: b, cp: cp})
		o.signal()
		return true
	}
	if o.spool != nil {
		// A reserved event is spooled whatever the spool holds; another
		// record leaves the room held for the reserved ones.
		var err error
		if !reserved && !o.spool.fits(int64(len(line))+int64(o.reserved)*spoolHold) {
			err = fmt.Errorf("spool %s is full (%d bytes)", o.spool.path, o.spool.max)
		} else {
			err = o.spool.append(line)
		}
		if err == nil {
			o.signal()
			return true
		}
		o.log.Error("audit spool write failed; record dropped", zap.String("sink", o.name), zap.Error(err))
	}
	o.dropped.Add(1)
	return false
}

// stateSaveEvery bounds how often a busy sink saves the state file.
const stateSaveEvery = time.Second

// run is the delivery goroutine.
func (o *output) run() {
	defer close(o.done)
	var (
		batch     [][]byte
		items     []qitem
		fromSpool int
		lingered  bool     // the current small batch already waited
		formatted bool     // batch holds the sink's format, not the canonical lines
		spooled   [][]byte // the canonical lines of a batch read from the spool
		backoff   = minBackoff
	)
	// The state file names the last delivered checkpoint. Saving it costs
	// an fsync (on ext4 it also commits the sink file's data, which under
	// a heavy write load takes long), so a saver goroutine does it, off
	// the delivery path: delivery hands it the newest delivered checkpoint
	// (replacing an older one not saved yet) at most every stateSaveEvery
	// while busy, and as soon as the queue runs empty or delivery ends;
	// delivery ending waits for the last save.
	var (
		pendingCP *cpRef
		lastSave  time.Time
		saves     chan *cpRef
	)
	if o.state != nil {
		saves = make(chan *cpRef, 1)
		saved := make(chan struct{})
		go func() {
			defer close(saved)
			for cp := range saves {
				if err := o.state.save(cp); err != nil {
					o.log.Warn("audit state file not written", zap.Error(err))
				}
			}
		}()
		defer func() { close(saves); <-saved }()
	}
	saveState := func() {
		if pendingCP == nil || saves == nil {
			return
		}
		for {
			select {
			case saves <- pendingCP:
				pendingCP, lastSave = nil, time.Now()
				return
			default:
				select {
				case <-saves: // an older checkpoint the saver has not taken
				default:
				}
			}
		}
	}
	defer saveState()
	for {
		if len(batch) == 0 {
			o.mu.Lock()
			for o.queued() == 0 && (o.spool == nil || o.spool.count == 0) {
				if o.closing {
					o.mu.Unlock()
					return
				}
				o.mu.Unlock()
				saveState() // the queue ran empty: the moment to save
				select {
				case <-o.wake:
				case <-o.stop:
					return
				}
				o.mu.Lock()
			}
			if o.aborted || o.stopped() {
				o.mu.Unlock()
				return
			}
			if n := o.queued(); n > 0 && n < lingerBelow && !o.closing && !lingered {
				// A small batch: let it grow for a moment, so a busy
				// gateway writes many records per syscall instead of one.
				o.mu.Unlock()
				lingered = true
				if !o.sleep(linger) {
					return
				}
				continue
			}
			lingered = false
			items = items[:0]
			if n := o.queued(); n > 0 {
				size := 0
				for _, it := range o.q[o.head:] {
					if len(items) == maxBatch || (size > 0 && size+len(*it.buf) > maxBatchSize) {
						break
					}
					items = append(items, it)
					size += len(*it.buf)
				}
				o.mu.Unlock()
				for _, it := range items {
					batch = append(batch, *it.buf)
				}
			} else {
				n := min(o.spool.count, maxBatch)
				o.mu.Unlock()
				lines, err := o.spool.read(n)
				if err != nil {
					o.log.Error("audit spool unreadable", zap.String("sink", o.name), zap.Error(err))
					o.errs.Add(1)
					o.failing.Store(true)
					if !o.sleep(maxBackoff) {
						return
					}
					continue
				}
				batch, spooled, fromSpool = lines, lines, len(lines)
			}
		}
		if o.format != nil && !formatted {
			batch = o.reformat(batch)
			formatted = true
		}
		o.writeStart.Store(time.Now().UnixNano())
		err := o.sink.Write(batch)
		o.writeStart.Store(0)
		if err != nil {
			o.errs.Add(1)
			if !o.failing.Swap(true) {
				o.log.Error("audit sink failing; records are kept and retried", zap.String("sink", o.name), zap.Error(err))
			}
			if !o.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if o.failing.Swap(false) {
			o.log.Info("audit sink recovered", zap.String("sink", o.name))
		}
		backoff = minBackoff
		o.written.Add(uint64(len(batch)))
		var last *cpRef
		o.mu.Lock()
		if !o.aborted {
			if fromSpool > 0 {
				o.spool.consumed(spooled)
			} else {
				for i := range items {
					if items[i].cp != nil {
						last = items[i].cp
					}
					if len(o.free) < o.size {
						o.free = append(o.free, items[i].buf)
					}
					o.q[o.head+i] = qitem{}
				}
				o.head += len(items)
				if o.head > 1024 && o.head*2 > len(o.q) {
					n := copy(o.q, o.q[o.head:])
					clear(o.q[n:])
					o.q, o.head = o.q[:n], 0
				} else if o.head == len(o.q) {
					o.q, o.head = o.q[:0], 0
				}
			}
		}
		o.mu.Unlock()
		if last != nil {
			pendingCP = last
			if time.Since(lastSave) >= stateSaveEvery {
				saveState()
			}
		}
		batch, fromSpool, formatted = batch[:0], 0, false
	}
}

// reformat converts a batch to the sink's format. A record that cannot be
// converted is sent as its canonical line rather than lost.
func (o *output) reformat(batch [][]byte) [][]byte {
	out := make([][]byte, len(batch))
	for i, l := range batch {
		f, err := o.format(l)
		if err != nil {
			o.log.Warn("audit record not convertible; sent in the veil format", zap.String("sink", o.name), zap.Error(err))
			f = l
		}
		out[i] = f
	}
	return out
}

// stopped reports whether the drain deadline has passed.
func (o *output) stopped() bool {
	select {
	case <-o.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the drain deadline; false means stop.
func (o *output) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-o.stop:
		return false
	}
}

// close drains the queue until deadline, then spools what is left (when a
// spool exists) so the next run delivers it, and closes the sink.
//
// At the deadline delivery stops at its next step, but a Write may be in
// flight, its batch still in the queue (a batch leaves the queue once
// delivered). close waits for it (closeGrace) before it spools the queue:
// a batch that lands meanwhile has left the queue and is not delivered
// again at the next start. Only a Write still in flight after closeGrace
// has its batch spooled (it may land too: then it is delivered twice, and
// the verifier reports the repeat as "reordered").
func (o *output) close(deadline time.Time) error {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	o.signal()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	drained := true
	select {
	case <-o.done:
	case <-t.C:
		drained = false
		close(o.stop)
	}
	var err error
	if !drained {
		select {
		case <-o.done:
		case <-time.After(closeGrace):
		}
		o.mu.Lock()
		o.aborted = true
		left := o.queued()
		if left > 0 && o.spool != nil {
			lines := make([][]byte, 0, left)
			for _, it := range o.q[o.head:] {
				lines = append(lines, *it.buf)
			}
			err = o.spool.prepend(lines)
			if err == nil {
				left = 0
			}
		}
		o.mu.Unlock()
		if left > 0 {
			o.dropped.Add(uint64(left))
			err = errors.Join(err, fmt.Errorf("audit sink %s: %d record(s) undelivered at shutdown", o.name, left))
		} else if o.spool != nil && o.spool.count > 0 {
			o.log.Warn("audit sink not drained at shutdown; records spooled for the next start",
				zap.String("sink", o.name), zap.Int("records", o.spool.count))
		}
	}
	err = errors.Join(err, o.sink.Close())
	if o.spool != nil {
		err = errors.Join(err, o.spool.close())
	}
	return err
}

// spool is a sink's overflow file: JSON lines appended at the end, read
// from the front, truncated when drained. Only the owning output touches
// it: appends and bookkeeping under output.mu, reads (of lines already
// counted, so complete) by the delivery goroutine alone.
type spool struct {
	path  string
	w     *os.File
	r     *os.File
	br    *bufio.Reader
	count int   // lines in the file not yet delivered
	off   int64 // offset of the first undelivered line
	size  int64 // bytes in the file
	max   int64
}

func openSpool(path string, max int64) (*spool, error) {
	w, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	r, err := os.Open(path)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	s := &spool{path: path, w: w, r: r, br: bufio.NewReaderSize(r, 64<<10), max: max}
	// A spool left by a previous run: count its complete lines; a torn
	// last line (a crash mid-write) cannot be delivered and is cut off.
	for {
		l, err := s.br.ReadBytes('\n')
		if err != nil {
			if len(l) > 0 {
				if terr := w.Truncate(s.size); terr != nil {
					s.close()
					return nil, fmt.Errorf("audit spool: %w", terr)
				}
			}
			break
		}
		s.count++
		s.size += int64(len(l))
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		s.close()
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	s.br.Reset(r)
	return s, nil
}

// fits reports whether n more bytes fit within the spool's max.
func (s *spool) fits(n int64) bool { return s.max <= 0 || s.size+n <= s.max }

// append adds line at the end; the caller checked fits.
func (s *spool) append(line []byte) error {
	if _, err := s.w.Write(line); err != nil {
		return err
	}
	s.size += int64(len(line))
	s.count++
	return nil
}

// read returns the next n lines (with newlines) without consuming them;
// consumed does, once they are delivered. The caller keeps a batch until
// it lands, so lines are read once.
func (s *spool) read(n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for len(out) < n {
		l, err := s.br.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("spool %s: %w", s.path, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// consumed drops delivered lines; an empty spool is truncated.
func (s *spool) consumed(lines [][]byte) {
	s.count -= len(lines)
	for _, l := range lines {
		s.off += int64(len(l))
	}
	if s.count > 0 {
		return
	}
	s.count = 0
	if err := s.w.Truncate(0); err == nil {
		s.size, s.off = 0, 0
		if _, err := s.r.Seek(0, io.SeekStart); err == nil {
			s.br.Reset(s.r)
		}
	}
}

// prepend puts lines (older than anything spooled) before the spool's
// undelivered lines: a new file renamed over the old one. Used at
// shutdown only (appends afterwards would go to the replaced file).
func (s *spool) prepend(lines [][]byte) error {
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	var size int64
	for _, l := range lines {
		_, _ = bw.Write(l)
		size += int64(len(l))
	}
	rest, err := os.Open(s.path)
	if err == nil {
		var n int64
		if _, err = rest.Seek(s.off, io.SeekStart); err == nil {
			n, err = io.Copy(bw, rest)
			size += n
		}
		rest.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	s.count += len(lines)
	s.size, s.off = size, 0
	return nil
}

func (s *spool) close() error {
	err := s.w.Sync()
	return errors.Join(err, s.w.Close(), s.r.Close())
}
