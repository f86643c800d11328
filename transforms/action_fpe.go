package transforms

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/veilgw/veil/transforms/ff1"
	"github.com/veilgw/veil/vault"
)

// fpePurpose is the HKDF purpose of FF1 subkeys.
const fpePurpose = "veil/fpe"

// fpeKeyVersion is the one version of a key that fpe and fpe_decrypt use.
// FF1 output carries no version and FF1 detects no tampering: a value
// decrypted with another version would come out as plausible garbage. So
// an fpe key never rotates in place: fpe always uses version 1 of its key,
// and rotation means a new key name plus a migration (fpe_decrypt with the
// old name, fpe with the new). Retiring version 1 crypto-shreds the values.
const fpeKeyVersion = 1

// fpeAlphabets are the named alphabets; a custom one is given as the
// string of its characters.
var fpeAlphabets = map[string]string{
	"digits":             "0123456789",
	"lower":              "abcdefghijklmnopqrstuvwxyz",
	"upper":              "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"alphanumeric_lower": "0123456789abcdefghijklmnopqrstuvwxyz",
	"alphanumeric":       "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
}

// fpeDefaultKeep are the separators kept in place by default: ASCII space
// and punctuation.
const fpeDefaultKeep = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// fpeAction encrypts (or, for fpe_decrypt, decrypts) the characters of a
// value that belong to its alphabet with FF1 (NIST SP 800-38G Rev. 1,
// package ff1), keeping every separator in place, so the result has the
// same length and format ("123-45-6789" -> "482-19-3307").
//
// Parameters: key (keyring key name, required), alphabet ("digits"
// (default), "lower", "upper", "alphanumeric_lower", "alphanumeric", or a
// custom string of at least 2 distinct characters), keep (characters kept
// in place, default ASCII space and punctuation), tweak (a string, default
// ""). The FF1 key is Key.Subkey("veil/fpe", 32) of version 1 of the named
// key (see fpeKeyVersion: FF1 carries no version, so fpe keys rotate by
// name).
//
// Per type: strings are encrypted character by character as above;
// numbers are treated as the string of their JSON text and the result is a
// string; booleans and null are redacted and counted; objects and arrays:
// every scalar leaf inside. A value with a character that is neither in
// the alphabet nor kept, or whose alphabet characters are too few for
// FF1's minimum domain (alphabet size ^ count >= 1,000,000), is redacted
// and counted, never passed through. fpe_decrypt of a value fpe did not
// produce with the same key and tweak yields a same-format value that is
// not the original: FF1 has no integrity check.
type fpeAction struct {
	key     string
	decrypt bool
	runes   []rune        // alphabet, numeral i is runes[i]
	index   map[rune]int  // rune -> numeral
	ascii   [128]int16    // fast rune -> numeral for ASCII, -1 if absent
	keep    map[rune]bool // separators
	keepA   [128]bool
	tweak   []byte
}

func compileFPE(p *params) (action, error)        { return compileFPEAction(p, false) }
func compileFPEDecrypt(p *params) (action, error) { return compileFPEAction(p, true) }

func compileFPEAction(p *params, decrypt bool) (action, error) {
	key, ok, err := p.str("key")
	if err != nil {
		return nil, err
	}
	if !ok || key == "" {
		return nil, paramError("key is required (the keyring key name)")
	}
	alpha, ok, err := p.str("alphabet")
	if err != nil {
		return nil, err
	}
	if !ok {
		alpha = "digits"
	}
	if named, isNamed := fpeAlphabets[alpha]; isNamed {
		alpha = named
	}
	keep, ok, err := p.str("keep")
	if err != nil {
		return nil, err
	}
	if !ok {
		keep = fpeDefaultKeep
	}
	tweak, _, err := p.str("tweak")
	if err != nil {
		return nil, err
	}
	a := &fpeAction{key: key, decrypt: decrypt, index: map[rune]int{}, keep: map[rune]bool{}, tweak: []byte(tweak)}
	for i := range a.ascii {
		a.ascii[i] = -1
	}
	if !utf8.ValidString(alpha) {
		return nil, paramError("alphabet must be valid UTF-8")
	}
	for _, r := range alpha {
		if _, dup := a.index[r]; dup {
			return nil, paramError("alphabet must not repeat a character")
		}
		a.index[r] = len(a.runes)
		if r < 128 {
			a.ascii[r] = int16(len(a.runes))
		}
		a.runes = append(a.runes, r)
	}
	if len(a.runes) < 2 || len(a.runes) > ff1.MaxRadix {
		return nil, paramError(fmt.Sprintf("alphabet must have 2 to %d characters (or be digits, lower, upper, alphanumeric_lower, alphanumeric)", ff1.MaxRadix))
	}
	for _, r := range keep {
		if _, inAlpha := a.index[r]; inAlpha {
			continue // the alphabet wins
		}
		a.keep[r] = true
		if r < 128 {
			a.keepA[r] = true
		}
	}
	return a, nil
}

