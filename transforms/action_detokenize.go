package transforms

// detokenizeAction reverses tokenize: the selected token is opened with
// the key version it names and replaced by the original JSON value, raw.
//
// The token must be a string prefix + "v<N>_" + base64url (no padding, the
// canonical encoding); version N of the named key is resolved once per
// Rewrite (its AES-SIV cipher is cached per Program), so tokens minted
// under older versions keep working after a rotation. A key name the
// keyring does not know at all is an error wrapping ErrKeyUnavailable
// (the gateway answers 503).
//
// Parameters: key (keyring key name, required), prefix (default "tok_",
// as tokenize).
//
// Per type: a string token is replaced by the value it carries, with its
// original JSON type (a string, number, boolean, null, object or array).
// Everything else is redacted and counted in Result.Failed, never passed
// through: numbers, booleans, null, objects and arrays; a string that is
// not a token of this prefix (malformed, non-canonical base64, wrong
// prefix); a token of another key, purpose or version; a tampered token;
// a token whose version is unknown or retired (crypto-shredded); a
// plaintext that is not one valid JSON value.
type detokenizeAction struct {
	key    string
	prefix []byte // unescaped, as it appears in a token
}

func compileDetokenize(p *params) (action, error) {
	key, prefix, err := cryptoParams(p, "detokenize", "tok_", false)
	if err != nil {
		return nil, err
	}
	return &detokenizeAction{key: key, prefix: []byte(prefix)}, nil
}

func (a *detokenizeAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	// The key name must exist, whatever the value: a missing key fails
	// closed for the whole body.
	if _, err := rw.primarySealer(tokenizePurpose, a.key); err != nil {
		return dst, false, err
	}
	if raw[0] != '"' {
		return dst, false, nil
	}
	version, ct, ok := rw.parseToken(raw, a.prefix)
	if !ok {
		return dst, false, nil
	}
	s, ok, err := rw.versionSealer(tokenizePurpose, a.key, version)
	if !ok || err != nil {
		return dst, false, err
	}
	var opened bool
	rw.sivbuf, opened = s.siv.Open(rw.sivbuf[:0], ct)
	if !opened || !validValue(rw.sivbuf, rw.p.opts.MaxDepth) {
		return dst, false, nil
	}
	return append(dst, rw.sivbuf...), true, nil
}
