package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// APIKeyHash returns the lowercase hex SHA-256 of an API key: the form the
// API keys file stores (the key itself is never stored).
func APIKeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// emptyKeyHash is the SHA-256 of "": never a valid API key.
var emptyKeyHash = sha256.Sum256(nil)

// apiKeyEntry is one line of the API keys file.
type apiKeyEntry struct {
	ID     string   `yaml:"id"`
	Roles  []string `yaml:"roles"`
	SHA256 string   `yaml:"sha256"`
}

// apiKey is a loaded entry.
type apiKey struct {
	id    string
	roles []string
	hash  [sha256.Size]byte
}

// loadAPIKeys reads and validates the API keys file: every entry needs a
// unique non-empty id and a unique 64-hex-character sha256. Errors name the
// entry by position and id, never by hash.
func loadAPIKeys(path string) ([]apiKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: api_keys_file: %w", errors.Join(err, ErrConfig))
	}
	var entries []apiKeyEntry
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&entries); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("identity: api_keys_file %s: %w", path, errors.Join(err, ErrConfig))
	}
	keys := make([]apiKey, 0, len(entries))
	ids := make(map[string]bool, len(entries))
	hashes := make(map[[sha256.Size]byte]bool, len(entries))
	for i, e := range entries {
		if e.ID == "" {
			return nil, fmt.Errorf("identity: api_keys_file entry %d: id is required: %w", i, ErrConfig)
		}
		if ids[e.ID] {
			return nil, fmt.Errorf("identity: api_keys_file entry %d: duplicate id %q: %w", i, e.ID, ErrConfig)
		}
		ids[e.ID] = true
		var k apiKey
		if len(e.SHA256) != hex.EncodedLen(sha256.Size) {
			return nil, fmt.Errorf("identity: api_keys_file entry %d (id %q): sha256 must be 64 hex characters: %w", i, e.ID, ErrConfig)
		}
		if _, err := hex.Decode(k.hash[:], []byte(e.SHA256)); err != nil {
			return nil, fmt.Errorf("identity: api_keys_file entry %d (id %q): sha256 must be 64 hex characters: %w", i, e.ID, ErrConfig)
		}
		if k.hash == emptyKeyHash {
			return nil, fmt.Errorf("identity: api_keys_file entry %d (id %q): sha256 of the empty key: %w", i, e.ID, ErrConfig)
		}
		if hashes[k.hash] {
			return nil, fmt.Errorf("identity: api_keys_file entry %d (id %q): duplicate sha256: %w", i, e.ID, ErrConfig)
		}
		hashes[k.hash] = true
		for _, r := range e.Roles {
			if r == "" {
				return nil, fmt.Errorf("identity: api_keys_file entry %d (id %q): empty role: %w", i, e.ID, ErrConfig)
			}
		}
		k.id = e.ID
		k.roles = e.Roles
		keys = append(keys, k)
	}
	return keys, nil
}

// lookupAPIKey finds the entry whose hash matches the presented key. Every
// entry is compared in constant time and the loop never exits early, so the
// time taken says nothing about which entry (if any) matched.
func lookupAPIKey(keys []apiKey, presented []byte) (*apiKey, bool) {
	sum := sha256.Sum256(presented)
	found := -1
	for i := range keys {
		eq := subtle.ConstantTimeCompare(sum[:], keys[i].hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil, false
	}
	return &keys[found], true
}