// fpeCiphers caches FF1 ciphers per (key name, version, alphabet size), so
// the hot path runs no HKDF and no AES key expansion.
var fpeCiphers sync.Map // fpeCipherKey -> *ff1.Cipher

type fpeCipherKey struct {
	// The subkey is derived from the material, the key's name and its
	// version: all three identify it (two names may share material).
	name     string
	version  int
	material string
	radix    int
	tweakMax int
}

func (a *fpeAction) cipher(rw *rewriter) (*ff1.Cipher, bool, error) {
	k, err := rw.p.opts.Keys.Version(a.key, fpeKeyVersion)
	switch {
	case errors.Is(err, vault.ErrKeyRetired):
		return nil, false, nil // crypto-shredded: redact and count
	case err != nil:
		return nil, false, fmt.Errorf("%w: fpe key %q: %w", ErrKeyUnavailable, a.key, err)
	}
	ck := fpeCipherKey{name: k.Name, version: k.Version, material: string(k.Material), radix: len(a.runes), tweakMax: len(a.tweak)}
	if c, ok := fpeCiphers.Load(ck); ok {
		return c.(*ff1.Cipher), true, nil
	}
	sub, err := k.Subkey(fpePurpose, 32)
	if err != nil {
		return nil, false, fmt.Errorf("%w: fpe key %q: %w", ErrKeyUnavailable, a.key, err)
	}
	c, err := ff1.New(sub, len(a.runes), len(a.tweak))
	if err != nil {
		return nil, false, fmt.Errorf("transforms: fpe: %w", err)
	}
	actual, _ := fpeCiphers.LoadOrStore(ck, c)
	return actual.(*ff1.Cipher), true, nil
}

func (a *fpeAction) numeral(r rune) int {
	if r < 128 {
		return int(a.ascii[r])
	}
	if n, ok := a.index[r]; ok {
		return n
	}
	return -1
}

func (a *fpeAction) kept(r rune) bool {
	if r < 128 {
		return a.keepA[r]
	}
	return a.keep[r]
}

func (a *fpeAction) apply(rw *rewriter, dst, raw []byte) ([]byte, bool, error) {
	var s []byte
	switch raw[0] {
	case '"':
		s, _ = rw.unquote(raw)
	case 't', 'f', 'n':
		return dst, false, nil
	default:
		s = raw // a number: its JSON text
	}
	// Split s into numerals (alphabet characters) and kept separators.
	var numBuf [64]uint16
	nums := numBuf[:0]
	for _, r := range string(s) {
		if n := a.numeral(r); n >= 0 {
			nums = append(nums, uint16(n))
		} else if !a.kept(r) {
			return dst, false, nil // outside the alphabet and not a separator
		}
	}
	c, ok, err := a.cipher(rw)
	if err != nil || !ok {
		return dst, false, err
	}
	var outBuf [64]uint16
	var out []uint16
	if a.decrypt {
		out, err = c.Decrypt(outBuf[:0], nums, a.tweak)
	} else {
		out, err = c.Encrypt(outBuf[:0], nums, a.tweak)
	}
	if err != nil {
		return dst, false, nil // domain too small, too long: redact and count
	}
	// Re-assemble: numerals back to characters, separators in place.
	dst = append(dst, '"')
	var enc [utf8.UTFMax]byte
	i := 0
	for _, r := range string(s) {
		if a.numeral(r) >= 0 {
			r = a.runes[out[i]]
			i++
		}
		n := utf8.EncodeRune(enc[:], r)
		dst = appendEscaped(dst, enc[:n])
	}
	return append(dst, '"'), true, nil
}
