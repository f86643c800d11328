// Package vault owns Veil's keys: the Keyring interface that transform
// actions and the audit signer read keys from, the local development
// provider, and (later) the HashiCorp Vault provider.
//
// Plaintext key material lives only in memory. Nothing here knows about
// HTTP, policies or JSON bodies.
package vault

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// ErrKeyNotFound means the named key, or the requested version of it, is not
// available. The gateway maps it to 503 (fail closed).
var ErrKeyNotFound = errors.New("vault: key not available")

// ErrKeyRetired means the version is below the key's minimum decryption
// version: what it protected is crypto-shredded.
var ErrKeyRetired = errors.New("vault: key version retired")

// Key is one version of a named data key.
type Key struct {
	// Name of the key, e.g. "pii".
	Name string
	// Version, starting at 1.
	Version int
	// Material is the 32-byte data key. Never log it.
	Material []byte
	// Activation is when this version may become primary.
	Activation time.Time
}

// Subkey derives a per-purpose subkey of n bytes with HKDF-SHA-256, so one
// data key never serves two algorithms. purpose is e.g. "veil/hash/v1".
func (k Key) Subkey(purpose string, n int) ([]byte, error) {
	info := fmt.Sprintf("%s|%s|v%d", purpose, k.Name, k.Version)
	return hkdf.Key(sha256.New, k.Material, nil, info, n)
}

// KeyStatus describes one key for `veil keys status` and /readyz. It holds
// no key material.
type KeyStatus struct {
	Name                 string      `json:"name"`
	Versions             []int       `json:"versions"`
	Activations          []time.Time `json:"activations"`
	Primary              int         `json:"primary"`
	MinDecryptionVersion int         `json:"min_decryption_version"`
	LastRefresh          time.Time   `json:"last_refresh"`
}

// Keyring hands out key versions. Implementations are safe for concurrent
// use and never call out to a remote service on these methods: they serve
// from memory (the hot path makes zero round trips).
type Keyring interface {
	// Primary returns the newest version of name whose activation time has
	// passed at now.
	Primary(name string, now time.Time) (Key, error)
	// Version returns a specific version of name, for decryption of values
	// that carry their version.
	Version(name string, version int) (Key, error)
	// Status lists every key, without material.
	Status() []KeyStatus
	// Ready reports whether the keyring has loaded its keys.
	Ready() error
}

// Config selects and configures the keyring (`keys` in veil.yaml).
type Config struct {
	// Provider is "local" (default; development keyring in a file) or
	// "vault" (HashiCorp Vault; a later release).
	Provider string `yaml:"provider"`
	// Local configures the local provider.
	Local LocalConfig `yaml:"local"`
	// Names lists the data keys the gateway needs; the local provider
	// generates the missing ones. Default: ["pii", "audit"].
	Names []string `yaml:"names"`
}

// Open returns the keyring cfg selects.
func Open(cfg Config) (Keyring, error) {
	switch cfg.Provider {
	case "", "local":
		return OpenLocal(cfg.Local, cfg.Names...)
	case "vault":
		return nil, errors.New("vault: provider \"vault\" is not available in this build yet; use provider: local")
	default:
		return nil, fmt.Errorf("vault: unknown keys.provider %q (want local or vault)", cfg.Provider)
	}
}
