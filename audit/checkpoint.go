package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strconv"
	"time"
)

// Checkpoints. Every CheckpointConfig.EveryEvents events, every
// CheckpointConfig.Every, and on Close, the Logger writes a checkpoint line
//
//	{"time":"...","checkpoint":{"chain_id":"...","seq":N,"hash":"..."},"sig":"<base64 Ed25519>"}
//
// signing "veil-audit-checkpoint|<chain_id>|<seq>|<hash>" with the audit
// signing key (derived from the keyring's "audit" key; `veil audit pubkey`
// prints the public half). A verifier with only the public key can then
// prove that every event up to a checkpoint is exactly as written — a
// rewritten chain needs the private key — and events after the last
// checkpoint are reported as an unverified tail (a truncated file or a
// crash), never silently accepted.

// CheckpointConfig is `audit.checkpoint`.
type CheckpointConfig struct {
	// EveryEvents writes a checkpoint after this many events. Default 1000.
	EveryEvents int `yaml:"every_events"`
	// Every writes a checkpoint at this interval when events were written
	// since the last one. Default 10s.
	Every time.Duration `yaml:"every"`
}

func checkpointMessage(chainID string, seq uint64, hash []byte) []byte {
	m := make([]byte, 0, 64+len(chainID)+len(hash))
	m = append(m, "veil-audit-checkpoint|"...)
	m = append(m, chainID...)
	m = append(m, '|')
	m = strconv.AppendUint(m, seq, 10)
	m = append(m, '|')
	return append(m, hash...)
}

// PublicKey is the checkpoint verification key (nil without a signer).
func (l *Logger) PublicKey() ed25519.PublicKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.signer == nil {
		return nil
	}
	return l.signer.Public().(ed25519.PublicKey)
}

func (l *Logger) tick(every time.Duration, stop chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.checkpointLocked()
			l.mu.Unlock()
		}
	}
}

// checkpointLocked queues a checkpoint for every sink (witnesses
// included) if events were logged since the last one. l.mu must be held.
func (l *Logger) checkpointLocked() {
	if l.signer == nil || l.closed || l.chain.seq == 0 || l.chain.seq == l.cpSeq {
		return
	}
	sig := ed25519.Sign(l.signer, checkpointMessage(l.chain.id, l.chain.seq, l.chain.prev))
	line := make([]byte, 0, 256)
	line = append(line, `{"time":"`...)
	line = time.Now().UTC().AppendFormat(line, time.RFC3339Nano)
	line = append(line, `","checkpoint":{"chain_id":"`...)
	line = append(line, l.chain.id...)
	line = append(line, `","seq":`...)
	line = strconv.AppendUint(line, l.chain.seq, 10)
	line = append(line, `,"hash":"`...)
	line = append(line, l.chain.prev...)
	line = append(line, `"},"sig":"`...)
	line = base64.StdEncoding.AppendEncode(line, sig)
	line = append(line, "\"}\n"...)
	cp := &cpRef{chain: l.chain.id, seq: l.chain.seq, hash: string(l.chain.prev)}
	for _, o := range l.outs {
		o.enqueue(line, false, cp)
	}
	l.cpSeq = l.chain.seq
}

// SigningKeyFromSeed is the checkpoint key for a 32-byte seed (the gateway
// derives the seed from the keyring's "audit" key with HKDF purpose
// "veil/audit-signing").
func SigningKeyFromSeed(seed []byte) (ed25519.PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("audit: signing seed must be 32 bytes")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
