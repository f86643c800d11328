package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// LocalConfig configures the development keyring (`keys.local`).
type LocalConfig struct {
	// File holds the generated keys. Default "./veil-dev-keys.json". It is
	// created with mode 0600 on first use.
	File string `yaml:"file"`
}

// DefaultKeyNames are generated in a new local key file.
var DefaultKeyNames = []string{"pii", "audit"}

type localFile struct {
	Comment       string                    `json:"comment"`
	Keys          map[string][]localVersion `json:"keys"`
	MinDecryption map[string]int            `json:"min_decryption_version,omitempty"`
}

type localVersion struct {
	Version    int       `json:"version"`
	Material   []byte    `json:"material"`
	Activation time.Time `json:"activation"`
}

// Local is the development keyring: keys generated once into a local file.
// It is not for production: the file holds plaintext key material.
type Local struct {
	mu     sync.RWMutex
	keys   map[string][]Key // ascending by version
	minDec map[string]int
	loaded time.Time
}

// OpenLocal loads the key file, creating it (mode 0600) with fresh random
// keys for names if it does not exist. Keys listed in names but missing from
// an existing file are added and the file is rewritten.
func OpenLocal(cfg LocalConfig, names ...string) (*Local, error) {
	return openLocal(cfg, true, names...)
}

// ReadLocal loads an existing key file and changes nothing: the file must
// exist, and names it lacks are not added (`veil keys status`, `veil audit
// pubkey` read keys; creating some would show keys that never signed or
// sealed anything).
func ReadLocal(cfg LocalConfig) (*Local, error) {
	return openLocal(cfg, false)
}

func openLocal(cfg LocalConfig, create bool, names ...string) (*Local, error) {
	path := cfg.File
	if path == "" {
		path = "./veil-dev-keys.json"
	}
	if len(names) == 0 {
		names = DefaultKeyNames
	}
	var lf localFile
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields() // a misspelt "material" would leave a key empty
		if err := dec.Decode(&lf); err != nil {
			return nil, fmt.Errorf("vault: local key file %s: %w", path, err)
		}
		if err := lf.validate(); err != nil {
			return nil, fmt.Errorf("vault: local key file %s: %w", path, err)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("vault: local key file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
		}
	case errors.Is(err, fs.ErrNotExist):
		if !create {
			return nil, fmt.Errorf("vault: local key file %s does not exist (the gateway creates it when it first starts)", path)
		}
	default:
		return nil, fmt.Errorf("vault: local key file: %w", err)
	}
	if lf.Keys == nil {
		lf.Keys = map[string][]localVersion{}
	}
	changed := false
	for _, n := range names {
		if !create {
			break
		}
		if len(lf.Keys[n]) == 0 {
			m := make([]byte, 32)
			if _, err := rand.Read(m); err != nil {
				return nil, err
			}
			lf.Keys[n] = []localVersion{{Version: 1, Material: m, Activation: time.Unix(0, 0).UTC()}}
			changed = true
		}
	}
	if changed {
		lf.Comment = "Veil development keys (provider: local). Plaintext key material: never use in production."
		out, err := json.MarshalIndent(lf, "", "  ")
		if err != nil {
			return nil, err
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("vault: local key file: %w", err)
			}
		}
		if err := writeFileAtomic(path, out, 0o600); err != nil {
			return nil, fmt.Errorf("vault: local key file: %w", err)
		}
	}
	return NewStatic(lf.Keys, lf.MinDecryption), nil
}

// validate refuses a key file the keyring could not serve safely: a
// version without 32 bytes of material (an empty key would make every
// keyed value computable by anyone), a version below 1 or listed twice
// (two materials for one version), a negative minimum.
func (lf *localFile) validate() error {
	for name, vs := range lf.Keys {
		seen := map[int]bool{}
		for _, v := range vs {
			switch {
			case v.Version < 1:
				return fmt.Errorf("key %q: version %d (versions start at 1)", name, v.Version)
			case seen[v.Version]:
				return fmt.Errorf("key %q: version %d is listed twice", name, v.Version)
			case len(v.Material) != 32:
				return fmt.Errorf("key %q v%d: material must be 32 bytes (base64), has %d", name, v.Version, len(v.Material))
			}
			seen[v.Version] = true
		}
	}
	for name, m := range lf.MinDecryption {
		if m < 0 {
			return fmt.Errorf("min_decryption_version of %q is negative", name)
		}
	}
	return nil
}

// NewStatic builds an in-memory keyring from versions (tests, demo).
func NewStatic(keys map[string][]localVersion, minDec map[string]int) *Local {
	l := &Local{keys: map[string][]Key{}, minDec: map[string]int{}, loaded: time.Now()}
	for name, vs := range keys {
		ks := make([]Key, 0, len(vs))
		for _, v := range vs {
			ks = append(ks, Key{Name: name, Version: v.Version, Material: v.Material, Activation: v.Activation})
		}
		sort.Slice(ks, func(i, j int) bool { return ks[i].Version < ks[j].Version })
		l.keys[name] = ks
	}
	for k, v := range minDec {
		l.minDec[k] = v
	}
	return l
}

// NewMemory returns a keyring with one fresh random version of each name,
// held only in memory.
func NewMemory(names ...string) (*Local, error) {
	keys := map[string][]localVersion{}
	for _, n := range names {
		m := make([]byte, 32)
		if _, err := rand.Read(m); err != nil {
			return nil, err
		}
		keys[n] = []localVersion{{Version: 1, Material: m, Activation: time.Unix(0, 0).UTC()}}
	}
	return NewStatic(keys, nil), nil
}

// Primary implements Keyring.
func (l *Local) Primary(name string, now time.Time) (Key, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ks := l.keys[name]
	// The newest active version not retired (below min_decryption_version
	// a version opens nothing, so nothing may be sealed with it).
	for i := len(ks) - 1; i >= 0 && ks[i].Version >= l.minDec[name]; i-- {
		if !ks[i].Activation.After(now) {
			return ks[i], nil
		}
	}
	return Key{}, fmt.Errorf("%w: %q", ErrKeyNotFound, name)
}

// Version implements Keyring.
func (l *Local) Version(name string, version int) (Key, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if version < l.minDec[name] {
		return Key{}, fmt.Errorf("%w: %q v%d", ErrKeyRetired, name, version)
	}
	for _, k := range l.keys[name] {
		if k.Version == version {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("%w: %q v%d", ErrKeyNotFound, name, version)
}

// Status implements Keyring.
func (l *Local) Status() []KeyStatus {
	l.mu.RLock()
	defer l.mu.RUnlock()
	now := time.Now()
	out := make([]KeyStatus, 0, len(l.keys))
	for name, ks := range l.keys {
		st := KeyStatus{Name: name, MinDecryptionVersion: l.minDec[name], LastRefresh: l.loaded}
		for _, k := range ks {
			st.Versions = append(st.Versions, k.Version)
			st.Activations = append(st.Activations, k.Activation)
			if !k.Activation.After(now) && k.Version >= l.minDec[name] { // as Primary
				st.Primary = k.Version
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ready implements Keyring.
func (l *Local) Ready() error { return nil }

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".veil-keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
