package transforms

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/veilgw/veil/transforms/jsonpath"
)

// The matcher. All queries of a Program (the rules' paths and the record
// id path) form one NFA whose states are (query, segment) pairs: "this node
// matched the query's segments before seg". A descendant segment keeps its
// state alive in every descendant. The DFA over sets of NFA states is built
// lazily while bodies are rewritten and cached in the Program: a member
// name transition is a slot per name mentioned by the state's selectors
// plus one default transition for every other name; array elements have
// one default transition plus, when index, slice or filter selectors are
// active, transitions keyed by the bitmask of those selectors that hold for
// the element. Published transitions are read without locks.

// maxDFAStates bounds the interned states; past it, new states are built
// per use and not cached (correct, slower), so a hostile body cannot grow
// a Program without bound.
const maxDFAStates = 4096

// maxDynTransitions bounds the cached transitions of one state that depend
// on index, slice and filter outcomes (one per distinct outcome).
const maxDynTransitions = 1024

// dynKey keys the transitions that depend on index, slice and filter
// selectors: their outcome bits and the member name slot (-1: element).
type dynKey struct {
	bits uint64
	slot int32
}

type nstate struct {
	q   int32 // query index
	seg int32 // next segment to apply
}

// dynSel is one index, slice or filter selector active in a state.
type dynSel struct {
	sel *jsonpath.Selector
}

type dstate struct {
	set    []nstate
	accept []int32 // queries that select the node in this state
	live   bool    // some query has segments left

	names []string // member names mentioned by live name selectors
	// lenMask has bit min(len(name), 63) set for every name: a member
	// name whose length has no bit is "other" without any lookup (most
	// members of a record are, and their length is known from the scan).
	lenMask uint64
	// perfect hash table of names, when there are several (see
	// buildNameTable); nil: names are compared one by one
	tab      []nameEnt
	tabMul   uint64
	tabShift uint64
	// nameMap holds the names when there are many and no perfect table
	// was found; nil: few names, compared one by one
	nameMap map[string]int32
	// nameT[i] is the transition for names[i]; nameT[len(names)] the one
	// for every other name.
	nameT      []atomic.Pointer[dstate]
	memberFast bool                   // live and no filters: member transitions by name only
	elemT      atomic.Pointer[dstate] // elements no dynamic selector holds for

	dyn     []dynSel // index/slice selectors first, then filters
	nPos    int      // how many of dyn are index/slice selectors
	needLen bool     // some index/slice selector needs the array length
	hasFilt bool
	dynT    sync.Map // dynKey -> *dstate
	nDynT   atomic.Int32

	interned bool // cached in the matcher; transitions only point to these

	// shape predicts the members of the objects in this state (see
	// shapeEnt), set once from one of the first objects walked in it;
	// shapeTries counts the objects that tried to set it.
	shape      atomic.Pointer[[]shapeEnt]
	shapeTries atomic.Int32
}

// shapeEnt is one member of an object shape: records of a list nearly
// always hold the same names in the same order, so the walk of an object
// predicts that its next name is the next of the shape, a name of at most
// 16 bytes (quotes included, no escapes) that an earlier object held. A
// name found byte for byte where predicted is valid (it was scanned when
// the shape was recorded) and has the recorded transition: the comparison
// of two words replaces the scan of the name, its lookup and the load of
// the transition.
type shapeEnt struct {
	w0, w1 uint64 // the quoted name, little endian, zero past its end
	m0, m1 uint64 // masks of its bytes in the two words
	n      int    // its length, quotes included
	cst    *dstate
}

// Bounds of the object shapes.
const (
	maxShapeMembers = 64 // members of a shape; later ones are not predicted
	maxShapeTries   = 8  // objects of a state that may try to set its shape
)

// match reports whether the name at s[i] (a quote) is e's: s[i:i+16]
// must be in s.
func (e *shapeEnt) match(s []byte, i int) bool {
	a := binary.LittleEndian.Uint64(s[i : i+8 : i+8])
	b := binary.LittleEndian.Uint64(s[i+8 : i+16 : i+16])
	return (a&e.m0^e.w0)|(b&e.m1^e.w1) == 0
}

