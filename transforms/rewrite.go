package transforms

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/veilgw/veil/transforms/jsonpath"
)

// rewriter is the per-call state of Rewrite, pooled per Program.
//
// Output discipline: src[flushed:] has not been copied to dst yet; bytes
// are copied in bulk, and only change points (a replaced value, a removed
// member or element, a dropped comma) write anything else.
type rewriter struct {
	p       *Program
	src     []byte
	dst     []byte
	flushed int
	changed bool
	res     *Result
	scratch Result // res when the caller passes nil
	ectx    *jsonpath.EvalContext

	tmp, wtmp, wkey, canon, sum, keybuf, repl []byte
	sivbuf                                    []byte // AES-SIV output (tokenize, detokenize)
	macs                                      []macEntry

	// Transit mode (transit.go): items deferred during the scan, their
	// inputs (tbuf) and results (tres), the output copy of the
	// substitution pass (tout) and the current batch (tidx, tpts).
	transit          []transitItem
	tbuf, tres, tout []byte
	tidx             []int
	tpts             [][]byte
	// litEsc reports whether the value decide hands to an action is a
	// string literal holding escapes (false for other values); set by
	// decide just before action.apply, so actions need not search for a
	// backslash again.
	litEsc bool
	// litASCII reports that the value is a string literal known to hold
	// only ASCII bytes (false: not a string, or not known); set with
	// litEsc.
	litASCII bool

	// track maintains the normalized path of the current node and
	// collects the paths of nodes the record id query selects instead of
	// their values (selectPaths, for tests).
	track    bool
	path     []byte
	selected []string

	// shapeBuf holds the shapes being recorded (see rewriter.object), one
	// after the other: an object recording its shape may hold others
	// that record theirs.
	shapeBuf []shapeEnt

	// ids holds the collected record ids back to back, idEnds where each
	// ends: Rewrite turns them into Result.RecordIDs with one string
	// allocation for all of them.
	ids    []byte
	idEnds []int
}

type decisionKind uint8

const (
	keepNode    decisionKind = iota // copied as is
	descendNode                     // container whose children have work
	replaceNode                     // replaced by rw.repl
	doneNode                        // replaced already: a mask applied in place by decide
	removeNode                      // removed (null at the root)
)

type decision struct {
	kind    decisionKind
	end     int   // end of the value, -1 if not known yet (descend)
	inh     int32 // descend: leaf rule inherited by the children, or -1
	collect bool  // the record id query selects the node
}

// errAt reports a scanner failure code (-1 invalid, -2 too deep).
func errAt(code, pos int) error {
	if code == -2 {
		return fmt.Errorf("%w (at offset %d)", ErrTooDeep, pos)
	}
	return fmt.Errorf("%w (at offset %d)", ErrInvalidJSON, pos)
}

