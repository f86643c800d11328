// Package vault owns Veil's keys: the Keyring interface that transform
// actions and the audit signer read keys from, the local development
// provider (local.go) and the HashiCorp Vault provider (vault.go).
//
// Plaintext key material lives only in memory. Nothing here knows about
// HTTP, policies or JSON bodies.
//
// # Vault data model
//
// A transit key (VaultConfig.TransitKey, default "veil-root",
// never exported) wraps every data key version. Each named data key lives in
// one KV v2 secret at <KVMount>/<KVPrefix>/<name> (default
// secret/veil/keys/<name>) holding
//
//	{"versions": [{"version": 1, "wrapped": "vault:v1:...", "activation": "2026-01-02T15:04:05Z"}, ...],
//	 "min_decryption_version": 1}
//
// "wrapped" is the transit ciphertext of the 32 random bytes of that version,
// encrypted with associated data "veil/data-key|<name>|v<version>" so a
// wrapped blob cannot be moved to another name or version. Every write uses
// KV v2 check-and-set, so two concurrent rotations (or a rotation racing a
// retirement) never lose a version: the loser re-reads and retries.
//
// Loading unwraps every live version of every name under the prefix with one
// batched transit decrypt call; a refresh unwraps only versions it has not
// seen. Retiring sets min_decryption_version, blanks the wrapped blobs of the
// versions below it and destroys the secret's older KV versions, so what
// those versions protected is crypto-shredded. Replicas agree on the primary
// because it is derived from the stored activation times (clocks must be in
// sync), and the hot path (Primary, Version) never calls Vault.
package vault

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// ErrKeyNotFound means the named key, or the requested version of it, is not
// available. The gateway maps it to 503 (fail closed).
var ErrKeyNotFound = errors.New("vault: key not available")

// ErrKeyStoreUnavailable means the requested version is not loaded and
// the key store (Vault) is failing, so it may exist without Veil knowing:
// the gateway answers 503 rather than treating the value as invalid.
var ErrKeyStoreUnavailable = errors.New("vault: key version not loaded and the key store is unavailable")

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
	// "vault" (HashiCorp Vault).
	Provider string `yaml:"provider"`
	// Local configures the local provider.
	Local LocalConfig `yaml:"local"`
	// Vault configures the Vault provider.
	Vault VaultConfig `yaml:"vault"`
	// Names lists the data keys the gateway needs; the local provider
	// generates the missing ones. Default: ["pii", "audit"].
	Names []string `yaml:"names"`
}

// openTimeout bounds the first login and load of the Vault provider.
const openTimeout = 30 * time.Second

// Open returns the keyring cfg selects. For provider "vault" it logs in and
// loads every key, failing when Vault is unreachable (the gateway then
// refuses to become ready); the caller should Close a *VaultKeyring.
func Open(cfg Config) (Keyring, error) {
	switch cfg.Provider {
	case "", "local":
		return OpenLocal(cfg.Local, cfg.Names...)
	case "vault":
		names := cfg.Names
		if len(names) == 0 {
			names = DefaultKeyNames
		}
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		k, err := NewVaultKeyring(ctx, cfg.Vault, names...)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return k, nil
	default:
		return nil, fmt.Errorf("vault: unknown keys.provider %q (want local or vault)", cfg.Provider)
	}
}
