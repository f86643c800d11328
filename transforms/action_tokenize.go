package transforms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/veilgw/veil/transforms/siv"

	"github.com/veilgw/veil/vault"
)

// HKDF purposes of the reversible crypto actions: one data key never
// serves two algorithms.
const (
	tokenizePurpose = "veil/tokenize"
	encryptPurpose  = "veil/encrypt"
)

// tokenizeAction replaces the selected node by a deterministic token:
// prefix + "v<N>_" + base64url (no padding) of AES-SIV (RFC 5297, tink's
// daead/subtle) of the node's canonical JSON text (see appendCanonical),
// where N is the primary version of the named key. The AES-SIV key is
// Key.Subkey("veil/tokenize", 64) of that version; the associated data
// "veil/tokenize|<name>|v<N>" binds purpose, key name and version, so a
// token only opens under the key and version it names. The same value
// under the same key version gives the same token on every replica.
//
// Parameters: key (keyring key name, required), prefix (default "tok_").
//
// Per type: the canonical JSON text is encrypted, so 42 and "42" give
// different tokens and detokenize restores the original type; strings,
// numbers, booleans and null are tokenized as they are; objects and arrays
// are tokenized as a whole (one token for the node). The result is always
// a string.
type tokenizeAction struct {
	key    string
	prefix []byte // escaped for the inside of a JSON string
}

func compileTokenize(p *params) (action, error) {
	key, prefix, err := cryptoParams(p, "tokenize", "tok_", false)
	if err != nil {
		return nil, err
	}
	return &tokenizeAction{key: key, prefix: appendEscaped(nil, []byte(prefix))}, nil
}

func (a *tokenizeAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	s, err := rw.primarySealer(tokenizePurpose, a.key)
	if err != nil {
		return dst, false, err
	}
	rw.sivbuf = s.siv.Seal(rw.sivbuf[:0], rw.canonical(raw))
	return appendToken(dst, a.prefix, s.version, rw.sivbuf), true, nil
}

// cryptoParams parses the parameters the four reversible crypto actions
// share: key (required), prefix (default def) and, when withMode, mode
// (only "transit", which is not available yet, is a known value).
func cryptoParams(p *params, name, def string, withMode bool) (key, prefix string, err error) {
	key, ok, err := p.str("key")
	if !ok || err != nil || key == "" {
		return "", "", paramError("key is required (the name of a keyring key)")
	}
	if p.opts.Keys == nil {
		return "", "", paramError(name + " needs a keyring (Options.Keys is nil)")
	}
	prefix, ok, err = p.str("prefix")
	if err != nil || !utf8.ValidString(prefix) {
		return "", "", paramError("prefix must be a string")
	}
	if !ok {
		prefix = def
	}
	if withMode {
		mode, ok, err := p.str("mode")
		switch {
		case !ok:
		case err == nil && mode == "transit":
			return "", "", paramError(`mode "transit" is not available yet (it comes with the Vault provider); omit mode to use the keyring's data key`)
		default:
			return "", "", paramError(`mode must be omitted (mode "transit" comes with the Vault provider)`)
		}
	}
	return key, prefix, nil
}

// canonical returns the canonical JSON text of the valid value raw (raw
// itself when it is canonical already), in rw.canon otherwise.
func (rw *rewriter) canonical(raw []byte) []byte {
	if c := raw[0]; c == '{' || c == '[' || rw.litEsc {
		rw.canon = appendCanonical(rw.canon[:0], raw, &rw.tmp)
		return rw.canon
	}
	return raw // scalars without escapes are canonical already
}

// appendToken appends the JSON string prefix + "v<version>_" +
// base64url(payload) to dst; prefix is escaped already.
func appendToken(dst, prefix []byte, version int, payload []byte) []byte {
	dst = append(dst, '"')
	dst = append(dst, prefix...)
	dst = append(dst, 'v')
	dst = strconv.AppendInt(dst, int64(version), 10)
	dst = append(dst, '_')
	dst = base64.RawURLEncoding.AppendEncode(dst, payload)
	return append(dst, '"')
}