// newShapeEnt returns the entry of the quoted name lit (at most 16 bytes)
// whose transition is cst.
func newShapeEnt(lit []byte, cst *dstate) shapeEnt {
	var buf [16]byte
	copy(buf[:], lit)
	e := shapeEnt{n: len(lit), cst: cst}
	e.w0 = binary.LittleEndian.Uint64(buf[:8])
	e.w1 = binary.LittleEndian.Uint64(buf[8:])
	e.m0 = ^uint64(0) >> (64 - 8*min(len(lit), 8)) // len(lit) >= 2
	if len(lit) > 8 {
		e.m1 = ^uint64(0) >> (128 - 8*len(lit))
	}
	return e
}

type matcher struct {
	queries []*jsonpath.Query
	mu      sync.Mutex
	states  map[string]*dstate
	// maxStates is maxDFAStates (tests lower it)
	maxStates int
	empty     *dstate
	root      *dstate
	// noShape: states never get a shape (tests compare with it)
	noShape bool
}

func newMatcher(queries []*jsonpath.Query) *matcher {
	m := &matcher{queries: queries, states: make(map[string]*dstate), maxStates: maxDFAStates}
	m.empty = m.intern(nil)
	set := make([]nstate, len(queries))
	for i := range queries {
		set[i] = nstate{q: int32(i)}
	}
	m.root = m.intern(set)
	return m
}

func setKey(set []nstate) string {
	b := make([]byte, 0, 8*len(set))
	for _, n := range set {
		b = binary.LittleEndian.AppendUint32(b, uint32(n.q))
		b = binary.LittleEndian.AppendUint32(b, uint32(n.seg))
	}
	return string(b)
}

// intern returns the state for set (sorted, deduplicated).
func (m *matcher) intern(set []nstate) *dstate {
	key := setKey(set)
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.states[key]; ok {
		return d
	}
	d := m.newState(set)
	if m.noShape {
		d.shapeTries.Store(maxShapeTries)
	}
	if len(m.states) < m.maxStates {
		d.interned = true
		m.states[key] = d
	}
	return d
}

func (m *matcher) newState(set []nstate) *dstate {
	d := &dstate{set: set}
	for _, n := range set {
		segs := m.queries[n.q].Segments
		if int(n.seg) == len(segs) {
			d.accept = append(d.accept, n.q)
			continue
		}
		d.live = true
		for i := range segs[n.seg].Selectors {
			sel := &segs[n.seg].Selectors[i]
			switch sel.Kind {
			case jsonpath.SelName:
				if !slices.Contains(d.names, sel.Name) {
					d.names = append(d.names, sel.Name)
					d.lenMask |= 1 << min(len(sel.Name), 63)
				}
			case jsonpath.SelIndex, jsonpath.SelSlice:
				d.dyn = append(d.dyn, dynSel{sel: sel})
				if selNeedsLen(sel) {
					d.needLen = true
				}
			}
		}
	}
	d.nPos = len(d.dyn)
	for _, n := range set {
		segs := m.queries[n.q].Segments
		if int(n.seg) == len(segs) {
			continue
		}
		for i := range segs[n.seg].Selectors {
			if sel := &segs[n.seg].Selectors[i]; sel.Kind == jsonpath.SelFilter {
				d.dyn = append(d.dyn, dynSel{sel: sel})
				d.hasFilt = true
			}
		}
	}
	d.nameT = make([]atomic.Pointer[dstate], len(d.names)+1)
	d.memberFast = d.live && !d.hasFilt
	if len(d.names) > 1 {
		d.buildNameTable()
	}
	return d
}

// disableShapes makes the matcher's states walk objects without shapes
// (see shapeEnt): tests compare the outputs of both walks.
func (m *matcher) disableShapes() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noShape = true
	for _, d := range m.states {
		d.shapeTries.Store(maxShapeTries)
	}
}

// nameEnt is one bucket of a state's name table: a name and its slot.
// Empty buckets hold "" with the slot for every other name, so a lookup
// that lands in one answers "other" through the same comparison (when ""
// itself is a name, it has its own bucket and every "" lookup lands there).
type nameEnt struct {
	name string
	key  uint64 // nameKey(name)
	slot int32
}

// nameKey packs a member name into 64 bits without a loop: its first and
// last four bytes (which overlap for names of 4 to 7 bytes) and its
// length, or for shorter names its length and first, middle and last
// bytes. Real member names nearly always differ there; buildNameTable
// checks that the names of a state do. Names of at most 8 bytes are
// covered entirely: two of them with the same length and key are equal.
func nameKey(b []byte) uint64 {
	n := len(b)
	if n < 4 {
		if n == 0 {
			return 0
		}
		return uint64(n) | uint64(b[0])<<8 | uint64(b[n>>1])<<16 | uint64(b[n-1])<<24
	}
	return (uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32) ^ uint64(n)
}

