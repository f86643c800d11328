package vault

// The HashiCorp Vault provider; its data model is in the package doc.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// ErrVault means a call to the Vault server failed (unreachable, denied,
// malformed answer). Wrapped errors never contain tokens or key material.
var ErrVault = errors.New("vault: Vault request failed")

// ErrVaultConfig means the keys.vault configuration is invalid.
var ErrVaultConfig = errors.New("vault: invalid keys.vault configuration")

// ErrRetirePrimary means a retirement would make the active primary version
// (or a newer one) undecryptable.
var ErrRetirePrimary = errors.New("vault: cannot retire the primary key version")

// VaultTLSConfig configures TLS to the Vault server (`keys.vault.tls`).
type VaultTLSConfig struct {
	// CAFile is a PEM file of CA certificates that verify the server.
	// Default: the system roots (or VAULT_CACERT).
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server certificate.
	// Default: the host of Address.
	ServerName string `yaml:"server_name"`
}

// VaultAuthConfig configures how Veil logs in to Vault (`keys.vault.auth`).
type VaultAuthConfig struct {
	// Method is "token" (default), "approle" or "kubernetes".
	Method string `yaml:"method"`
	// TokenFile holds the Vault token for method token; it is re-read when
	// the token can no longer be renewed. Default: the VAULT_TOKEN
	// environment variable.
	TokenFile string `yaml:"token_file"`
	// RoleID is the AppRole role id (method approle). No default.
	RoleID string `yaml:"role_id"`
	// SecretIDFile holds the AppRole secret id (method approle). No default.
	SecretIDFile string `yaml:"secret_id_file"`
	// Role is the Vault role for method kubernetes. No default.
	Role string `yaml:"role"`
	// JWTFile is the Kubernetes service-account token (method kubernetes).
	// Default: /var/run/secrets/kubernetes.io/serviceaccount/token.
	JWTFile string `yaml:"jwt_file"`
	// MountPath is where the auth method is mounted. Default: "approle" or
	// "kubernetes" after the method.
	MountPath string `yaml:"mount_path"`
}

// VaultConfig configures the Vault provider (`keys.vault`).
type VaultConfig struct {
	// Address of the Vault server, e.g. "https://vault:8200". Default: the
	// VAULT_ADDR environment variable, else https://127.0.0.1:8200.
	Address string `yaml:"address"`
	// TLS options for the connection.
	TLS VaultTLSConfig `yaml:"tls"`
	// Auth selects and configures the login method.
	Auth VaultAuthConfig `yaml:"auth"`
	// TransitMount is the mount path of the transit engine. Default "transit".
	TransitMount string `yaml:"transit_mount"`
	// TransitKey is the transit key wrapping the data keys. Default
	// "veil-root".
	TransitKey string `yaml:"transit_key"`
	// KVMount is the mount path of the KV v2 engine. Default "secret".
	KVMount string `yaml:"kv_mount"`
	// KVPrefix is the folder under KVMount holding one secret per data key.
	// Default "veil/keys".
	KVPrefix string `yaml:"kv_prefix"`
	// RefreshInterval is how often the keyring reloads from Vault; negative
	// disables the background refresh. Default 5m.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
}

func (c VaultConfig) withDefaults() VaultConfig {
	if c.Auth.Method == "" {
		c.Auth.Method = "token"
	}
	if c.TransitMount == "" {
		c.TransitMount = "transit"
	}
	if c.TransitKey == "" {
		c.TransitKey = "veil-root"
	}
	if c.KVMount == "" {
		c.KVMount = "secret"
	}
	if c.KVPrefix == "" {
		c.KVPrefix = "veil/keys"
	}
	c.TransitMount = strings.Trim(c.TransitMount, "/")
	c.KVMount = strings.Trim(c.KVMount, "/")
	c.KVPrefix = strings.Trim(c.KVPrefix, "/")
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 5 * time.Minute
	}
	return c
}