// strictB64 rejects non-zero trailing bits, so one payload has one text.
var strictB64 = base64.RawURLEncoding.Strict()

// maxTokenVersion bounds the version a token may name (9 digits).
const maxTokenVersion = 999_999_999

// parseToken splits the string literal lit (a valid JSON string) as
// prefix + "v<N>_" + base64url and decodes the payload into rw.sum. ok is
// false for anything else (wrong prefix, leading zeros, padding, newlines,
// characters outside the URL-safe alphabet, non-canonical encodings).
func (rw *rewriter) parseToken(lit, prefix []byte) (version int, payload []byte, ok bool) {
	s, _ := rw.unquote(lit)
	if len(s) < len(prefix) || string(s[:len(prefix)]) != string(prefix) {
		return 0, nil, false
	}
	s = s[len(prefix):]
	if len(s) < 3 || s[0] != 'v' || s[1] < '1' || s[1] > '9' {
		return 0, nil, false
	}
	i := 1
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if i > 9 {
			return 0, nil, false
		}
		version = version*10 + int(s[i]-'0')
	}
	if i >= len(s) || s[i] != '_' || version > maxTokenVersion {
		return 0, nil, false
	}
	b64 := s[i+1:]
	for _, c := range b64 {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return 0, nil, false
		}
	}
	var err error
	if rw.sum, err = strictB64.AppendDecode(rw.sum[:0], b64); err != nil {
		return 0, nil, false
	}
	return version, rw.sum, true
}

// validValue reports whether b is exactly one valid JSON value with no
// surrounding whitespace, nested at most maxDepth deep.
func validValue(b []byte, maxDepth int) bool {
	return len(b) > 0 && !isWS(b[0]) && skipValue(b, 0, 0, maxDepth) == len(b)
}

// sivKeySize is the AES-SIV key length: AES-256-SIV, 32 bytes for S2V and
// 32 for CTR.
const sivKeySize = 64

// sealer is the cipher of one (purpose, key name, version), derived once
// per Program and cached in Program.subkeys.
type sealer struct {
	version  int
	material []byte      // derived from this material (a copy), see subkeys
	ad       []byte      // purpose|name|v<N>
	siv      *siv.Bound  // tokenize: AES-SIV with the AD bound
	aead     cipher.AEAD // encrypt (AES-256-GCM)
}

type sealerKey struct {
	purpose, name string
	version       int
}

// sealer returns the cached cipher of k for purpose, deriving it on first
// use.
func (p *Program) sealer(purpose, name string, k vault.Key) (*sealer, error) {
	sk := sealerKey{purpose: purpose, name: name, version: k.Version}
	if v, ok := p.subkeys.m.Load(sk); ok && bytes.Equal(v.(*sealer).material, k.Material) {
		return v.(*sealer), nil
	}
	s := &sealer{version: k.Version, material: bytes.Clone(k.Material), ad: fmt.Appendf(nil, "%s|%s|v%d", purpose, name, k.Version)}
	if purpose == tokenizePurpose {
		sub, err := k.Subkey(purpose, sivKeySize)
		if err != nil {
			return nil, err
		}
		c, err := siv.New(sub)
		if err != nil {
			return nil, err
		}
		s.siv = c.Bind(s.ad)
	} else {
		sub, err := k.Subkey(purpose, 32)
		if err != nil {
			return nil, err
		}
		b, err := aes.NewCipher(sub)
		if err != nil {
			return nil, err
		}
		if s.aead, err = cipher.NewGCM(b); err != nil {
			return nil, err
		}
	}
	p.subkeys.m.Store(sk, s)
	return s, nil
}