// buildNameTable builds a perfect hash table of d.names: a multiplier
// that sends the nameKey of every name to its own bucket (multiplicative
// hashing, top bits), so a lookup is one multiplication and at most one
// name comparison, whatever the number of names. It tries a few table
// sizes and multipliers (once per state, when the state is built). When
// none separates the names (names with the same nameKey, e.g. the same
// length and first and last four bytes, or too many names for a
// collision-free table of that size), d.tab stays nil and nameSlot uses a
// map (more than 8 names) or compares the names one by one.
func (d *dstate) buildNameTable() {
	size := 8
	for size < 2*len(d.names) {
		size *= 2
	}
	keys := make([]uint64, len(d.names))
	for i, n := range d.names {
		keys[i] = nameKey([]byte(n))
	}
	// Past 64 names a collision-free table of these sizes is unlikely
	// (birthday bound): go straight to the map.
	tries := 3
	if len(d.names) > 64 {
		tries = 0
	}
	for range tries {
		shift := uint64(64 - bitsLen(size))
		tab := make([]nameEnt, size)
		for try := range uint64(64) {
			// odd multipliers (the step is even)
			mul := 0x9E3779B97F4A7C15 + try*0xC2B2AE3D27D4EB4E
			for b := range tab {
				tab[b] = nameEnt{slot: int32(len(d.names))}
			}
			ok := true
			for i, n := range d.names {
				b := keys[i] * mul >> shift
				if tab[b].slot != int32(len(d.names)) {
					ok = false
					break
				}
				tab[b] = nameEnt{name: n, key: keys[i], slot: int32(i)}
			}
			if ok {
				d.tab, d.tabMul, d.tabShift = tab, mul, shift
				return
			}
		}
		size *= 2
	}
	if len(d.names) > 8 {
		d.nameMap = make(map[string]int32, len(d.names))
		for i, n := range d.names {
			d.nameMap[n] = int32(i)
		}
	}
}

