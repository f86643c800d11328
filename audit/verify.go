package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Damage kinds Verify reports.
const (
	DamageMalformed   = "malformed"         // not an event line of a chain
	DamageEdited      = "edited"            // the line's hash does not match its content
	DamageBrokenLink  = "broken_link"       // prev_hash is not the previous event's hash
	DamageDeleted     = "deleted"           // a seq is missing
	DamageReordered   = "reordered"         // a seq goes backwards or repeats
	DamageMissingHead = "missing_head"      // the chain's beginning is missing: no segment record, or no seq 1
	DamageCheckpoint  = "bad_checkpoint"    // a checkpoint does not match the chain
	DamageForged      = "forged_checkpoint" // a checkpoint's or segment's signature is not valid
	DamageSpliced     = "spliced"           // a chain continues mid-way right after another chain's lines
	DamageTruncated   = "truncated"         // events a later segment or the witness vouches for are missing
	DamageMissing     = "missing_chain"     // a chain the witness knows is absent from the files
)

// Damage is the first problem found in one chain.
type Damage struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Chain  string `json:"chain_id"`
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// ChainReport summarises one chain.
type ChainReport struct {
	ID      string `json:"chain_id"`
	Events  int    `json:"events"`
	LastSeq uint64 `json:"last_seq"`
	// CheckpointSeq is the seq of the last valid checkpoint (0: none).
	CheckpointSeq uint64 `json:"checkpoint_seq"`
	// UnverifiedTail counts the events after the last valid checkpoint:
	// a truncated file or a crash, or a file still being written.
	UnverifiedTail uint64 `json:"unverified_tail"`
	// TailFile and TailLine locate the first unverified event.
	TailFile string `json:"tail_file,omitempty"`
	TailLine int    `json:"tail_line,omitempty"`
	// Prev is the segment this chain continues ("chain_id@seq"), from its
	// segment record; PrevMissing says that chain is not in the files.
	Prev        string `json:"prev,omitempty"`
	PrevMissing bool   `json:"prev_missing,omitempty"`
	// Witnessed is the highest seq the witness vouches for (0: none).
	Witnessed uint64 `json:"witnessed,omitempty"`
}

// Report is the result of Verify.
type Report struct {
	Chains  []ChainReport `json:"chains"`
	Damages []Damage      `json:"damages"`
	// SignaturesChecked is false when no public key was given.
	SignaturesChecked bool `json:"signatures_checked"`
}

// OK reports whether no damage was found and every event is covered by a
// checkpoint.
func (r *Report) OK() bool {
	if len(r.Damages) > 0 {
		return false
	}
	for _, c := range r.Chains {
		if c.UnverifiedTail > 0 {
			return false
		}
	}
	return true
}

type chainState struct {
	events   int
	lastSeq  uint64
	last     string // hash of the last verified event
	cpSeq    uint64
	cps      map[uint64]string // valid checkpoints: seq -> hash
	damaged  bool
	segment  bool   // its segment record was seen
	prev     *cpRef // from the segment record
	tailFile string
	tailLine int
	firstAt  string // file:line of its first line (for damage reports)
}

func (st *chainState) checkpoint(seq uint64, hash string) {
	if st.cps == nil {
		st.cps = map[uint64]string{}
	}
	st.cps[seq] = hash
	st.cpSeq = seq
	st.tailFile, st.tailLine = "", 0
}

// VerifyOptions extend Verify.
type VerifyOptions struct {
	// PublicKey checks checkpoint and segment signatures (nil: not checked).
	PublicKey ed25519.PublicKey
	// Witness files hold the checkpoint and segment records of a witness
	// sink; every chain and checkpoint they vouch for must be in the files.
	Witness []string
}

// Verify checks the hash chains in files (plain or gzip-compressed; give
// rotated files oldest first). Every event must hash to its hash member,
// link to the previous event of its chain and follow it by one in seq; a
// chain must start with its segment record, then seq 1 (the Logger always
// writes the record first: without it the link to the previous chain, and
// so a cut of that chain's end, would go unchecked). The first damage of
// each chain is reported; later events of a damaged chain are not judged. Events after the last
// signed checkpoint cannot be told from a truncated tail until checkpoints
// exist: Verify proves order and integrity of what is there.
func Verify(pub ed25519.PublicKey, files ...string) (*Report, error) {
	return VerifyWith(VerifyOptions{PublicKey: pub}, files...)
}

