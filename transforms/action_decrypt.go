package transforms

// decryptAction reverses encrypt: the selected envelope is opened with the
// key version it names and replaced by the original JSON value, raw.
//
// The envelope must be a string prefix + "v<N>_" + base64url (no padding,
// the canonical encoding) of nonce || ciphertext || tag; version N of the
// named key is resolved once per Rewrite (its AES-256-GCM cipher is cached
// per Program), so envelopes of older versions keep working after a
// rotation. A key name the keyring does not know at all is an error
// wrapping ErrKeyUnavailable (the gateway answers 503).
//
// Parameters: key (keyring key name, required), prefix (default "enc_",
// as encrypt), mode (omitted: the keyring's data key; "transit": Vault
// transit with key naming a transit key, see transitAction).
//
// Per type: a string envelope is replaced by the value it carries, with
// its original JSON type. Everything else is redacted and counted in
// Result.Failed, never passed through: numbers, booleans, null, objects
// and arrays; a string that is not an envelope of this prefix; an
// envelope of another key, purpose or version; a tampered or truncated
// envelope; an unknown or retired (crypto-shredded) version; a plaintext
// that is not one valid JSON value.
type decryptAction struct {
	key    string
	prefix []byte // unescaped, as it appears in an envelope
}

func compileDecrypt(p *params) (action, error) {
	mode, err := cryptoMode(p)
	if err != nil {
		return nil, err
	}
	if mode == "transit" {
		return compileTransit(p, true)
	}
	key, prefix, err := cryptoParams(p, "decrypt", "enc_", false)
	if err != nil {
		return nil, err
	}
	return &decryptAction{key: key, prefix: []byte(prefix)}, nil
}

func (a *decryptAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	if _, err := rw.primarySealer(encryptPurpose, a.key); err != nil {
		return dst, false, err
	}
	if raw[0] != '"' {
		return dst, false, nil
	}
	version, env, ok := rw.parseToken(raw, a.prefix)
	if !ok || len(env) < gcmNonceSize+gcmTagSize {
		return dst, false, nil
	}
	s, ok, err := rw.versionSealer(encryptPurpose, a.key, version)
	if !ok || err != nil {
		return dst, false, err
	}
	pt, err := s.aead.Open(rw.canon[:0], env[:gcmNonceSize], env[gcmNonceSize:], s.ad)
	if err != nil {
		return dst, false, nil
	}
	rw.canon = pt
	if !validValue(pt, rw.p.opts.MaxDepth) {
		return dst, false, nil
	}
	return append(dst, pt...), true, nil
}