// bitsLen returns log2 of the power of two n.
func bitsLen(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// nameSlot returns the slot of name among d.names, or len(d.names). It
// is small enough to be inlined: a name of a length no name has costs no
// call.
func (d *dstate) nameSlot(name []byte) int {
	if d.lenMask&(1<<min(len(name), 63)) == 0 {
		return len(d.names)
	}
	return d.lookupName(name)
}

// lookupName is nameSlot past the length filter.
func (d *dstate) lookupName(name []byte) int {
	if d.tab != nil {
		k := nameKey(name)
		e := &d.tab[k*d.tabMul>>d.tabShift]
		// Short names are compared through their keys (no memequal call).
		if len(e.name) == len(name) && e.key == k && (len(name) <= 8 || e.name == string(name)) {
			return int(e.slot)
		}
		return len(d.names)
	}
	if d.nameMap != nil {
		if slot, ok := d.nameMap[string(name)]; ok { // no allocation
			return int(slot)
		}
		return len(d.names)
	}
	for i, n := range d.names {
		if len(n) == len(name) && n == string(name) {
			return i
		}
	}
	return len(d.names)
}

// child describes one child of a node for a transition.
type child struct {
	member bool
	slot   int    // member: name slot (len(names) = other)
	bits   uint64 // outcome of the state's dyn selectors for this child
}

// step returns the state of a child. bits holds the outcome of d.dyn
// (index/slice bits for elements, filter bits for both).
func (m *matcher) step(d *dstate, c child) *dstate {
	if c.member && d.memberFast {
		if t := d.nameT[c.slot].Load(); t != nil {
			return t
		}
	} else if !c.member && len(d.dyn) == 0 {
		// An element of an array no index, slice or filter selector
		// looks at (the [*] of a record list): one cached transition.
		if t := d.elemT.Load(); t != nil {
			return t
		}
	}
	return m.stepSlow(d, c)
}

func (m *matcher) stepSlow(d *dstate, c child) *dstate {
	if !d.live {
		return m.empty
	}
	if len(d.dyn) == 0 || (c.member && !d.hasFilt) {
		var p *atomic.Pointer[dstate]
		if c.member {
			p = &d.nameT[c.slot]
		} else {
			p = &d.elemT
		}
		if t := p.Load(); t != nil {
			return t
		}
		t := m.build(d, c)
		if t.interned {
			p.Store(t)
		}
		return t
	}
	key := dynKey{bits: c.bits, slot: -1}
	if c.member {
		key.slot = int32(c.slot)
	}
	if t, ok := d.dynT.Load(key); ok {
		return t.(*dstate)
	}
	t := m.build(d, c)
	if t.interned && d.nDynT.Add(1) <= maxDynTransitions {
		d.dynT.Store(key, t)
	}
	return t
}

// build computes the target state of a transition.
func (m *matcher) build(d *dstate, c child) *dstate {
	var set []nstate
	for _, n := range d.set {
		segs := m.queries[n.q].Segments
		if int(n.seg) == len(segs) {
			continue
		}
		seg := &segs[n.seg]
		if seg.Kind == jsonpath.Descendant {
			set = append(set, n)
		}
		matched := false
		for i := range seg.Selectors {
			sel := &seg.Selectors[i]
			switch sel.Kind {
			case jsonpath.SelName:
				matched = matched || (c.member && c.slot < len(d.names) && d.names[c.slot] == sel.Name)
			case jsonpath.SelWildcard:
				matched = true
			case jsonpath.SelIndex, jsonpath.SelSlice:
				if !c.member {
					matched = matched || c.bits&(1<<d.dynIndex(sel, 0)) != 0
				}
			case jsonpath.SelFilter:
				matched = matched || c.bits&(1<<d.dynIndex(sel, d.nPos)) != 0
			}
		}
		if matched {
			set = append(set, nstate{q: n.q, seg: n.seg + 1})
		}
	}
	slices.SortFunc(set, func(a, b nstate) int {
		if a.q != b.q {
			return int(a.q - b.q)
		}
		return int(a.seg - b.seg)
	})
	set = slices.Compact(set)
	if len(set) == 0 {
		return m.empty
	}
	return m.intern(set)
}

func (d *dstate) dynIndex(sel *jsonpath.Selector, from int) int {
	for i := from; i < len(d.dyn); i++ {
		if d.dyn[i].sel == sel {
			return i
		}
	}
	return 63
}

// posBits evaluates the state's index and slice selectors for element k of
// an array of length n (-1 when not counted).
func (d *dstate) posBits(k, n int64) uint64 {
	var bits uint64
	for i := 0; i < d.nPos && i < 64; i++ {
		if selMatchesIndex(d.dyn[i].sel, k, n) {
			bits |= 1 << i
		}
	}
	return bits
}

func selNeedsLen(sel *jsonpath.Selector) bool {
	if sel.Kind == jsonpath.SelIndex {
		return sel.Index < 0
	}
	sl := sel.Slice
	step := int64(1)
	if sl.HasStep {
		step = sl.Step
	}
	return step < 0 || (sl.HasStart && sl.Start < 0) || (sl.HasEnd && sl.End < 0)
}

// selMatchesIndex reports whether an index or slice selector selects
// element k of an array of length n (RFC 9535 2.3.3, 2.3.4). n is -1 when
// the selector does not need it.
func selMatchesIndex(sel *jsonpath.Selector, k, n int64) bool {
	if sel.Kind == jsonpath.SelIndex {
		i := sel.Index
		if i < 0 {
			i += n
		}
		return i == k
	}
	sl := sel.Slice
	step := int64(1)
	if sl.HasStep {
		step = sl.Step
	}
	if step == 0 {
		return false
	}
	norm := func(i int64) int64 {
		if i < 0 {
			return n + i
		}
		return i
	}
	if step > 0 {
		lower := int64(0)
		if sl.HasStart {
			lower = max(norm(sl.Start), 0)
			if n >= 0 {
				lower = min(lower, n)
			}
		}
		if k < lower {
			return false
		}
		if sl.HasEnd {
			upper := max(norm(sl.End), 0)
			if n >= 0 {
				upper = min(upper, n)
			}
			if k >= upper {
				return false
			}
		}
		return (k-lower)%step == 0
	}
	// Negative step: n is known.
	upper := n - 1
	if sl.HasStart {
		upper = min(max(norm(sl.Start), -1), n-1)
	}
	lower := int64(-1)
	if sl.HasEnd {
		lower = min(max(norm(sl.End), -1), n-1)
	}
	if k <= lower || k > upper {
		return false
	}
	return (upper-k)%(-step) == 0
}
