package transforms

// Transit mode of encrypt and decrypt (Vault transit, batched).
//
// One pass stays one pass: while scanning, a transit action appends a
// placeholder to the output instead of a value and records its input (the
// canonical JSON text to encrypt, or the ciphertext to decrypt). After the
// scan Rewrite makes one Transit call per direction and key name, then one
// linear pass over the output replaces every placeholder by its result.
//
// A placeholder is the 7 bytes '"' 0x00 <4-byte big-endian index> '"'. A
// raw 0x00 byte is invalid inside a JSON string, so it never comes from
// the input or from another action; the substitution pass also checks that
// the placeholders come in index order, one per recorded item, and fails
// otherwise: no placeholder can reach a client.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/veilgw/veil/vault"
)

// defaultTransitTimeout is Options.TransitTimeout's default.
const defaultTransitTimeout = 5 * time.Second

// placeholderLen is the length of a transit placeholder.
const placeholderLen = 7

// maxTransitItems bounds the transit values of one body (the 4-byte index).
const maxTransitItems = 1<<32 - 1

// errPlaceholder is an internal inconsistency of the substitution pass; it
// never happens with valid actions, but it fails closed if it does.
var errPlaceholder = errors.New("transforms: internal error: transit placeholder mismatch")

type transitState uint8

const (
	transitPending transitState = iota
	transitDone                 // replacement in rw.tres[rOff:rEnd]
	transitFailed               // decrypt failed: null, counted
)

// transitItem is one value a transit action deferred during the scan.
type transitItem struct {
	key      string // transit key name (the action's string)
	decrypt  bool
	state    transitState
	off, end int // input in rw.tbuf
	rOff     int // result in rw.tres
	rEnd     int
}

// compileTransit compiles encrypt or decrypt with mode "transit": the key
// parameter is a transit key name in Vault (separate from the keyring's
// data keys); prefix does not apply (the ciphertext is Vault's own
// "vault:v<N>:..." text) and the keyring is not used.
func compileTransit(p *params, decrypt bool) (action, error) {
	key, ok, err := p.str("key")
	if !ok || err != nil || key == "" {
		return nil, paramError("key is required (the name of a Vault transit key)")
	}
	if !vault.ValidTransitKeyName(key) {
		return nil, paramError("key must be a Vault transit key name (letters, digits, - _ .)")
	}
	if p.has("prefix") {
		return nil, paramError(`prefix does not apply to mode "transit" (the ciphertext is Vault's vault:v<N>:... text)`)
	}
	return &transitAction{key: key, decrypt: decrypt}, nil
}

// cryptoMode returns the mode parameter of encrypt/decrypt: "" (keyring
// data key) or "transit".
func cryptoMode(p *params) (string, error) {
	mode, ok, err := p.str("mode")
	if !ok {
		return "", nil
	}
	if err != nil || mode != "transit" {
		return "", paramError(`mode must be "transit" or omitted (omitted: the keyring's data key)`)
	}
	return mode, nil
}

// transitAction is encrypt or decrypt with mode "transit".
//
// encrypt: the node's canonical JSON text (any type; objects and arrays as
// a whole) is encrypted by Vault transit with the named key; the result is
// the JSON string of Vault's ciphertext "vault:v<N>:...", which any Vault
// client holding the key can decrypt.
//
// decrypt: a string "vault:v<N>:<base64>" is decrypted by Vault transit;
// its plaintext must be one valid JSON value (what encrypt produced) and
// is written raw, restoring the original type. A value that is not such a
// string is redacted and counted in Result.Failed during the scan, without
// a Vault call. A ciphertext Vault does not open (wrong key, tampered,
// below min_decryption_version) or whose plaintext is not one JSON value
// becomes null and is counted in Result.Failed (the placeholder already
// stands where the value was, so the member is kept with a null value).
type transitAction struct {
	key     string
	decrypt bool
}

func (a *transitAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	if rw.p.opts.Transit == nil {
		op := "encrypt"
		if a.decrypt {
			op = "decrypt"
		}
		return dst, false, fmt.Errorf("%w: %s with mode transit (key %q): no Vault transit configured", ErrKeyUnavailable, op, a.key)
	}
	if len(rw.transit) >= maxTransitItems {
		return dst, false, fmt.Errorf("%w: more than %d transit values in one body", ErrKeyUnavailable, maxTransitItems)
	}
	var in []byte
	if a.decrypt {
		if raw[0] != '"' {
			return dst, false, nil
		}
		in = raw[1 : len(raw)-1]
		if rw.litEsc {
			rw.tmp = appendUnescaped(rw.tmp[:0], raw)
			in = rw.tmp
		}
		if !isVaultCiphertext(in) {
			return dst, false, nil
		}
	} else {
		in = rw.canonical(raw)
	}
	off := len(rw.tbuf)
	rw.tbuf = append(rw.tbuf, in...)
	idx := len(rw.transit)
	rw.transit = append(rw.transit, transitItem{key: a.key, decrypt: a.decrypt, off: off, end: len(rw.tbuf)})
	dst = append(dst, '"', 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(idx))
	return append(dst, '"'), true, nil
}