// Rewrite appends the rewritten document src to dst and returns it. src
// must be exactly one valid JSON document (RFC 8259; whitespace around it
// is allowed); it is validated while it is rewritten. On error dst is
// returned unextended and res holds partial counts.
//
// Encrypt/decrypt rules with mode "transit" cost at most one
// Options.Transit call per direction and transit key name, made after the
// scan (bounded by Options.TransitTimeout); when such a call fails Rewrite
// returns an error wrapping ErrKeyUnavailable and no output.
//
// Every selector and condition is evaluated on the original document.
// When several rules select a node the most protective action wins (see
// Precedence). res may be nil. dst must not overlap src. The Program may
// be used by many goroutines at once; Rewrite allocates nothing in the
// steady state except one string holding Result.RecordIDs (and the batches of
// transit calls, when a transit rule selects something).
func (p *Program) Rewrite(dst, src []byte, res *Result) ([]byte, error) {
	rw := p.pool.Get().(*rewriter)
	start := len(dst)
	rw.src, rw.dst, rw.flushed, rw.changed = src, dst, 0, false
	if res == nil {
		res = &rw.scratch
	}
	rw.res = res
	p.initResult(res)
	for i := range rw.macs {
		rw.macs[i].resolved = false
	}
	rw.transit, rw.tbuf = rw.transit[:0], rw.tbuf[:0]
	rw.ids, rw.idEnds = rw.ids[:0], rw.idEnds[:0]
	rw.shapeBuf = rw.shapeBuf[:0] // an error may have left some
	out, err := rw.run()
	if err == nil && len(rw.idEnds) > 0 {
		rw.flushIDs()
	}
	if err == nil && len(rw.transit) > 0 {
		out, err = rw.finishTransit(out, start)
	}
	rw.src, rw.dst, rw.res, rw.ectx = nil, nil, nil, nil
	if cap(rw.repl) > 64<<10 {
		rw.repl = nil
	}
	if cap(rw.ids) > 64<<10 {
		rw.ids = nil
	}
	if len(rw.transit) > 0 {
		rw.releaseTransit()
	}
	p.pool.Put(rw)
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// Rules names the program's rules as Result.Rules does (path and action,
// in rule order), with zero counts.
func (p *Program) Rules() []RuleCount {
	return p.appendRules(make([]RuleCount, 0, len(p.rules)))
}

// appendRules appends the rules' names with zero counts to dst.
func (p *Program) appendRules(dst []RuleCount) []RuleCount {
	for i := range p.rules {
		dst = append(dst, RuleCount{Path: p.rules[i].path, Action: p.rules[i].action})
	}
	return dst
}

func (p *Program) initResult(res *Result) {
	res.Failed, res.Changed, res.RecordIDsTruncated = 0, false, false
	res.RecordIDs = res.RecordIDs[:0]
	if cap(res.Rules) < len(p.rules) {
		res.Rules = make([]RuleCount, 0, len(p.rules))
	}
	res.Rules = p.appendRules(res.Rules[:0])
}

// Reset clears r for reuse, keeping its storage.
func (r *Result) Reset() {
	*r = Result{Rules: r.Rules[:0], RecordIDs: r.RecordIDs[:0]}
}

func (rw *rewriter) run() ([]byte, error) {
	s := rw.src
	i := skipWS(s, 0)
	if i >= len(s) {
		return nil, fmt.Errorf("%w: empty body", ErrInvalidJSON)
	}
	d, err := rw.decide(i, rw.p.m.root, -1, 0, -1, true)
	if err != nil {
		return nil, err
	}
	var end int
	if d.kind == removeNode {
		rw.dst = append(rw.dst, s[rw.flushed:i]...)
		rw.dst = append(rw.dst, "null"...)
		rw.flushed, rw.changed, end = d.end, true, d.end
	} else if end, err = rw.exec(i, d, rw.p.m.root, 0); err != nil {
		return nil, err
	}
	if j := skipWS(s, end); j != len(s) {
		return nil, fmt.Errorf("%w: data after the document (at offset %d)", ErrInvalidJSON, j)
	}
	rw.res.Changed = rw.changed
	return append(rw.dst, s[rw.flushed:]...), nil
}

// skip finds the end of the value at i.
func (rw *rewriter) skip(i, depth int) (int, error) {
	var end int
	if rw.src[i] == '"' {
		end, _ = scanString(rw.src, i)
	} else {
		end = skipValue(rw.src, i, depth, rw.p.opts.MaxDepth)
	}
	if end < 0 {
		return 0, errAt(end, i)
	}
	return end, nil
}

// decide picks what happens to the value at i whose matcher state is st;
// inh is the leaf rule inherited from a selected ancestor (or -1); end is
// the end of the value when already known (or -1). depth counts the
// containers enclosing the value. direct: the output may be written now
// (no comma before the value is to be dropped), for doneNode.
func (rw *rewriter) decide(i int, st *dstate, inh int32, depth, end int, direct bool) (decision, error) {
	p := rw.p
	win, fromSel := inh, false
	d := decision{end: end, inh: -1}
	var err error
	for _, q := range st.accept {
		if q == p.recordQ {
			d.collect = true
			continue
		}
		r := &p.rules[q]
		if win >= 0 {
			w := &p.rules[win]
			if r.rank > w.rank || (r.rank == w.rank && q > win) {
				continue
			}
		}
		if r.where != nil {
			if d.end < 0 {
				if d.end, err = rw.skip(i, depth); err != nil {
					return d, err
				}
			}
			if !r.where.eval(rw, rw.src[i:d.end]) {
				continue
			}
		}
		win, fromSel = q, true
	}
	c := rw.src[i]
	container := c == '{' || c == '['
	if win < 0 {
		if container && st.live {
			d.kind = descendNode
			return d, nil
		}
		if d.end < 0 {
			if d.end, err = rw.skip(i, depth); err != nil {
				return d, err
			}
		}
		d.kind = keepNode
		return d, nil
	}
	r := &p.rules[win]
	if fromSel {
		rw.res.Rules[win].Count++
	}
	if container && !r.whole {
		d.kind, d.inh = descendNode, win
		return d, nil
	}
	// A string is scanned here rather than through skip, keeping whether
	// it holds escapes and non-ASCII bytes for the action (see
	// rewriter.litEsc and litASCII).
	rw.litEsc, rw.litASCII = false, false
	switch {
	case d.end >= 0:
		rw.litEsc = c == '"' && bytes.IndexByte(rw.src[i:d.end], '\\') >= 0
	case c == '"':
		var flags uint8
		if d.end, flags = scanStringFlags(rw.src, i); d.end < 0 {
			return d, errAt(-1, i)
		}
		rw.litEsc, rw.litASCII = flags&strEscaped != 0, flags&strNonASCII == 0
	default:
		if d.end, err = rw.skip(i, depth); err != nil {
			return d, err
		}
	}
	if r.remove {
		d.kind = removeNode
		return d, nil
	}
	if a, ok := r.act.(*maskAction); ok && direct && !d.collect && a.maskInPlace(rw, i, d.end) {
		// The commonest replacement, done here: no call to exec.
		d.kind = doneNode
		return d, nil
	}
	var ok bool
	rw.repl, ok, err = r.act.apply(rw, rw.repl[:0], rw.src[i:d.end])
	if err != nil {
		return d, err
	}
	if !ok {
		rw.res.Failed++
		d.kind = removeNode
		return d, nil
	}
	d.kind = replaceNode
	return d, nil
}

// exec carries out a decision other than removal for the value at i and
// returns its end.
func (rw *rewriter) exec(i int, d decision, st *dstate, depth int) (int, error) {
	var out []byte
	end := d.end
	switch d.kind {
	case keepNode:
		out = rw.src[i:end]
	case replaceNode:
		rw.dst = append(rw.dst, rw.src[rw.flushed:i]...)
		rw.dst = append(rw.dst, rw.repl...)
		rw.flushed, rw.changed = end, true
		out = rw.repl
	case doneNode: // written by decide (d.collect is false)
	case descendNode:
		var err error
		start := -1
		if d.collect {
			rw.dst = append(rw.dst, rw.src[rw.flushed:i]...)
			rw.flushed = i
			start = len(rw.dst)
		}
		if rw.src[i] == '{' {
			end, err = rw.object(i, st, d.inh, depth)
		} else {
			end, err = rw.array(i, st, d.inh, depth)
		}
		if err != nil {
			return 0, err
		}
		if start >= 0 {
			rw.dst = append(rw.dst, rw.src[rw.flushed:end]...)
			rw.flushed = end
			out = rw.dst[start:]
		}
	}
	if d.collect {
		rw.collect(out)
	}
	return end, nil
}

// collect records a record id: the node's output form (its original text
// when no action touched it).
func (rw *rewriter) collect(out []byte) {
	res := rw.res
	if rw.track {
		rw.selected = append(rw.selected, string(rw.path))
		return
	}
	if len(rw.idEnds) >= rw.p.opts.MaxRecordIDs {
		res.RecordIDsTruncated = true
		return
	}
	rw.ids = append(rw.ids, out...)
	rw.idEnds = append(rw.idEnds, len(rw.ids))
}

// flushIDs sets Result.RecordIDs from the collected ids.
func (rw *rewriter) flushIDs() {
	all := string(rw.ids)
	start := 0
	for _, end := range rw.idEnds {
		rw.res.RecordIDs = append(rw.res.RecordIDs, all[start:end])
		start = end
	}
}

// filterBits evaluates the state's filter selectors on a child. A filter
// that reads a repeated member name fails the document (ErrInvalidJSON):
// which occurrence counts differs between readers, so whether the child is
// selected would be the gateway's guess, not the reader's.
func (rw *rewriter) filterBits(st *dstate, raw []byte) (uint64, error) {
	if rw.ectx == nil {
		rw.ectx = jsonpath.NewEvalContext(rw.src)
	}
	var bits uint64
	for j := st.nPos; j < len(st.dyn); j++ {
		ok, err := st.dyn[j].sel.Filter.Eval(rw.ectx, raw)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrInvalidJSON, err)
		}
		if ok {
			bits |= 1 << j
		}
	}
	return bits, nil
}

