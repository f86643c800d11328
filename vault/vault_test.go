package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"gopkg.in/yaml.v3"
)

// requireVault returns the shared dev server or skips (visibly) without it.
func requireVault(t *testing.T) *devServer {
	t.Helper()
	if shared == nil {
		t.Skip(skipSharedReason)
	}
	return shared
}

// tokenConfig is a VaultConfig for srv with token auth from a file and a
// per-test KV prefix, background refresh off.
func tokenConfig(t *testing.T, srv *devServer, token string) VaultConfig {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return VaultConfig{
		Address:         srv.addr,
		Auth:            VaultAuthConfig{Method: "token", TokenFile: file},
		KVPrefix:        "veil-test/" + strings.ReplaceAll(t.Name(), "/", "_") + "-" + randomHex(4) + "/keys",
		RefreshInterval: -1,
	}
}

func openRing(t *testing.T, cfg VaultConfig, names ...string) *VaultKeyring {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k, err := NewVaultKeyring(ctx, cfg, names...)
	if err != nil {
		t.Fatalf("NewVaultKeyring: %v", err)
	}
	t.Cleanup(k.Close)
	return k
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRotate(t *testing.T, k *VaultKeyring, name string, in time.Duration, want int) {
	t.Helper()
	v, err := k.Rotate(testCtx(t), name, in)
	if err != nil {
		t.Fatalf("Rotate(%s): %v", name, err)
	}
	if v != want {
		t.Fatalf("Rotate(%s) = v%d, want v%d", name, v, want)
	}
}

func mustVersion(t *testing.T, k Keyring, name string, v int) Key {
	t.Helper()
	key, err := k.Version(name, v)
	if err != nil {
		t.Fatalf("Version(%s, %d): %v", name, v, err)
	}
	if key.Name != name || key.Version != v || len(key.Material) != 32 {
		t.Fatalf("Version(%s, %d) = %s v%d with %d bytes", name, v, key.Name, key.Version, len(key.Material))
	}
	return key
}

func TestVaultRotateTwiceAndReadAllVersions(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	a := openRing(t, cfg, "pii")
	if err := a.Ready(); !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), "veil keys rotate pii") {
		t.Fatalf("Ready before any key = %v, want ErrKeyNotFound naming the fix", err)
	}
	if _, err := a.Primary("pii", time.Now()); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Primary of missing key: %v", err)
	}
	mustRotate(t, a, "pii", 0, 1)
	mustRotate(t, a, "pii", 0, 2)
	if err := a.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	p, err := a.Primary("pii", time.Now())
	if err != nil || p.Version != 2 {
		t.Fatalf("Primary = v%d, %v; want v2", p.Version, err)
	}
	v1, v2 := mustVersion(t, a, "pii", 1), mustVersion(t, a, "pii", 2)
	if bytes.Equal(v1.Material, v2.Material) {
		t.Fatal("two versions share key material")
	}
	// v3 was never created, but until a load asks Vault, another replica
	// might have: unavailable, then unknown once a refresh has answered.
	if _, err := a.Version("pii", 3); !errors.Is(err, ErrKeyStoreUnavailable) {
		t.Fatalf("Version 3 before a refresh: %v", err)
	}
	if err := a.Refresh(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Version("pii", 3); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Version 3 after a refresh: %v", err)
	}

	// A second replica unwraps both versions from Vault and agrees.
	b := openRing(t, cfg, "pii")
	if err := b.Ready(); err != nil {
		t.Fatalf("replica Ready: %v", err)
	}
	for _, v := range []Key{v1, v2} {
		if got := mustVersion(t, b, "pii", v.Version); !bytes.Equal(got.Material, v.Material) || !got.Activation.Equal(v.Activation) {
			t.Fatalf("replica v%d differs", v.Version)
		}
	}
	if st := b.Stats(); st.Refreshes != 1 || st.RefreshErrors != 0 || st.Logins != 1 || st.LastRefresh.IsZero() {
		t.Fatalf("stats = %+v", st)
	}
	status := b.Status()
	if len(status) != 1 || status[0].Name != "pii" || status[0].Primary != 2 || fmt.Sprint(status[0].Versions) != "[1 2]" ||
		status[0].MinDecryptionVersion != 1 || len(status[0].Activations) != 2 {
		t.Fatalf("status = %+v", status)
	}

	// Vault holds only wrapped material.
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := root.KVv2("secret").Get(testCtx(t), cfg.KVPrefix+"/pii")
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprint(sec.Data)
	for _, v := range []Key{v1, v2} {
		if strings.Contains(doc, base64.StdEncoding.EncodeToString(v.Material)) {
			t.Fatal("KV document holds plaintext key material")
		}
	}
	if n := strings.Count(doc, "vault:v1:"); n != 2 {
		t.Fatalf("KV document has %d wrapped versions, want 2: keys %v", n, keysOf(sec.Data))
	}
}