// VaultStats are counters for metrics and `veil keys status`.
type VaultStats struct {
	// Refreshes counts successful loads from Vault (including the first).
	Refreshes uint64
	// RefreshErrors counts failed loads.
	RefreshErrors uint64
	// VaultErrors counts every failed Vault call (loads, rotations,
	// retirements, logins, renewals).
	VaultErrors uint64
	// Logins counts successful logins (the first one and re-logins).
	Logins uint64
	// Renewals counts successful token renewals.
	Renewals uint64
	// LastRefresh is the time of the last successful load.
	LastRefresh time.Time
	// LastError is the time of the last failed Vault call.
	LastError time.Time
}

// VaultKeyring is the Keyring backed by Vault. Keys are served from memory;
// only Refresh, Rotate and Retire talk to Vault. It is safe for concurrent use.
type VaultKeyring struct {
	cfg    VaultConfig
	client *vaultapi.Client
	auth   *authenticator
	names  []string // required names, checked by Ready

	state atomic.Pointer[vaultState]

	refreshMu sync.Mutex // one load at a time

	statsMu sync.Mutex
	stats   VaultStats

	kick chan struct{} // a lookup missed: refresh early (coalesced)

	// asked records when a lookup first asked for a version newer than
	// every loaded one (Version): until a load begun after that moment
	// answers, the version may exist (another replica rotated it in).
	askedMu sync.Mutex
	asked   map[askedVersion]time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

type askedVersion struct {
	name    string
	version int
}

// maxAsked bounds VaultKeyring.asked: requests may name any version.
const maxAsked = 1024

// firstAsked returns when a lookup first asked for version of name, now if
// this is the first time.
func (k *VaultKeyring) firstAsked(name string, version int, now time.Time) time.Time {
	k.askedMu.Lock()
	defer k.askedMu.Unlock()
	kv := askedVersion{name, version}
	if t, ok := k.asked[kv]; ok {
		return t
	}
	if k.asked == nil || len(k.asked) >= maxAsked {
		k.asked = make(map[askedVersion]time.Time)
	}
	k.asked[kv] = now
	return now
}

// minKickInterval spaces refreshes triggered by lookup misses, so requests
// naming unknown versions cannot hammer Vault.
const minKickInterval = time.Second

// vaultState is an immutable snapshot, swapped atomically.
type vaultState struct {
	keys   map[string]*vaultName
	loaded time.Time
	// started is when the load that produced this state began asking
	// Vault: a version it did not find did not exist then.
	started time.Time
}

type vaultName struct {
	versions []Key          // live versions, ascending
	wrapped  map[int]string // version -> ciphertext it was unwrapped from
	minDec   int            // min_decryption_version
	kvVer    int            // KV v2 version of the secret
}

// kvKey is the JSON document stored in KV v2 for one name.
type kvKey struct {
	Versions             []kvVersion `json:"versions"`
	MinDecryptionVersion int         `json:"min_decryption_version"`
}

type kvVersion struct {
	Version    int       `json:"version"`
	Wrapped    string    `json:"wrapped"`
	Activation time.Time `json:"activation"`
}

// NewVaultKeyring logs in to Vault, loads and unwraps every data key under
// the prefix, and starts the token renewal and the background refresh. It
// fails when Vault is unreachable or denies access, so the gateway refuses to
// become ready. names are the keys the gateway needs; Ready fails while one
// of them is missing (create it with Rotate).
func NewVaultKeyring(ctx context.Context, cfg VaultConfig, names ...string) (*VaultKeyring, error) {
	cfg = cfg.withDefaults()
	acfg := vaultapi.DefaultConfig()
	if acfg.Error != nil {
		return nil, fmt.Errorf("%w: %v", ErrVaultConfig, acfg.Error)
	}
	if cfg.Address != "" {
		acfg.Address = cfg.Address
	}
	if cfg.TLS.CAFile != "" || cfg.TLS.ServerName != "" {
		if err := acfg.ConfigureTLS(&vaultapi.TLSConfig{CACert: cfg.TLS.CAFile, TLSServerName: cfg.TLS.ServerName}); err != nil {
			return nil, fmt.Errorf("%w: tls: %v", ErrVaultConfig, err)
		}
	}
	acfg.Timeout = 15 * time.Second
	acfg.MinRetryWait = 100 * time.Millisecond
	acfg.MaxRetryWait = time.Second
	acfg.MaxRetries = 2
	client, err := vaultapi.NewClient(acfg)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %v", ErrVaultConfig, err)
	}
	client.ClearToken() // only the configured auth method supplies the token
	k := &VaultKeyring{cfg: cfg, client: client, names: append([]string(nil), names...), kick: make(chan struct{}, 1)}
	k.auth, err = newAuthenticator(cfg.Auth, client, authHooks{onError: k.countError, onLogin: k.countLogin, onRenew: k.countRenewal})
	if err != nil {
		return nil, err
	}
	if err := k.auth.login(ctx); err != nil {
		k.countError()
		return nil, err
	}
	if err := k.Refresh(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.wg.Add(1)
	go func() { defer k.wg.Done(); k.auth.watch(bg) }()
	if cfg.RefreshInterval > 0 {
		k.wg.Add(1)
		go func() { defer k.wg.Done(); k.refreshLoop(bg) }()
	}
	return k, nil
}

// Close stops the background refresh and token renewal. The keys already
// loaded keep serving.
func (k *VaultKeyring) Close() {
	k.closed.Do(func() {
		if k.cancel != nil {
			k.cancel()
		}
		k.wg.Wait()
	})
}

// refreshLoop refreshes every RefreshInterval, and early (at most once per
// minKickInterval) when a lookup asked for a key version not loaded yet, e.g.
// one another replica has just rotated in.
func (k *VaultKeyring) refreshLoop(ctx context.Context) {
	t := time.NewTicker(k.cfg.RefreshInterval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
			if wait := minKickInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		_ = k.Refresh(rctx) // counted in stats; cached keys keep serving
		cancel()
		last = time.Now()
	}
}

// missed asks the refresh loop for an early refresh without blocking.
func (k *VaultKeyring) missed() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Manager is a Keyring whose keys can be reloaded, rotated and retired: the
// Vault provider, for `veil keys rotate|retire` and SIGHUP.
type Manager interface {
	Keyring
	Refresh(ctx context.Context) error
	Rotate(ctx context.Context, name string, activateIn time.Duration) (version int, err error)
	Retire(ctx context.Context, name string, version int) error
	Stats() VaultStats
	Close()
}

var _ Manager = (*VaultKeyring)(nil)

// Stats returns a copy of the counters.
func (k *VaultKeyring) Stats() VaultStats {
	k.statsMu.Lock()
	defer k.statsMu.Unlock()
	return k.stats
}

func (k *VaultKeyring) countError() {
	k.statsMu.Lock()
	k.stats.VaultErrors++
	k.stats.LastError = time.Now()
	k.statsMu.Unlock()
}

func (k *VaultKeyring) countRenewal() {
	k.statsMu.Lock()
	k.stats.Renewals++
	k.statsMu.Unlock()
}

func (k *VaultKeyring) countLogin() {
	k.statsMu.Lock()
	k.stats.Logins++
	k.statsMu.Unlock()
}

// Primary implements Keyring: the newest live version whose activation time
// has passed at now.
func (k *VaultKeyring) Primary(name string, now time.Time) (Key, error) {
	st := k.state.Load()
	if st != nil {
		if n := st.keys[name]; n != nil {
			if key, ok := n.primary(now); ok {
				return key, nil
			}
		}
	}
	k.missed()
	return Key{}, fmt.Errorf("%w: %q", ErrKeyNotFound, name)
}

func (n *vaultName) primary(now time.Time) (Key, bool) {
	for i := len(n.versions) - 1; i >= 0; i-- {
		if !n.versions[i].Activation.After(now) {
			return n.versions[i], true
		}
	}
	return Key{}, false
}

// Version implements Keyring: versions below the minimum decryption version
// give ErrKeyRetired, versions not loaded give ErrKeyNotFound (and schedule
// an early background refresh, so a version just rotated in on another
// replica is picked up within about a second).
func (k *VaultKeyring) Version(name string, version int) (Key, error) {
	st := k.state.Load()
	if st != nil {
		if n := st.keys[name]; n != nil {
			if version < n.minDec {
				return Key{}, fmt.Errorf("%w: %q v%d", ErrKeyRetired, name, version)
			}
			i := sort.Search(len(n.versions), func(i int) bool { return n.versions[i].Version >= version })
			if i < len(n.versions) && n.versions[i].Version == version {
				return n.versions[i], nil
			}
		}
	}
	k.missed()
	// A version newer than every loaded one may have been created by
	// another replica's rotation. Until a load begun after this version was
	// first asked for has answered (Vault may be down, or just not asked
	// yet), Veil cannot know: report the store as unavailable (503), not
	// the value as invalid (which would remove it from the body).
	if st != nil && version > newestLoaded(st, name) && !st.started.After(k.firstAsked(name, version, time.Now())) {
		return Key{}, fmt.Errorf("%w: %q v%d", ErrKeyStoreUnavailable, name, version)
	}
	return Key{}, fmt.Errorf("%w: %q v%d", ErrKeyNotFound, name, version)
}

// newestLoaded is the highest loaded version of name (0 if none).
func newestLoaded(st *vaultState, name string) int {
	if n := st.keys[name]; n != nil && len(n.versions) > 0 {
		return n.versions[len(n.versions)-1].Version
	}
	return 0
}

// Status implements Keyring.
func (k *VaultKeyring) Status() []KeyStatus {
	st := k.state.Load()
	if st == nil {
		return nil
	}
	now := time.Now()
	out := make([]KeyStatus, 0, len(st.keys))
	for name, n := range st.keys {
		s := KeyStatus{Name: name, MinDecryptionVersion: n.minDec, LastRefresh: st.loaded}
		for _, v := range n.versions {
			s.Versions = append(s.Versions, v.Version)
			s.Activations = append(s.Activations, v.Activation)
		}
		if p, ok := n.primary(now); ok {
			s.Primary = p.Version
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ready implements Keyring: nil once keys are loaded and every required name
// has an active version.
func (k *VaultKeyring) Ready() error {
	st := k.state.Load()
	if st == nil {
		return fmt.Errorf("%w: keys not loaded from Vault yet", ErrKeyNotFound)
	}
	now := time.Now()
	for _, name := range k.names {
		n := st.keys[name]
		if n == nil {
			return fmt.Errorf("%w: %q is not in Vault at %s/%s (create it with `veil keys rotate %s`)", ErrKeyNotFound, name, k.cfg.KVMount, k.cfg.KVPrefix, name)
		}
		if _, ok := n.primary(now); !ok {
			return fmt.Errorf("%w: %q has no active version", ErrKeyNotFound, name)
		}
	}
	return nil
}

// Refresh reloads every data key from Vault, unwrapping new versions in one
// batched transit call, and swaps the keyring atomically. On failure the keys
// already loaded keep serving and the error is counted.
func (k *VaultKeyring) Refresh(ctx context.Context) error {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	err := k.refresh(ctx)
	k.statsMu.Lock()
	if err != nil {
		k.stats.RefreshErrors++
		k.stats.VaultErrors++
		k.stats.LastError = time.Now()
	} else {
		k.stats.Refreshes++
		k.stats.LastRefresh = k.state.Load().loaded
	}
	k.statsMu.Unlock()
	return err
}

func (k *VaultKeyring) refresh(ctx context.Context) error {
	started := time.Now()
	names, err := k.listNames(ctx)
	if err != nil {
		return err
	}
	old := k.state.Load()
	next := &vaultState{keys: make(map[string]*vaultName, len(names))}
	type pending struct {
		n   *vaultName
		v   kvVersion
		idx int
	}
	var todo []pending
	for _, name := range names {
		doc, kvVer, err := k.readKey(ctx, name)
		if err != nil {
			return err
		}
		if doc == nil { // deleted between list and read
			continue
		}
		n := &vaultName{minDec: doc.MinDecryptionVersion, kvVer: kvVer, wrapped: map[int]string{}}
		var prev *vaultName
		if old != nil {
			prev = old.keys[name]
		}
		for _, v := range doc.Versions {
			if v.Version < doc.MinDecryptionVersion || v.Wrapped == "" {
				continue
			}
			n.wrapped[v.Version] = v.Wrapped
			if prev != nil && prev.wrapped[v.Version] == v.Wrapped {
				if key, err := prev.version(v.Version); err == nil {
					key.Activation = v.Activation
					n.versions = append(n.versions, key)
					continue
				}
			}
			n.versions = append(n.versions, Key{Name: name, Version: v.Version, Activation: v.Activation})
			todo = append(todo, pending{n: n, v: v, idx: len(n.versions) - 1})
		}
		next.keys[name] = n
	}
	if len(todo) > 0 {
		in := make([]unwrapItem, len(todo))
		for i, p := range todo {
			in[i] = unwrapItem{name: p.n.versions[p.idx].Name, version: p.v.Version, wrapped: p.v.Wrapped}
		}
		plain, err := k.unwrap(ctx, in)
		if err != nil {
			return err
		}
		for i, p := range todo {
			p.n.versions[p.idx].Material = plain[i]
		}
	}
	for _, n := range next.keys {
		sort.Slice(n.versions, func(i, j int) bool { return n.versions[i].Version < n.versions[j].Version })
	}
	next.loaded, next.started = time.Now(), started
	k.state.Store(next)
	return nil
}

func (n *vaultName) version(v int) (Key, error) {
	for _, key := range n.versions {
		if key.Version == v {
			return key, nil
		}
	}
	return Key{}, ErrKeyNotFound
}

func (k *VaultKeyring) secretPath(name string) string {
	return k.cfg.KVPrefix + "/" + name
}

func (k *VaultKeyring) listNames(ctx context.Context) ([]string, error) {
	s, err := k.client.Logical().ListWithContext(ctx, k.cfg.KVMount+"/metadata/"+k.cfg.KVPrefix)
	if err != nil {
		return nil, fmt.Errorf("%w: list %s/%s: %v", ErrVault, k.cfg.KVMount, k.cfg.KVPrefix, err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	raw, _ := s.Data["keys"].([]interface{})
	names := make([]string, 0, len(raw))
	for _, r := range raw {
		if n, ok := r.(string); ok && n != "" && !strings.HasSuffix(n, "/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// readKey returns the document for name and its KV version; nil and 0 when
// the name does not exist. A name whose current KV version is deleted is an
// error: rotating it would restart at version 1 and orphan what the old
// versions protected.
func (k *VaultKeyring) readKey(ctx context.Context, name string) (*kvKey, int, error) {
	var s *vaultapi.KVSecret
	for attempt := 0; ; attempt++ {
		var err error
		s, err = k.client.KVv2(k.cfg.KVMount).Get(ctx, k.secretPath(name))
		if err != nil && !errors.Is(err, vaultapi.ErrSecretNotFound) {
			return nil, 0, fmt.Errorf("%w: read key %q: %v", ErrVault, name, err)
		}
		if err == nil && s.Data != nil {
			break
		}
		cur, deleted, err := k.currentKVVersion(ctx, name)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case cur == 0:
			return nil, 0, nil
		case deleted:
			return nil, 0, fmt.Errorf("%w: key %q: its current KV version %d is deleted; undelete it before using the key", ErrVault, name, cur)
		case attempt >= 2:
			return nil, 0, fmt.Errorf("%w: read key %q: version %d listed but not readable", ErrVault, name, cur)
		}
		// Another writer created it between the two reads: read again.
	}
	kvVer := 0
	if s.VersionMetadata != nil {
		kvVer = s.VersionMetadata.Version
	}
	b, err := json.Marshal(s.Data)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: key %q: %v", ErrVault, name, err)
	}
	var doc kvKey
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, 0, fmt.Errorf("%w: key %q: malformed document: %v", ErrVault, name, err)
	}
	if err := doc.validate(); err != nil {
		return nil, 0, fmt.Errorf("%w: key %q: malformed document: %v", ErrVault, name, err)
	}
	return &doc, kvVer, nil
}

// validate checks the invariants every writer keeps.
func (d *kvKey) validate() error {
	if d.MinDecryptionVersion < 1 {
		return fmt.Errorf("min_decryption_version %d < 1", d.MinDecryptionVersion)
	}
	seen := make(map[int]bool, len(d.Versions))
	for _, v := range d.Versions {
		switch {
		case v.Version < 1:
			return fmt.Errorf("version %d < 1", v.Version)
		case seen[v.Version]:
			return fmt.Errorf("version %d listed twice", v.Version)
		case v.Version >= d.MinDecryptionVersion && v.Wrapped == "":
			return fmt.Errorf("live version %d has no wrapped key", v.Version)
		}
		seen[v.Version] = true
	}
	return nil
}

// currentKVVersion is the secret's current KV version (0 when it never
// existed) and whether that version is deleted or destroyed.
func (k *VaultKeyring) currentKVVersion(ctx context.Context, name string) (int, bool, error) {
	m, err := k.client.KVv2(k.cfg.KVMount).GetMetadata(ctx, k.secretPath(name))
	if errors.Is(err, vaultapi.ErrSecretNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("%w: read key %q metadata: %v", ErrVault, name, err)
	}
	v, ok := m.Versions[strconv.Itoa(m.CurrentVersion)]
	deleted := ok && (v.Destroyed || !v.DeletionTime.IsZero())
	return m.CurrentVersion, deleted, nil
}

type unwrapItem struct {
	name    string
	version int
	wrapped string
}

func associatedData(name string, version int) string {
	return base64.StdEncoding.EncodeToString([]byte("veil/data-key|" + name + "|v" + strconv.Itoa(version)))
}

// unwrap decrypts every item with one batched transit call.
func (k *VaultKeyring) unwrap(ctx context.Context, items []unwrapItem) ([][]byte, error) {
	batch := make([]map[string]interface{}, len(items))
	for i, it := range items {
		batch[i] = map[string]interface{}{"ciphertext": it.wrapped, "associated_data": associatedData(it.name, it.version)}
	}
	// Raw write: when every item fails Vault answers 400 with the per-item
	// errors in the body, and we want to name the failing key version.
	body, err := json.Marshal(map[string]interface{}{"batch_input": batch})
	if err != nil {
		return nil, fmt.Errorf("vault: transit unwrap: %w", err)
	}
	resp, err := k.client.Logical().WriteRawWithContext(ctx, k.cfg.TransitMount+"/decrypt/"+k.cfg.TransitKey, body)
	if resp != nil {
		defer resp.Body.Close()
	}
	var results []interface{}
	if resp != nil {
		if s, perr := vaultapi.ParseSecret(resp.Body); perr == nil && s != nil && s.Data != nil {
			results, _ = s.Data["batch_results"].([]interface{})
		}
	}
	if err != nil && len(results) != len(items) {
		return nil, fmt.Errorf("%w: transit unwrap: %v", ErrVault, err)
	}
	if len(results) != len(items) {
		return nil, fmt.Errorf("%w: transit unwrap: %d results for %d keys", ErrVault, len(results), len(items))
	}
	out := make([][]byte, len(items))
	for i, r := range results {
		m, _ := r.(map[string]interface{})
		if e, _ := m["error"].(string); e != "" {
			return nil, fmt.Errorf("%w: transit unwrap of %q v%d: %s", ErrVault, items[i].name, items[i].version, e)
		}
		p, _ := m["plaintext"].(string)
		b, err := base64.StdEncoding.DecodeString(p)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: transit unwrap of %q v%d: not a 32-byte key", ErrVault, items[i].name, items[i].version)
		}
		out[i] = b
	}
	return out, nil
}

func (k *VaultKeyring) wrap(ctx context.Context, name string, version int, material []byte) (string, error) {
	s, err := k.client.Logical().WriteWithContext(ctx, k.cfg.TransitMount+"/encrypt/"+k.cfg.TransitKey, map[string]interface{}{
		"plaintext":       base64.StdEncoding.EncodeToString(material),
		"associated_data": associatedData(name, version),
	})
	if err != nil {
		return "", fmt.Errorf("%w: transit wrap: %v", ErrVault, err)
	}
	if s == nil || s.Data == nil {
		return "", fmt.Errorf("%w: transit wrap: empty answer", ErrVault)
	}
	c, _ := s.Data["ciphertext"].(string)
	if !strings.HasPrefix(c, "vault:") {
		return "", fmt.Errorf("%w: transit wrap: no ciphertext", ErrVault)
	}
	return c, nil
}

// maxCASAttempts bounds read-modify-write retries when writers race.
const maxCASAttempts = 16

func isCASMismatch(err error) bool {
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "check-and-set") {
			return true
		}
	}
	return false
}

// update runs a check-and-set read-modify-write of name's document. change
// mutates doc (nil doc means the name does not exist yet) and returns the
// document to write.
func (k *VaultKeyring) update(ctx context.Context, name string, change func(doc *kvKey) (*kvKey, error)) (int, error) {
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		doc, kvVer, err := k.readKey(ctx, name)
		if err != nil {
			return 0, err
		}
		next, err := change(doc)
		if err != nil {
			return 0, err
		}
		if next == nil {
			return kvVer, nil
		}
		b, err := json.Marshal(next)
		if err != nil {
			return 0, err
		}
		var data map[string]interface{}
		if err := json.Unmarshal(b, &data); err != nil {
			return 0, err
		}
		s, err := k.client.KVv2(k.cfg.KVMount).Put(ctx, k.secretPath(name), data, vaultapi.WithCheckAndSet(kvVer))
		if isCASMismatch(err) {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("%w: write key %q: %v", ErrVault, name, err)
		}
		if s != nil && s.VersionMetadata != nil {
			return s.VersionMetadata.Version, nil
		}
		return kvVer + 1, nil
	}
	return 0, fmt.Errorf("%w: write key %q: too many concurrent writers", ErrVault, name)
}

// Rotate adds a new version of name (creating the name on first use) with
// fresh random material, wrapped by the transit key, that becomes primary on
// every replica activateIn from now. Old versions keep decrypting. The new
// version is usable by this keyring at once; other replicas load it on their
// next refresh (or about a second after a lookup asks for it), so choose
// activateIn at least as long as RefreshInterval for replicas to agree.
func (k *VaultKeyring) Rotate(ctx context.Context, name string, activateIn time.Duration) (int, error) {
	if name == "" || strings.ContainsAny(name, "/|") {
		return 0, fmt.Errorf("%w: invalid key name %q", ErrVaultConfig, name)
	}
	if activateIn < 0 {
		activateIn = 0
	}
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		return 0, fmt.Errorf("vault: rotate %q: %w", name, err)
	}
	activation := time.Now().Add(activateIn).UTC().Truncate(time.Second)
	if activateIn > 0 && activation.Before(time.Now().Add(activateIn)) {
		activation = activation.Add(time.Second) // never earlier than asked
	}
	var version int
	var wrapped string
	_, err := k.update(ctx, name, func(doc *kvKey) (*kvKey, error) {
		if doc == nil {
			doc = &kvKey{MinDecryptionVersion: 1}
		}
		next := 1
		for _, v := range doc.Versions {
			if v.Version >= next {
				next = v.Version + 1
			}
		}
		if next != version { // wrap with associated data naming the version
			w, err := k.wrap(ctx, name, next, material)
			if err != nil {
				return nil, err
			}
			version, wrapped = next, w
		}
		out := &kvKey{MinDecryptionVersion: doc.MinDecryptionVersion}
		out.Versions = append(append(out.Versions, doc.Versions...), kvVersion{Version: version, Wrapped: wrapped, Activation: activation})
		return out, nil
	})
	if err != nil {
		k.countError()
		return 0, fmt.Errorf("vault: rotate %q: %w", name, err)
	}
	k.install(name, Key{Name: name, Version: version, Material: material, Activation: activation}, wrapped)
	return version, nil
}

// install adds one version to the in-memory keyring (copy on write).
func (k *VaultKeyring) install(name string, key Key, wrapped string) {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	old := k.state.Load()
	if old == nil {
		old = &vaultState{}
	}
	next := &vaultState{keys: make(map[string]*vaultName, len(old.keys)+1), loaded: old.loaded, started: old.started}
	for n, v := range old.keys {
		next.keys[n] = v
	}
	prev := old.keys[name]
	n := &vaultName{minDec: 1, wrapped: map[int]string{}}
	if prev != nil {
		n.minDec, n.kvVer = prev.minDec, prev.kvVer
		for v, w := range prev.wrapped {
			n.wrapped[v] = w
		}
		for _, v := range prev.versions {
			if v.Version != key.Version {
				n.versions = append(n.versions, v)
			}
		}
	}
	n.wrapped[key.Version] = wrapped
	n.versions = append(n.versions, key)
	sort.Slice(n.versions, func(i, j int) bool { return n.versions[i].Version < n.versions[j].Version })
	next.keys[name] = n
	k.state.Store(next)
}

// Retire sets name's minimum decryption version to version: every older
// version becomes unavailable (ErrKeyRetired) and its wrapped material is
// removed from Vault, including the older KV versions of the secret, which
// crypto-shreds what it protected. It refuses (ErrRetirePrimary) to retire
// the version active now or a newer one. Retiring to a version at or below
// the current minimum is a no-op.
func (k *VaultKeyring) Retire(ctx context.Context, name string, version int) error {
	now := time.Now()
	changed := false
	kvVer, err := k.update(ctx, name, func(doc *kvKey) (*kvKey, error) {
		changed = false
		if doc == nil {
			return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, name)
		}
		if version <= doc.MinDecryptionVersion {
			return nil, nil
		}
		changed = true
		primary := 0
		for _, v := range doc.Versions {
			if !v.Activation.After(now) && v.Version > primary && v.Wrapped != "" {
				primary = v.Version
			}
		}
		if version > primary {
			return nil, fmt.Errorf("%w: %q v%d (primary is v%d)", ErrRetirePrimary, name, version, primary)
		}
		out := &kvKey{MinDecryptionVersion: version}
		for _, v := range doc.Versions {
			if v.Version < version {
				v.Wrapped = ""
			}
			out.Versions = append(out.Versions, v)
		}
		return out, nil
	})
	if err != nil {
		if !errors.Is(err, ErrKeyNotFound) && !errors.Is(err, ErrRetirePrimary) {
			k.countError()
		}
		return fmt.Errorf("vault: retire %q v%d: %w", name, version, err)
	}
	if changed && kvVer > 1 {
		older := make([]int, 0, kvVer-1)
		for v := 1; v < kvVer; v++ {
			older = append(older, v)
		}
		if err := k.client.KVv2(k.cfg.KVMount).Destroy(ctx, k.secretPath(name), older); err != nil {
			k.countError()
			return fmt.Errorf("vault: retire %q v%d: destroy older KV versions: %w: %v", name, version, ErrVault, err)
		}
	}
	return k.Refresh(ctx)
}

// tokenFromFileOrEnv reads a token file (trimmed) or VAULT_TOKEN.
func tokenFromFileOrEnv(file string) (string, error) {
	if file == "" {
		if t := os.Getenv("VAULT_TOKEN"); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("%w: auth method token needs auth.token_file or VAULT_TOKEN", ErrVaultConfig)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: token file: %v", ErrVaultConfig, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%w: token file %s is empty", ErrVaultConfig, file)
	}
	return t, nil
}
