package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Segments. Each Logger is one chain (a segment of the trail); it starts
// with a segment record
//
//	{"time":"...","segment":{"chain_id":"B","prev":{"chain_id":"A","seq":N,"hash":"H"}},"sig":"..."}
//
// signed like a checkpoint over "veil-audit-segment|B|A|N|H". prev is the
// last checkpoint of the previous run that reached the state file's sink
// (the first file sink), read from the state file at start. A verifier
// given both segments checks that chain A really has that checkpoint, and
// reports A's events after it (a crash) as A's unverified tail. Without a
// state file (first start, or no file sink) prev is absent.

// stateFile remembers the last delivered checkpoint of the chain.
type stateFile struct {
	path  string
	fsync func(*os.File) error // (*os.File).Sync; a test stalls it
}

type stateRecord struct {
	ChainID string `json:"chain_id"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
}

func (s *stateFile) load() (*cpRef, error) {
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit state: %w", err)
	}
	var r stateRecord
	if err := json.Unmarshal(b, &r); err != nil || !isHex(r.ChainID) || r.Seq == 0 || len(r.Hash) != 64 || !isHex(r.Hash) {
		return nil, fmt.Errorf("audit state %s: not a state record", s.path)
	}
	return &cpRef{chain: r.ChainID, seq: r.Seq, hash: r.Hash}, nil
}

// save replaces the state atomically (write, fsync, rename).
func (s *stateFile) save(cp *cpRef) error {
	b, _ := json.Marshal(stateRecord{ChainID: cp.chain, Seq: cp.seq, Hash: cp.hash})
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = s.fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, s.path)
}

func segmentMessage(chainID string, prev *cpRef) []byte {
	m := []byte("veil-audit-segment|" + chainID + "|")
	if prev != nil {
		m = append(m, prev.chain...)
		m = append(m, '|')
		m = strconv.AppendUint(m, prev.seq, 10)
		m = append(m, '|')
		m = append(m, prev.hash...)
	} else {
		m = append(m, "||"...)
	}
	return m
}

// segmentLine encodes the segment record of chainID.
func segmentLine(now time.Time, chainID string, prev *cpRef, signer ed25519.PrivateKey) []byte {
	line := make([]byte, 0, 320)
	line = append(line, `{"time":"`...)
	line = now.UTC().AppendFormat(line, time.RFC3339Nano)
	line = append(line, `","segment":{"chain_id":"`...)
	line = append(line, chainID...)
	line = append(line, '"')
	if prev != nil {
		line = append(line, `,"prev":{"chain_id":"`...)
		line = append(line, prev.chain...)
		line = append(line, `","seq":`...)
		line = strconv.AppendUint(line, prev.seq, 10)
		line = append(line, `,"hash":"`...)
		line = append(line, prev.hash...)
		line = append(line, `"}`...)
	}
	line = append(line, '}')
	if signer != nil {
		line = append(line, `,"sig":"`...)
		line = base64.StdEncoding.AppendEncode(line, ed25519.Sign(signer, segmentMessage(chainID, prev)))
		line = append(line, '"')
	}
	return append(line, "}\n"...)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