func keysOf(m map[string]interface{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestVaultWrappedVersionCannotMoveToAnotherName(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	a := openRing(t, cfg)
	mustRotate(t, a, "pii", 0, 1)
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	sec, err := root.KVv2("secret").Get(ctx, cfg.KVPrefix+"/pii")
	if err != nil {
		t.Fatal(err)
	}
	// An attacker with KV write access copies pii's wrapped v1 to "audit".
	if _, err := root.KVv2("secret").Put(ctx, cfg.KVPrefix+"/audit", sec.Data); err != nil {
		t.Fatal(err)
	}
	err = a.Refresh(ctx)
	if !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), `"audit" v1`) {
		t.Fatalf("Refresh with a moved wrapped key = %v, want ErrVault naming audit v1", err)
	}
	if _, err := a.Version("pii", 1); err != nil {
		t.Fatalf("cached key stopped serving: %v", err)
	}
	if st := a.Stats(); st.RefreshErrors != 1 {
		t.Fatalf("RefreshErrors = %d, want 1", st.RefreshErrors)
	}
}

func TestVaultFutureActivationKeepsOldPrimaryOnEveryReplica(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	a := openRing(t, cfg, "pii")
	mustRotate(t, a, "pii", 0, 1)
	b := openRing(t, cfg, "pii")
	mustRotate(t, a, "pii", 2*time.Second, 2)
	if err := b.Refresh(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	act := mustVersion(t, a, "pii", 2).Activation
	if d := time.Until(act); d <= time.Second || d > 3*time.Second {
		t.Fatalf("activation in %v, want about 2s", d)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want int
	}{
		{"before activation", act.Add(-time.Nanosecond), 1},
		{"at activation", act, 2},
		{"after activation", act.Add(time.Hour), 2},
	} {
		for i, k := range []*VaultKeyring{a, b} {
			p, err := k.Primary("pii", tc.at)
			if err != nil || p.Version != tc.want {
				t.Fatalf("%s: replica %d Primary = v%d, %v; want v%d", tc.name, i, p.Version, err, tc.want)
			}
		}
	}
	if pa, pb := a.Status()[0].Primary, b.Status()[0].Primary; pa != 1 || pb != 1 {
		t.Fatalf("status primary now = %d/%d, want 1/1", pa, pb)
	}
	// Wall clock: both switch once the time passes (bounded wait).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(act) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	pa, errA := a.Primary("pii", time.Now())
	pb, errB := b.Primary("pii", time.Now())
	if errA != nil || errB != nil || pa.Version != 2 || pb.Version != 2 || !bytes.Equal(pa.Material, pb.Material) {
		t.Fatalf("after activation: a=v%d %v, b=v%d %v, same material %v", pa.Version, errA, pb.Version, errB, bytes.Equal(pa.Material, pb.Material))
	}
}

func TestVaultRetire(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	a := openRing(t, cfg, "pii")
	for v := 1; v <= 3; v++ {
		mustRotate(t, a, "pii", 0, v)
	}
	mustRotate(t, a, "pii", time.Hour, 4) // not active yet
	b := openRing(t, cfg, "pii")
	ctx := testCtx(t)

	for _, tc := range []struct {
		name    string
		key     string
		version int
		want    error
	}{
		{"future version", "pii", 4, ErrRetirePrimary},
		{"missing key", "nope", 1, ErrKeyNotFound},
		{"at current minimum is a no-op", "pii", 1, nil},
		{"older versions", "pii", 3, nil},
		{"again is a no-op", "pii", 2, nil},
	} {
		if err := a.Retire(ctx, tc.key, tc.version); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("%s: Retire(%s, %d) = %v, want %v", tc.name, tc.key, tc.version, err, tc.want)
		}
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c := openRing(t, cfg, "pii") // a replica started after the retirement
	for _, k := range []*VaultKeyring{a, b, c} {
		for _, v := range []int{1, 2} {
			if _, err := k.Version("pii", v); !errors.Is(err, ErrKeyRetired) {
				t.Fatalf("Version(pii, %d) after retire = %v, want ErrKeyRetired", v, err)
			}
		}
		mustVersion(t, k, "pii", 3)
		mustVersion(t, k, "pii", 4)
		if p, err := k.Primary("pii", time.Now()); err != nil || p.Version != 3 {
			t.Fatalf("Primary after retire = v%d, %v", p.Version, err)
		}
		if st := k.Status()[0]; st.MinDecryptionVersion != 3 || fmt.Sprint(st.Versions) != "[3 4]" {
			t.Fatalf("status after retire = %+v", st)
		}
	}
	// Crypto-shredding: the wrapped blobs of v1, v2 are gone from every KV version.
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	kv := root.KVv2("secret")
	meta, err := kv.GetMetadata(ctx, cfg.KVPrefix+"/pii")
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= meta.CurrentVersion; v++ {
		s, err := kv.GetVersion(ctx, cfg.KVPrefix+"/pii", v)
		if v < meta.CurrentVersion {
			if err == nil && s.Data != nil {
				t.Fatalf("KV version %d of %d survived the retirement", v, meta.CurrentVersion)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(fmt.Sprint(s.Data), "vault:v1:"); n != 2 {
			t.Fatalf("current KV version holds %d wrapped versions, want 2", n)
		}
	}
}

func TestVaultConcurrentRotationsLoseNoVersion(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	const replicas, rotations = 3, 4
	rings := make([]*VaultKeyring, replicas)
	for i := range rings {
		rings[i] = openRing(t, cfg)
	}
	type made struct {
		ring    int
		version int
	}
	var (
		mu  sync.Mutex
		got []made
		wg  sync.WaitGroup
	)
	errs := make(chan error, replicas*rotations)
	for i, k := range rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < rotations; j++ {
				v, err := k.Rotate(context.Background(), "pii", 0)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got = append(got, made{i, v})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Rotate: %v", err)
	}
	fresh := openRing(t, cfg)
	seen := map[int]bool{}
	for _, m := range got {
		if seen[m.version] {
			t.Fatalf("version %d handed out twice", m.version)
		}
		seen[m.version] = true
		mine := mustVersion(t, rings[m.ring], "pii", m.version)
		if theirs := mustVersion(t, fresh, "pii", m.version); !bytes.Equal(mine.Material, theirs.Material) {
			t.Fatalf("v%d in Vault differs from what its rotator holds", m.version)
		}
	}
	if st := fresh.Status(); len(st) != 1 || len(st[0].Versions) != replicas*rotations || st[0].Primary != replicas*rotations {
		t.Fatalf("fresh status = %+v, want %d versions", st, replicas*rotations)
	}
}

func TestVaultBackgroundRefreshPicksUpRotation(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	a := openRing(t, cfg)
	mustRotate(t, a, "pii", 0, 1)
	cfg.RefreshInterval = 100 * time.Millisecond
	b := openRing(t, cfg)
	mustRotate(t, a, "pii", 0, 2)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := b.Version("pii", 2); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background refresh did not load v2 within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !bytes.Equal(mustVersion(t, a, "pii", 2).Material, mustVersion(t, b, "pii", 2).Material) {
		t.Fatal("replicas disagree on v2")
	}
	if st := b.Stats(); st.Refreshes < 2 || st.RefreshErrors != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestVaultUnreachableAtStart(t *testing.T) {
	t.Parallel()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s.nothing"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	kr, err := Open(Config{Provider: "vault", Vault: VaultConfig{Address: "http://" + addr, Auth: VaultAuthConfig{TokenFile: file}}})
	if !errors.Is(err, ErrVault) || kr != nil {
		t.Fatalf("Open with Vault down = %v, %v; want nil, ErrVault", kr, err)
	}
	if strings.Contains(err.Error(), "s.nothing") {
		t.Fatal("error leaks the token")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing took %v", d)
	}
}

func TestVaultBadToken(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, "s.not-a-real-token")
	_, err := NewVaultKeyring(testCtx(t), cfg)
	if !errors.Is(err, ErrVault) || strings.Contains(err.Error(), "not-a-real-token") {
		t.Fatalf("bad token: %v", err)
	}
}

func TestVaultConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth VaultAuthConfig
		want string
	}{
		{"unknown method", VaultAuthConfig{Method: "ldap"}, `unknown auth.method "ldap"`},
		{"approle without role id", VaultAuthConfig{Method: "approle", SecretIDFile: "/x"}, "needs auth.role_id"},
		{"approle without secret id", VaultAuthConfig{Method: "approle", RoleID: "r"}, "auth.secret_id_file"},
		{"kubernetes without role", VaultAuthConfig{Method: "kubernetes"}, "needs auth.role"},
		{"missing token file", VaultAuthConfig{Method: "token", TokenFile: "/nonexistent/veil-token"}, "token file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVaultKeyring(context.Background(), VaultConfig{Address: "http://127.0.0.1:1", Auth: tc.auth})
			if !errors.Is(err, ErrVaultConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrVaultConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestVaultConfigYAML(t *testing.T) {
	t.Parallel()
	const doc = `
provider: vault
vault: {address: "https://vault:8200", tls: {ca_file: /etc/ca.pem, server_name: vault.internal},
        auth: {method: approle, role_id: r1, secret_id_file: /run/sid, mount_path: ar},
        transit_mount: tr, transit_key: root2, kv_mount: kv, kv_prefix: veil/prod, refresh_interval: 90s}
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	want := VaultConfig{Address: "https://vault:8200", TLS: VaultTLSConfig{CAFile: "/etc/ca.pem", ServerName: "vault.internal"},
		Auth:         VaultAuthConfig{Method: "approle", RoleID: "r1", SecretIDFile: "/run/sid", MountPath: "ar"},
		TransitMount: "tr", TransitKey: "root2", KVMount: "kv", KVPrefix: "veil/prod", RefreshInterval: 90 * time.Second}
	if c.Provider != "vault" || c.Vault != want {
		t.Fatalf("decoded %+v", c.Vault)
	}
	d := VaultConfig{}.withDefaults()
	if d.Auth.Method != "token" || d.TransitMount != "transit" || d.TransitKey != "veil-root" || d.KVMount != "secret" ||
		d.KVPrefix != "veil/keys" || d.RefreshInterval != 5*time.Minute {
		t.Fatalf("defaults = %+v", d)
	}
}

// TestVaultKilledMidRun runs its own dev server and kills it.
func TestVaultKilledMidRun(t *testing.T) {
	t.Parallel()
	requireVault(t)
	bin, err := vaultBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startDevServer(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	cfg := tokenConfig(t, srv, srv.token)
	k := openRing(t, cfg, "pii")
	mustRotate(t, k, "pii", 0, 1)
	mustRotate(t, k, "pii", 0, 2)
	before := mustVersion(t, k, "pii", 1)
	srv.stop()
	// Vault is down but no call has failed yet: v3 may still exist (another
	// replica may have rotated), so it is unavailable, not unknown.
	if _, err := k.Version("pii", 3); !errors.Is(err, ErrKeyStoreUnavailable) {
		t.Fatalf("newer version, Vault down, no failure seen yet = %v, want ErrKeyStoreUnavailable", err)
	}

	ctx := testCtx(t)
	if err := k.Refresh(ctx); !errors.Is(err, ErrVault) {
		t.Fatalf("Refresh with Vault down = %v, want ErrVault", err)
	}
	if _, err := k.Rotate(ctx, "pii", 0); !errors.Is(err, ErrVault) {
		t.Fatalf("Rotate with Vault down = %v, want ErrVault", err)
	}
	if err := k.Ready(); err != nil {
		t.Fatalf("Ready with cached keys = %v", err)
	}
	if p, err := k.Primary("pii", time.Now()); err != nil || p.Version != 2 {
		t.Fatalf("cached Primary = v%d, %v", p.Version, err)
	}
	if got := mustVersion(t, k, "pii", 1); !bytes.Equal(got.Material, before.Material) {
		t.Fatal("cached v1 changed")
	}
	// v3 may exist in Vault (another replica may have rotated): with Vault
	// failing that is "unavailable" (the gateway answers 503), not "unknown".
	if _, err := k.Version("pii", 3); !errors.Is(err, ErrKeyStoreUnavailable) {
		t.Fatalf("uncached newer version = %v, want ErrKeyStoreUnavailable", err)
	}
	// v0 cannot exist anywhere: still unknown.
	if _, err := k.Version("pii", 0); !errors.Is(err, ErrKeyNotFound) && !errors.Is(err, ErrKeyRetired) {
		t.Fatalf("impossible version = %v, want ErrKeyNotFound", err)
	}
	st := k.Stats()
	if st.Refreshes != 1 || st.RefreshErrors != 1 || st.VaultErrors != 2 || st.LastError.Before(st.LastRefresh) {
		t.Fatalf("stats = %+v, want 1 refresh, 1 refresh error, 2 Vault errors", st)
	}
}

// keysPolicy is the least privilege a Veil keyring needs under kvPrefix.
func keysPolicy(kvPrefix string) string {
	return fmt.Sprintf(`
path "transit/encrypt/veil-root" { capabilities = ["update"] }
path "transit/decrypt/veil-root" { capabilities = ["update"] }
path "secret/data/%[1]s/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/%[1]s" { capabilities = ["list"] }
path "secret/metadata/%[1]s/*" { capabilities = ["read", "list"] }
path "secret/destroy/%[1]s/*" { capabilities = ["update"] }
`, kvPrefix)
}

// appRole creates a policy and an AppRole role with the given token TTLs
// on the shared server and returns its role id and a secret-id file.
func appRole(t *testing.T, srv *devServer, kvPrefix, ttl, maxTTL string) (roleID, secretIDFile string) {
	t.Helper()
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	name := "veil-" + randomHex(4)
	if err := root.Sys().PutPolicyWithContext(ctx, name, keysPolicy(kvPrefix)); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/approle/role/"+name, map[string]interface{}{
		"token_policies": name, "token_ttl": ttl, "token_max_ttl": maxTTL,
	}); err != nil {
		t.Fatal(err)
	}
	s, err := root.Logical().ReadWithContext(ctx, "auth/approle/role/"+name+"/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s, err = root.Logical().WriteWithContext(ctx, "auth/approle/role/"+name+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := s.Data["secret_id"].(string)
	secretIDFile = filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretIDFile, []byte(sid), 0o600); err != nil {
		t.Fatal(err)
	}
	return roleID, secretIDFile
}

func TestVaultAppRoleLoginRenewAndRelogin(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, "")
	roleID, sidFile := appRole(t, srv, cfg.KVPrefix, "2s", "4s")
	cfg.Auth = VaultAuthConfig{Method: "approle", RoleID: roleID, SecretIDFile: sidFile}
	k := openRing(t, cfg, "pii")
	mustRotate(t, k, "pii", 0, 1)
	first := k.client.Token()

	// The 4s max TTL forces the watcher to give up; the keyring logs in again.
	deadline := time.Now().Add(12 * time.Second)
	for k.Stats().Logins < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no re-login within 12s: %+v", k.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if k.client.Token() == first {
		t.Fatal("re-login kept the old token")
	}
	if st := k.Stats(); st.Renewals < 1 {
		t.Fatalf("the token was never renewed before re-login: %+v", st)
	}
	time.Sleep(time.Second) // past the first token's life
	ctx := testCtx(t)
	if err := k.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after re-login: %v", err)
	}
	mustRotate(t, k, "pii", 0, 2)

	// A wrong secret id is refused at start.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("00000000-0000-0000-0000-000000000000"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Auth.SecretIDFile = bad
	if _, err := NewVaultKeyring(ctx, cfg); !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "approle login") || strings.Contains(err.Error(), "00000000-0000") {
		t.Fatalf("bad secret id: %v", err)
	}
}

func TestVaultTokenRenewalThenReloginFromFile(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	short, err := root.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{TTL: "2s", ExplicitMaxTTL: "4s", Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tokenConfig(t, srv, short.Auth.ClientToken)
	k := openRing(t, cfg)
	mustRotate(t, k, "pii", 0, 1)
	// The operator (or an agent) writes a fresh token into the file.
	long, err := root.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{TTL: "1h", Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Auth.TokenFile, []byte(long.Auth.ClientToken), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(12 * time.Second)
	for k.client.Token() != long.Auth.ClientToken {
		if time.Now().After(deadline) {
			t.Fatalf("token from file not picked up within 12s: %+v", k.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if err := k.Refresh(ctx); err != nil {
		t.Fatalf("Refresh with the new token: %v", err)
	}
}

func TestVaultDeletedKVVersionIsAnErrorNotAFreshKey(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	k := openRing(t, cfg, "pii")
	mustRotate(t, k, "pii", 0, 1)
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := root.KVv2("secret").Delete(ctx, cfg.KVPrefix+"/pii"); err != nil {
		t.Fatal(err)
	}
	if err := k.Refresh(ctx); !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "is deleted") {
		t.Fatalf("Refresh = %v, want ErrVault about the deleted version", err)
	}
	if _, err := k.Rotate(ctx, "pii", 0); !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "is deleted") {
		t.Fatalf("Rotate = %v, want ErrVault about the deleted version", err)
	}
	mustVersion(t, k, "pii", 1) // cached version keeps serving
	if err := root.KVv2("secret").Undelete(ctx, cfg.KVPrefix+"/pii", []int{1}); err != nil {
		t.Fatal(err)
	}
	mustRotate(t, k, "pii", 0, 2)
}

func TestVaultTLS(t *testing.T) {
	t.Parallel()
	requireVault(t)
	bin, err := vaultBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startDevServer(bin, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name       string
		ca, server string
		want       error
	}{
		{"trusted CA", srv.caFile, "", nil},
		{"trusted CA and matching server name", srv.caFile, "localhost", nil},
		{"wrong server name", srv.caFile, "vault.example.com", ErrVault},
		{"system roots do not know the dev CA", "", "", ErrVault},
		{"missing CA file", filepath.Join(t.TempDir(), "none.pem"), "", ErrVaultConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tokenConfig(t, srv, srv.token)
			cfg.TLS = VaultTLSConfig{CAFile: tc.ca, ServerName: tc.server}
			k, err := NewVaultKeyring(ctx, cfg)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("NewVaultKeyring = %v, want %v", err, tc.want)
			}
			if err == nil {
				defer k.Close()
				mustRotate(t, k, "pii", 0, 1)
			}
		})
	}
}

func TestVaultLookupMissTriggersEarlyRefresh(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	a := openRing(t, cfg)
	mustRotate(t, a, "pii", 0, 1)
	cfg.RefreshInterval = time.Hour
	b := openRing(t, cfg)
	mustRotate(t, a, "pii", 0, 2)
	// Before b has asked Vault since v2 was first wanted, v2 may exist:
	// unavailable (503), not unknown (which would remove the value).
	if _, err := b.Version("pii", 2); !errors.Is(err, ErrKeyStoreUnavailable) {
		t.Fatalf("Version before refresh = %v, want ErrKeyStoreUnavailable", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if k, err := b.Version("pii", 2); err == nil {
			if !bytes.Equal(k.Material, mustVersion(t, a, "pii", 2).Material) {
				t.Fatal("replicas disagree on v2")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("miss did not trigger a refresh within 5s: %+v", b.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Misses are coalesced and spaced: a burst costs at most one more
	// refresh per second. v99 exists nowhere: unavailable until a load
	// begun after it was first asked for has answered, then unknown.
	before := b.Stats().Refreshes
	for i := 0; i < 100; i++ {
		if _, err := b.Version("pii", 99); !errors.Is(err, ErrKeyStoreUnavailable) {
			t.Fatalf("v99 before a refresh = %v, want ErrKeyStoreUnavailable", err)
		}
	}
	time.Sleep(2 * time.Second)
	if n := b.Stats().Refreshes - before; n < 1 || n > 3 {
		t.Fatalf("100 misses within 2s caused %d refreshes, want 1 to 3", n)
	}
	if _, err := b.Version("pii", 99); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("v99 after a refresh = %v, want ErrKeyNotFound", err)
	}
}

func TestOpenVaultProvider(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	cfg := tokenConfig(t, srv, srv.token)
	kr, err := Open(Config{Provider: "vault", Vault: cfg, Names: []string{"pii", "audit"}})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := kr.(Manager)
	if !ok {
		t.Fatalf("Open(vault) returned %T, not a Manager", kr)
	}
	defer m.Close()
	ctx := testCtx(t)
	for _, name := range []string{"pii", "audit"} {
		if err := m.Ready(); !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), "veil keys rotate "+name) {
			t.Fatalf("Ready with %s missing = %v", name, err)
		}
		if _, err := m.Rotate(ctx, name, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	if _, err := m.Rotate(ctx, "a/b", 0); !errors.Is(err, ErrVaultConfig) {
		t.Fatalf("Rotate with a slash in the name = %v, want ErrVaultConfig", err)
	}
}
