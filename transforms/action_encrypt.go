package transforms

import "crypto/rand"

// gcmNonceSize and gcmTagSize are AES-GCM's standard sizes.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// encryptAction replaces the selected node by a randomised envelope:
// prefix + "v<N>_" + base64url (no padding) of nonce || ciphertext || tag,
// AES-256-GCM of the node's canonical JSON text (see appendCanonical) with
// a fresh random 12-byte nonce from crypto/rand per value. N is the
// primary version of the named key; the GCM key is
// Key.Subkey("veil/encrypt", 32) of that version and the associated data
// "veil/encrypt|<name>|v<N>" binds purpose, key name and version. The same
// value gives a different envelope every time.
//
// Parameters: key (keyring key name, required), prefix (default "enc_"),
// mode (omitted: the keyring's data key, as above; "transit": Vault
// transit with key naming a transit key, see transitAction).
//
// Per type: the canonical JSON text is encrypted, so decrypt restores the
// original type; strings, numbers, booleans and null are encrypted as they
// are; objects and arrays are encrypted as a whole (one envelope for the
// node). The result is always a string.
type encryptAction struct {
	key    string
	prefix []byte // escaped for the inside of a JSON string
}

func compileEncrypt(p *params) (action, error) {
	mode, err := cryptoMode(p)
	if err != nil {
		return nil, err
	}
	if mode == "transit" {
		return compileTransit(p, false)
	}
	key, prefix, err := cryptoParams(p, "encrypt", "enc_", false)
	if err != nil {
		return nil, err
	}
	return &encryptAction{key: key, prefix: appendEscaped(nil, []byte(prefix))}, nil
}

func (a *encryptAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	s, err := rw.primarySealer(encryptPurpose, a.key)
	if err != nil {
		return dst, false, err
	}
	pt := rw.canonical(raw)
	// The nonce lives at the start of rw.sum (a stack array would escape
	// through the cipher.AEAD interface); Seal appends after it.
	rw.sum = append(rw.sum[:0], make([]byte, gcmNonceSize)...)
	nonce := rw.sum[:gcmNonceSize]
	rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	rw.sum = s.aead.Seal(rw.sum, nonce, pt, s.ad)
	return appendToken(dst, a.prefix, s.version, rw.sum), true, nil
}