// VerifyWith is Verify with a witness. After every file is read it also
// checks the links between segments (a chain's segment record names the
// previous chain's checkpoint it follows: that chain must have it) and
// the witness's records (every witnessed chain must be present, up to
// every witnessed checkpoint).
func VerifyWith(opts VerifyOptions, files ...string) (*Report, error) {
	pub := opts.PublicKey
	states := map[string]*chainState{}
	rep := &Report{SignaturesChecked: pub != nil}
	for _, name := range files {
		if err := verifyFile(name, pub, states, rep); err != nil {
			return nil, err
		}
	}
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	links := map[string]string{} // chain -> the chain that continues it
	for _, id := range ids {
		st := states[id]
		if st.prev == nil {
			continue
		}
		links[st.prev.chain] = id
		a := states[st.prev.chain]
		if a == nil || a.damaged || (a.events == 0 && !a.segment) {
			continue
		}
		checkCheckpoint(rep, id, st.prev.chain, a, st.prev.seq, st.prev.hash, "segment "+id)
	}
	witnessed := map[string]uint64{}
	if len(opts.Witness) > 0 {
		w, err := readWitness(opts.Witness, pub, rep)
		if err != nil {
			return nil, err
		}
		wids := make([]string, 0, len(w))
		for id := range w {
			wids = append(wids, id)
		}
		sort.Strings(wids)
		for _, id := range wids {
			cps := w[id]
			st := states[id]
			var top uint64
			for _, c := range cps {
				top = max(top, c.seq)
			}
			witnessed[id] = top
			if st == nil || (st.events == 0 && !st.segment) {
				rep.Damages = append(rep.Damages, Damage{Chain: id, Seq: top, Kind: DamageMissing,
					Detail: fmt.Sprintf("the witness knows chain %s (up to seq %d) but no file holds it: a file was deleted", id, top)})
				continue
			}
			if st.damaged {
				continue
			}
			for _, c := range cps {
				if c.seq > 0 && !checkCheckpoint(rep, "witness", id, st, c.seq, c.hash, "the witness") {
					break
				}
			}
		}
	}
	for _, id := range ids {
		st := states[id]
		cr := ChainReport{ID: id, Events: st.events, LastSeq: st.lastSeq, CheckpointSeq: st.cpSeq,
			UnverifiedTail: st.lastSeq - st.cpSeq, TailFile: st.tailFile, TailLine: st.tailLine, Witnessed: witnessed[id]}
		if st.prev != nil {
			cr.Prev = st.prev.chain + "@" + strconv.FormatUint(st.prev.seq, 10)
			cr.PrevMissing = states[st.prev.chain] == nil
		}
		rep.Chains = append(rep.Chains, cr)
	}
	return rep, nil
}

// checkCheckpoint checks that chain id (state st) holds a valid checkpoint
// at seq with hash, as who says; it records the damage and returns false
// otherwise.
func checkCheckpoint(rep *Report, from, id string, st *chainState, seq uint64, hash, who string) bool {
	if h, ok := st.cps[seq]; ok && h == hash {
		return true
	}
	st.damaged = true
	if st.lastSeq < seq {
		rep.Damages = append(rep.Damages, Damage{Chain: id, Seq: st.lastSeq + 1, Kind: DamageTruncated,
			Detail: fmt.Sprintf("%s vouches for seq %d but the chain ends at seq %d: events %d..%d are missing", who, seq, st.lastSeq, st.lastSeq+1, seq)})
		return false
	}
	rep.Damages = append(rep.Damages, Damage{Chain: id, Seq: seq, Kind: DamageCheckpoint,
		Detail: fmt.Sprintf("%s vouches for a checkpoint at seq %d that the chain does not hold", who, seq)})
	return false
}