// The crypto actions memoise their key resolutions per Rewrite in
// rewriter.macs, as entries with the empty name (which no hash rule can
// ask for: hash requires a non-empty key): Rewrite clears every entry's
// resolved flag, so each memo is re-resolved once per Rewrite; a resolved
// memo's cipher is macEntry.seal. The memo's key is macEntry.sub:
//
//	[0] kind: 'P' primary, 'V' a given version
//	[1] purpose: 't' tokenize, 'e' encrypt
//	[2] usable: 1, or 0 (version retired or unknown in this Rewrite)
//	[3:7] version, big endian ('V'; 0 for 'P', whose version seal holds)
//	[7:] key name
//
// Entries are added only for resolutions that succeeded once, so their
// number is bounded by the key versions that exist.
const memoName = 7

func purposeByte(purpose string) byte {
	if purpose == tokenizePurpose {
		return 't'
	}
	return 'e'
}

func (rw *rewriter) memo(kind, purp byte, name string, version int) *macEntry {
	for i := range rw.macs {
		e := &rw.macs[i]
		s := e.sub
		if e.name != "" || len(s) < memoName || s[0] != kind || s[1] != purp || string(s[memoName:]) != name {
			continue
		}
		if kind == 'V' && int(binary.BigEndian.Uint32(s[3:7])) != version {
			continue
		}
		return e
	}
	return nil
}

func (rw *rewriter) addMemo(kind, purp byte, name string, version int) *macEntry {
	s := make([]byte, memoName, memoName+len(name))
	s[0], s[1], s[2] = kind, purp, 1
	binary.BigEndian.PutUint32(s[3:7], uint32(version))
	rw.macs = append(rw.macs, macEntry{sub: append(s, name...)})
	return &rw.macs[len(rw.macs)-1]
}

// primarySealer returns the cipher of the primary version of key name,
// resolving the version once per Rewrite. A key the keyring cannot serve
// is an error wrapping ErrKeyUnavailable.
func (rw *rewriter) primarySealer(purpose, name string) (*sealer, error) {
	purp := purposeByte(purpose)
	e := rw.memo('P', purp, name, 0)
	if e != nil && e.resolved {
		return e.seal, nil
	}
	k, err := rw.p.opts.Keys.Primary(name, Now())
	if err != nil {
		return nil, fmt.Errorf("%w: %s key %q: %w", ErrKeyUnavailable, purpose, name, err)
	}
	s, err := rw.p.sealer(purpose, name, k)
	if err != nil {
		return nil, fmt.Errorf("%w: %s key %q: %w", ErrKeyUnavailable, purpose, name, err)
	}
	if e == nil {
		e = rw.addMemo('P', purp, name, 0)
	}
	e.seal, e.resolved = s, true
	return s, nil
}

// versionSealer returns the cipher of version of key name, resolving it
// once per Rewrite. ok is false when the version is retired or unknown
// (the value is then redacted and counted); other keyring failures are
// errors wrapping ErrKeyUnavailable.
func (rw *rewriter) versionSealer(purpose, name string, version int) (s *sealer, ok bool, err error) {
	purp := purposeByte(purpose)
	e := rw.memo('V', purp, name, version)
	if e != nil && e.resolved {
		if e.sub[2] == 0 {
			return nil, false, nil
		}
		return e.seal, true, nil
	}
	k, err := rw.p.opts.Keys.Version(name, version)
	switch {
	case err == nil:
	case errors.Is(err, vault.ErrKeyRetired) || errors.Is(err, vault.ErrKeyNotFound):
		if e != nil {
			e.sub[2], e.seal, e.resolved = 0, nil, true
		}
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("%w: %s key %q v%d: %w", ErrKeyUnavailable, purpose, name, version, err)
	}
	if k.Version != version {
		return nil, false, fmt.Errorf("%w: %s key %q: keyring returned v%d for v%d", ErrKeyUnavailable, purpose, name, k.Version, version)
	}
	if s, err = rw.p.sealer(purpose, name, k); err != nil {
		return nil, false, fmt.Errorf("%w: %s key %q v%d: %w", ErrKeyUnavailable, purpose, name, version, err)
	}
	if e == nil {
		e = rw.addMemo('V', purp, name, version)
	}
	e.sub[2], e.seal, e.resolved = 1, s, true
	return s, true, nil
}
