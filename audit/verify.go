package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Damage kinds Verify reports.
const (
	DamageMalformed   = "malformed"         // not an event line of a chain
	DamageEdited      = "edited"            // the line's hash does not match its content
	DamageBrokenLink  = "broken_link"       // prev_hash is not the previous event's hash
	DamageDeleted     = "deleted"           // a seq is missing
	DamageReordered   = "reordered"         // a seq goes backwards or repeats
	DamageMissingHead = "missing_head"      // the chain does not start at seq 1
	DamageCheckpoint  = "bad_checkpoint"    // a checkpoint does not match the chain
	DamageForged      = "forged_checkpoint" // a checkpoint's signature is not valid
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
	events  int
	lastSeq uint64
	last    string // hash of the last verified event
	cpSeq   uint64
	damaged bool
}

// Verify checks the hash chains in files (plain or gzip-compressed; give
// rotated files oldest first). Every event must hash to its hash member,
// link to the previous event of its chain and follow it by one in seq; a
// chain must start at seq 1. The first damage of each chain is reported;
// later events of a damaged chain are not judged. Events after the last
// signed checkpoint cannot be told from a truncated tail until checkpoints
// exist: Verify proves order and integrity of what is there.
func Verify(pub ed25519.PublicKey, files ...string) (*Report, error) {
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
	for _, id := range ids {
		st := states[id]
		rep.Chains = append(rep.Chains, ChainReport{ID: id, Events: st.events, LastSeq: st.lastSeq,
			CheckpointSeq: st.cpSeq, UnverifiedTail: st.lastSeq - st.cpSeq})
	}
	return rep, nil
}

func verifyFile(name string, pub ed25519.PublicKey, states map[string]*chainState, rep *Report) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("audit verify: %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.Contains(line, []byte(`"checkpoint":{`)) {
			verifyCheckpoint(name, n, line, pub, states, rep)
			continue
		}
		var ev struct {
			ChainID  string  `json:"chain_id"`
			Seq      *uint64 `json:"seq"`
			PrevHash *string `json:"prev_hash"`
		}
		if err := json.Unmarshal(line, &ev); err != nil || ev.ChainID == "" || ev.Seq == nil || ev.PrevHash == nil {
			rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a chained audit event"})
			continue
		}
		st := states[ev.ChainID]
		if st == nil {
			st = &chainState{}
			states[ev.ChainID] = st
		}
		if st.damaged {
			continue
		}
		bad := func(kind, detail string) {
			st.damaged = true
			rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: ev.ChainID, Seq: *ev.Seq, Kind: kind, Detail: detail})
		}
		computed, claimed, ok := lineHash(line, *ev.PrevHash)
		switch {
		case !ok:
			bad(DamageMalformed, "no hash member")
			continue
		case computed != claimed:
			bad(DamageEdited, "the event's content does not match its hash")
			continue
		}
		switch {
		case st.events == 0 && *ev.Seq != 1:
			bad(DamageMissingHead, fmt.Sprintf("the chain starts at seq %d: earlier events are missing", *ev.Seq))
			continue
		case st.events > 0 && *ev.Seq <= st.lastSeq:
			bad(DamageReordered, fmt.Sprintf("seq %d after seq %d", *ev.Seq, st.lastSeq))
			continue
		case st.events > 0 && *ev.Seq > st.lastSeq+1:
			bad(DamageDeleted, fmt.Sprintf("seq %d follows seq %d: %d event(s) missing", *ev.Seq, st.lastSeq, *ev.Seq-st.lastSeq-1))
			continue
		case *ev.PrevHash != st.last:
			bad(DamageBrokenLink, "prev_hash is not the hash of the previous event")
			continue
		}
		st.events++
		st.lastSeq = *ev.Seq
		st.last = claimed
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("audit verify: %s: %w", name, err)
	}
	return nil
}

func verifyCheckpoint(name string, n int, line []byte, pub ed25519.PublicKey, states map[string]*chainState, rep *Report) {
	var cp struct {
		Checkpoint struct {
			ChainID string `json:"chain_id"`
			Seq     uint64 `json:"seq"`
			Hash    string `json:"hash"`
		} `json:"checkpoint"`
		Sig string `json:"sig"`
	}
	if err := json.Unmarshal(line, &cp); err != nil || cp.Checkpoint.ChainID == "" {
		rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Kind: DamageMalformed, Detail: "not a checkpoint"})
		return
	}
	c := cp.Checkpoint
	st := states[c.ChainID]
	if st == nil {
		st = &chainState{}
		states[c.ChainID] = st
	}
	if st.damaged {
		return
	}
	bad := func(kind, detail string) {
		st.damaged = true
		rep.Damages = append(rep.Damages, Damage{File: name, Line: n, Chain: c.ChainID, Seq: c.Seq, Kind: kind, Detail: detail})
	}
	if pub != nil {
		sig, err := base64.StdEncoding.DecodeString(cp.Sig)
		if err != nil || !ed25519.Verify(pub, checkpointMessage(c.ChainID, c.Seq, []byte(c.Hash)), sig) {
			bad(DamageForged, "the checkpoint's signature does not verify with the public key")
			return
		}
	}
	if c.Seq != st.lastSeq || c.Hash != st.last {
		bad(DamageCheckpoint, fmt.Sprintf("checkpoint at seq %d does not match the chain (last event seq %d)", c.Seq, st.lastSeq))
		return
	}
	st.cpSeq = c.Seq
}