// readWitness collects the checkpoints (and segments, as seq 0) of
// witness files by chain, checking their signatures.
func readWitness(files []string, pub ed25519.PublicKey, rep *Report) (map[string][]cpRef, error) {
	out := map[string][]cpRef{}
	for _, name := range files {
		err := scanLines(name, func(n int, line []byte) {
			switch {
			case bytes.Contains(line, []byte(`"checkpoint":{`)):
				c, sig, ok := parseCheckpoint(line)
				if !ok {
					rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a checkpoint"})
					return
				}
				if pub != nil && !ed25519.Verify(pub, checkpointMessage(c.chain, c.seq, []byte(c.hash)), sig) {
					rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: c.chain, Seq: c.seq, Kind: DamageForged, Detail: "witness checkpoint signature does not verify"})
					return
				}
				out[c.chain] = append(out[c.chain], c)
			case bytes.Contains(line, []byte(`"segment":{`)):
				id, prev, sig, ok := parseSegment(line)
				if !ok {
					rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a segment record"})
					return
				}
				if pub != nil && !ed25519.Verify(pub, segmentMessage(id, prev), sig) {
					rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: id, Kind: DamageForged, Detail: "witness segment signature does not verify"})
					return
				}
				out[id] = append(out[id], cpRef{chain: id})
			default:
				rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "a witness holds only checkpoint and segment records"})
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseCheckpoint(line []byte) (c cpRef, sig []byte, ok bool) {
	var cp struct {
		Checkpoint struct {
			ChainID string `json:"chain_id"`
			Seq     uint64 `json:"seq"`
			Hash    string `json:"hash"`
		} `json:"checkpoint"`
		Sig string `json:"sig"`
	}
	if err := json.Unmarshal(line, &cp); err != nil || cp.Checkpoint.ChainID == "" {
		return c, nil, false
	}
	sig, _ = base64.StdEncoding.DecodeString(cp.Sig)
	return cpRef{chain: cp.Checkpoint.ChainID, seq: cp.Checkpoint.Seq, hash: cp.Checkpoint.Hash}, sig, true
}

func parseSegment(line []byte) (id string, prev *cpRef, sig []byte, ok bool) {
	var sg struct {
		Segment struct {
			ChainID string `json:"chain_id"`
			Prev    *struct {
				ChainID string `json:"chain_id"`
				Seq     uint64 `json:"seq"`
				Hash    string `json:"hash"`
			} `json:"prev"`
		} `json:"segment"`
		Sig string `json:"sig"`
	}
	if err := json.Unmarshal(line, &sg); err != nil || sg.Segment.ChainID == "" {
		return "", nil, nil, false
	}
	if p := sg.Segment.Prev; p != nil {
		prev = &cpRef{chain: p.ChainID, seq: p.Seq, hash: p.Hash}
	}
	sig, _ = base64.StdEncoding.DecodeString(sg.Sig)
	return sg.Segment.ChainID, prev, sig, true
}