// object rewrites the object at i (s[i] == '{') and returns its end.
func (rw *rewriter) object(i int, st *dstate, inh int32, depth int) (int, error) {
	s := rw.src
	m := rw.p.m
	if depth >= rw.p.opts.MaxDepth {
		return 0, errAt(-2, i)
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	first, wrote, comma := true, false, 0
	pathLen := len(rw.path)
	// The shape of the objects in this state predicts the names (see
	// shapeEnt): shape[0] is the name expected next. While the state has
	// no shape, one of its first objects records its own in
	// rw.shapeBuf[base:] (base -1: not recording).
	var shape []shapeEnt
	base := -1
	if st.memberFast && !rw.track {
		if sh := st.shape.Load(); sh != nil {
			shape = *sh
		} else if st.shapeTries.Load() < maxShapeTries {
			base = len(rw.shapeBuf)
		}
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, errAt(-1, i)
		}
		ks := i
		var ke int
		esc, known := false, false
		cst, vend := m.empty, -1
		if len(shape) > 0 && i+16 <= len(s) {
			// The predicted name, or the one after it (this object lacks
			// the predicted member); else this object does not have the
			// shape: no more predictions.
			if !shape[0].match(s, i) {
				shape = shape[1:]
				if len(shape) == 0 || !shape[0].match(s, i) {
					shape = nil
				}
			}
			if len(shape) > 0 {
				ke, cst, known = i+shape[0].n, shape[0].cst, true
				shape = shape[1:]
			}
		}
		if !known {
			if ke, esc = scanString(s, i); ke < 0 {
				return 0, errAt(-1, i)
			}
		}
		j := skipWS(s, ke)
		if j >= len(s) || s[j] != ':' {
			return 0, errAt(-1, j)
		}
		vs := skipWS(s, j+1)
		if vs >= len(s) {
			return 0, errAt(-1, vs)
		}
		if st.live && !known {
			name := s[ks+1 : ke-1]
			if esc {
				rw.keybuf = appendUnescaped(rw.keybuf[:0], s[ks:ke])
				name = rw.keybuf
			}
			if st.hasFilt {
				c := child{member: true, slot: st.nameSlot(name)}
				var err error
				if vend, err = rw.skip(vs, depth+1); err != nil {
					return 0, err
				}
				if c.bits, err = rw.filterBits(st, s[vs:vend]); err != nil {
					return 0, err
				}
				cst = m.step(st, c)
			} else {
				slot := st.nameSlot(name)
				if cst = st.nameT[slot].Load(); cst == nil {
					cst = m.stepSlow(st, child{member: true, slot: slot})
				}
			}
			if rw.track {
				rw.path = jsonpath.AppendNormalizedName(rw.path[:pathLen], string(name)) // select mode only
			}
			if base >= 0 {
				rw.recordShape(base, s[ks:ke], esc, cst)
			}
		}
		var end int
		if len(cst.accept) == 0 && inh < 0 {
			// Fast path: nothing selects this node.
			if !wrote && !first {
				rw.dropComma(comma)
			}
			wrote = true
			if vend < 0 && s[vs] == '"' {
				// The commonest value, scanned here rather than through
				// unselected.
				if end, _ = scanString(s, vs); end < 0 {
					return 0, errAt(-1, vs)
				}
			} else {
				var err error
				if end, err = rw.unselected(vs, vend, cst, depth); err != nil {
					return 0, err
				}
			}
		} else {
			d, err := rw.decide(vs, cst, inh, depth+1, vend, wrote || first)
			if err != nil {
				return 0, err
			}
			if d.kind == removeNode {
				from := ks
				if !first {
					from = comma
				}
				rw.dst = append(rw.dst, s[rw.flushed:from]...)
				rw.flushed, rw.changed = d.end, true
				end = d.end
			} else {
				if !wrote && !first {
					rw.dropComma(comma)
				}
				wrote = true
				if d.kind == doneNode {
					end = d.end
				} else if end, err = rw.exec(vs, d, cst, depth+1); err != nil {
					return 0, err
				}
			}
		}
		first = false
		i = skipWS(s, end)
		if i >= len(s) {
			return 0, errAt(-1, i)
		}
		if s[i] == '}' {
			if rw.track {
				rw.path = rw.path[:pathLen]
			}
			if base >= 0 {
				rw.setShape(st, base)
			}
			return i + 1, nil
		}
		if s[i] != ',' {
			return 0, errAt(-1, i)
		}
		comma = i
		i = skipWS(s, i+1)
	}
}