// isVaultCiphertext reports whether s looks like a transit ciphertext:
// "vault:v" <digits> ":" <standard base64>.
func isVaultCiphertext(s []byte) bool {
	rest, ok := bytes.CutPrefix(s, []byte("vault:v"))
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && i < 10 && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != ':' || i+1 == len(rest) {
		return false
	}
	for _, c := range rest[i+1:] {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// finishTransit runs the batched transit calls for the items the scan
// recorded and replaces the placeholders in out[start:] (and in
// Result.RecordIDs) by their results.
func (rw *rewriter) finishTransit(out []byte, start int) ([]byte, error) {
	opts := &rw.p.opts
	ctx, cancel := context.WithTimeout(context.Background(), opts.TransitTimeout)
	defer cancel()
	rw.tres = rw.tres[:0]
	for i := range rw.transit {
		if rw.transit[i].state != transitPending {
			continue
		}
		var err error
		if rw.transit[i].decrypt {
			err = rw.decryptBatch(ctx, opts.Transit, i)
		} else {
			err = rw.encryptBatch(ctx, opts.Transit, i)
		}
		if err != nil {
			return nil, err
		}
	}
	rw.tout = append(rw.tout[:0], out[start:]...)
	out, err := rw.substitute(out[:start], rw.tout, true)
	if err != nil {
		return nil, err
	}
	for j, id := range rw.res.RecordIDs {
		if strings.IndexByte(id, 0) < 0 {
			continue
		}
		b, err := rw.substitute(nil, []byte(id), false)
		if err != nil {
			return nil, err
		}
		rw.res.RecordIDs[j] = string(b)
	}
	return out, nil
}

// batchOf collects the pending items from i on with the direction and key
// of item i into rw.tidx.
func (rw *rewriter) batchOf(i int) {
	first := &rw.transit[i]
	rw.tidx = rw.tidx[:0]
	for j := i; j < len(rw.transit); j++ {
		it := &rw.transit[j]
		if it.state == transitPending && it.decrypt == first.decrypt && it.key == first.key {
			rw.tidx = append(rw.tidx, j)
		}
	}
}

func (rw *rewriter) encryptBatch(ctx context.Context, tr Transit, i int) error {
	key := rw.transit[i].key
	rw.batchOf(i)
	rw.tpts = rw.tpts[:0]
	for _, j := range rw.tidx {
		it := &rw.transit[j]
		rw.tpts = append(rw.tpts, rw.tbuf[it.off:it.end])
	}
	cts, err := tr.EncryptBatch(ctx, key, rw.tpts)
	clear(rw.tpts)
	if err != nil {
		return fmt.Errorf("%w: transit encrypt with key %q: %w", ErrKeyUnavailable, key, err)
	}
	if len(cts) != len(rw.tidx) {
		return fmt.Errorf("%w: transit encrypt with key %q: %d ciphertexts for %d values", ErrKeyUnavailable, key, len(cts), len(rw.tidx))
	}
	for k, j := range rw.tidx {
		c := cts[k]
		if !isVaultCiphertext([]byte(c)) {
			return fmt.Errorf("%w: transit encrypt with key %q: answer %d is not a Vault ciphertext", ErrKeyUnavailable, key, k)
		}
		it := &rw.transit[j]
		it.rOff = len(rw.tres)
		rw.tres = append(append(append(rw.tres, '"'), c...), '"') // base64 and ':' need no escaping
		it.rEnd, it.state = len(rw.tres), transitDone
	}
	return nil
}

func (rw *rewriter) decryptBatch(ctx context.Context, tr Transit, i int) error {
	key := rw.transit[i].key
	rw.batchOf(i)
	cts := make([]string, len(rw.tidx))
	for k, j := range rw.tidx {
		it := &rw.transit[j]
		cts[k] = string(rw.tbuf[it.off:it.end])
	}
	pts, ok, err := tr.DecryptBatch(ctx, key, cts)
	if err != nil {
		return fmt.Errorf("%w: transit decrypt with key %q: %w", ErrKeyUnavailable, key, err)
	}
	if len(pts) != len(cts) || len(ok) != len(cts) {
		return fmt.Errorf("%w: transit decrypt with key %q: %d results for %d values", ErrKeyUnavailable, key, len(pts), len(cts))
	}
	for k, j := range rw.tidx {
		it := &rw.transit[j]
		if !ok[k] || !validValue(pts[k], rw.p.opts.MaxDepth) {
			it.state = transitFailed
			rw.res.Failed++
			continue
		}
		it.rOff = len(rw.tres)
		rw.tres = append(rw.tres, pts[k]...)
		it.rEnd, it.state = len(rw.tres), transitDone
	}
	return nil
}

// substitute appends src to dst with every placeholder replaced by its
// item's result. With seq the placeholders must be exactly the recorded
// items, in order (the output body); without, any recorded index (a
// record id).
func (rw *rewriter) substitute(dst, src []byte, seq bool) ([]byte, error) {
	next := 0
	for {
		k := bytes.IndexByte(src, 0)
		if k < 0 {
			break
		}
		if k == 0 || src[k-1] != '"' || len(src) < k+placeholderLen-1 || src[k+placeholderLen-2] != '"' {
			return nil, errPlaceholder
		}
		idx := int(binary.BigEndian.Uint32(src[k+1:]))
		if idx >= len(rw.transit) || (seq && idx != next) {
			return nil, errPlaceholder
		}
		next++
		dst = append(dst, src[:k-1]...)
		switch it := &rw.transit[idx]; it.state {
		case transitDone:
			dst = append(dst, rw.tres[it.rOff:it.rEnd]...)
		case transitFailed:
			dst = append(dst, "null"...)
		default:
			return nil, errPlaceholder
		}
		src = src[k+placeholderLen-1:]
	}
	if seq && next != len(rw.transit) {
		return nil, errPlaceholder
	}
	return append(dst, src...), nil
}

// releaseTransit drops the references and the large buffers of a
// Rewrite that used transit, before the rewriter goes back to the pool.
func (rw *rewriter) releaseTransit() {
	clear(rw.transit) // key strings
	rw.transit = rw.transit[:0]
	for _, b := range []*[]byte{&rw.tbuf, &rw.tres, &rw.tout} {
		if cap(*b) > 64<<10 {
			*b = nil
		}
	}
}