// scanLines calls fn for every non-blank line of a trail file.
func scanLines(name string, fn func(n int, line []byte)) error {
	err := readLines(name, func(n int, line []byte) error {
		if len(bytes.TrimSpace(line)) > 0 {
			fn(n, line)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	return nil
}

func verifyFile(name string, pub ed25519.PublicKey, states map[string]*chainState, rep *Report) error {
	var prevChain string // chain of the previous event line of this file
	return scanLines(name, func(n int, line []byte) {
		if bytes.Contains(line, []byte(`"checkpoint":{`)) {
			verifyCheckpoint(name, n, line, pub, states, rep)
			return
		}
		if bytes.Contains(line, []byte(`"segment":{`)) && !bytes.Contains(line, []byte(`"prev_hash":`)) {
			verifySegment(name, n, line, pub, states, rep)
			return
		}
		var ev struct {
			ChainID  string  `json:"chain_id"`
			Seq      *uint64 `json:"seq"`
			PrevHash *string `json:"prev_hash"`
		}
		if err := json.Unmarshal(line, &ev); err != nil || ev.ChainID == "" || ev.Seq == nil || ev.PrevHash == nil {
			rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a chained audit event"})
			return
		}
		after := prevChain
		prevChain = ev.ChainID
		st := states[ev.ChainID]
		if st == nil {
			st = &chainState{}
			states[ev.ChainID] = st
		}
		if st.damaged {
			return
		}
		bad := func(kind, detail string) {
			st.damaged = true
			rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: ev.ChainID, Seq: *ev.Seq, Kind: kind, Detail: detail})
		}
		computed, claimed, ok := lineHash(line, *ev.PrevHash)
		switch {
		case !ok:
			bad(DamageMalformed, "no hash member")
			return
		case computed != claimed:
			bad(DamageEdited, "the event's content does not match its hash")
			return
		}
		switch {
		case st.events == 0 && *ev.Seq != 1 && after != "" && after != ev.ChainID:
			bad(DamageSpliced, fmt.Sprintf("chain %s begins mid-way (seq %d) right after a line of chain %s: lines of two chains were joined", ev.ChainID, *ev.Seq, after))
			return
		case st.events == 0 && *ev.Seq != 1:
			bad(DamageMissingHead, fmt.Sprintf("the chain starts at seq %d: earlier events are missing", *ev.Seq))
			return
		case st.events == 0 && !st.segment:
			// Every chain begins with its signed segment record, which
			// names the chain it continues; without it a cut of that
			// chain's end would go unnoticed.
			bad(DamageMissingHead, "the chain has no segment record before seq 1: its beginning is missing (a deleted line, or files given out of order)")
			return
		case st.events > 0 && *ev.Seq <= st.lastSeq:
			bad(DamageReordered, fmt.Sprintf("seq %d after seq %d", *ev.Seq, st.lastSeq))
			return
		case st.events > 0 && *ev.Seq > st.lastSeq+1:
			bad(DamageDeleted, fmt.Sprintf("seq %d follows seq %d: %d event(s) missing", *ev.Seq, st.lastSeq, *ev.Seq-st.lastSeq-1))
			return
		case *ev.PrevHash != st.last:
			bad(DamageBrokenLink, "prev_hash is not the hash of the previous event")
			return
		}
		st.events++
		st.lastSeq = *ev.Seq
		st.last = claimed
		if st.tailFile == "" {
			st.tailFile, st.tailLine = name, n
		}
	})
}

// verifySegment reads a chain's segment record: it must come before the
// chain's events and carry a valid signature.
func verifySegment(name string, n int, line []byte, pub ed25519.PublicKey, states map[string]*chainState, rep *Report) {
	id, prev, sig, ok := parseSegment(line)
	if !ok {
		rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a segment record"})
		return
	}
	st := states[id]
	if st == nil {
		st = &chainState{}
		states[id] = st
	}
	if st.damaged {
		return
	}
	bad := func(kind, detail string) {
		st.damaged = true
		rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: id, Kind: kind, Detail: detail})
	}
	if pub != nil && !ed25519.Verify(pub, segmentMessage(id, prev), sig) {
		bad(DamageForged, "the segment record's signature does not verify with the public key")
		return
	}
	if st.segment || st.events > 0 {
		bad(DamageReordered, "a segment record after the chain had begun")
		return
	}
	st.segment, st.prev = true, prev
}

func verifyCheckpoint(name string, n int, line []byte, pub ed25519.PublicKey, states map[string]*chainState, rep *Report) {
	c, sig, ok := parseCheckpoint(line)
	if !ok {
		rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a checkpoint"})
		return
	}
	st := states[c.chain]
	if st == nil {
		st = &chainState{}
		states[c.chain] = st
	}
	if st.damaged {
		return
	}
	bad := func(kind, detail string) {
		st.damaged = true
		rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: c.chain, Seq: c.seq, Kind: kind, Detail: detail})
	}
	if pub != nil && !ed25519.Verify(pub, checkpointMessage(c.chain, c.seq, []byte(c.hash)), sig) {
		bad(DamageForged, "the checkpoint's signature does not verify with the public key")
		return
	}
	if c.seq != st.lastSeq || c.hash != st.last {
		bad(DamageCheckpoint, fmt.Sprintf("checkpoint at seq %d does not match the chain (last event seq %d)", c.seq, st.lastSeq))
		return
	}
	st.checkpoint(c.seq, c.hash)
}