// recordShape appends the member with the quoted name lit (holding escapes
// if esc) and the state cst to the shape being recorded in
// rw.shapeBuf[base:], if it holds fewer than maxShapeMembers (past them,
// names are not predicted). A name that cannot be predicted (too long,
// escaped, or leading to a state that is not interned) gets an entry that
// never matches, keeping the place of the following ones.
func (rw *rewriter) recordShape(base int, lit []byte, esc bool, cst *dstate) {
	if len(rw.shapeBuf)-base == maxShapeMembers {
		return
	}
	e := shapeEnt{w0: 1} // never matches: no masked bytes can equal 1
	if !esc && len(lit) <= 16 && cst.interned {
		e = newShapeEnt(lit, cst)
	}
	rw.shapeBuf = append(rw.shapeBuf, e)
}

// setShape ends the recording of a shape for st, rw.shapeBuf[base:],
// publishing it unless another object did it first.
func (rw *rewriter) setShape(st *dstate, base int) {
	st.shapeTries.Add(1)
	if len(rw.shapeBuf) > base {
		sh := slices.Clone(rw.shapeBuf[base:])
		st.shape.CompareAndSwap(nil, &sh)
	}
	rw.shapeBuf = rw.shapeBuf[:base]
}

// dropComma removes the comma at c: the members or elements before it
// were all removed.
func (rw *rewriter) dropComma(c int) {
	rw.dst = append(rw.dst, rw.src[rw.flushed:c]...)
	rw.flushed, rw.changed = c+1, true
}

// unselected copies the value at vs, which no rule selects (its state
// cst accepts nothing and nothing is inherited), into the output: a live
// object or array is walked for selected descendants, anything else is
// skipped over (vend >= 0: already scanned to vend). It returns the end.
func (rw *rewriter) unselected(vs, vend int, cst *dstate, depth int) (int, error) {
	s := rw.src
	switch c := s[vs]; {
	case vend < 0 && c == '"': // the commonest case first
		end, _ := scanString(s, vs)
		if end < 0 {
			return 0, errAt(-1, vs)
		}
		return end, nil
	case cst.live && c == '{':
		return rw.object(vs, cst, -1, depth+1)
	case cst.live && c == '[':
		return rw.array(vs, cst, -1, depth+1)
	case vend >= 0:
		return vend, nil
	default:
		return rw.skip(vs, depth+1)
	}
}

// array rewrites the array at i (s[i] == '[') and returns its end.
func (rw *rewriter) array(i int, st *dstate, inh int32, depth int) (int, error) {
	s := rw.src
	m := rw.p.m
	if depth >= rw.p.opts.MaxDepth {
		return 0, errAt(-2, i)
	}
	length := int64(-1)
	if st.live && st.needLen {
		end, err := rw.skip(i, depth)
		if err != nil {
			return 0, err
		}
		length = countElements(s[i:end])
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	first, wrote, comma := true, false, 0
	pathLen := len(rw.path)
	for k := int64(0); ; k++ {
		if i >= len(s) {
			return 0, errAt(-1, i)
		}
		vs := i
		cst, vend := m.empty, -1
		if st.live {
			var c child
			if st.nPos > 0 {
				c.bits = st.posBits(k, length)
			}
			if st.hasFilt {
				var err error
				if vend, err = rw.skip(vs, depth+1); err != nil {
					return 0, err
				}
				fb, err := rw.filterBits(st, s[vs:vend])
				if err != nil {
					return 0, err
				}
				c.bits |= fb
			}
			cst = m.step(st, c)
			if rw.track {
				rw.path = jsonpath.AppendNormalizedIndex(rw.path[:pathLen], int(k))
			}
		}
		var end int
		if len(cst.accept) == 0 && inh < 0 {
			// Fast path: nothing selects this node.
			if !wrote && !first {
				rw.dropComma(comma)
			}
			wrote = true
			var err error
			if end, err = rw.unselected(vs, vend, cst, depth); err != nil {
				return 0, err
			}
		} else {
			d, err := rw.decide(vs, cst, inh, depth+1, vend, wrote || first)
			if err != nil {
				return 0, err
			}
			if d.kind == removeNode {
				from := vs
				if !first {
					from = comma
				}
				rw.dst = append(rw.dst, s[rw.flushed:from]...)
				rw.flushed, rw.changed = d.end, true
				end = d.end
			} else {
				if !wrote && !first {
					rw.dropComma(comma)
				}
				wrote = true
				if d.kind == doneNode {
					end = d.end
				} else if end, err = rw.exec(vs, d, cst, depth+1); err != nil {
					return 0, err
				}
			}
		}
		first = false
		i = skipWS(s, end)
		if i >= len(s) {
			return 0, errAt(-1, i)
		}
		if s[i] == ']' {
			if rw.track {
				rw.path = rw.path[:pathLen]
			}
			return i + 1, nil
		}
		if s[i] != ',' {
			return 0, errAt(-1, i)
		}
		comma = i
		i = skipWS(s, i+1)
	}
}
