package vault

// Vault transit as a cipher for body values (encrypt/decrypt with
// mode "transit"): one batched call per direction and request.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
)

// ValidTransitKeyName reports whether name can be used as a transit key
// name in a URL path: 1 to 128 of A-Z a-z 0-9 - _ . and neither "." nor
// "..".
func ValidTransitKeyName(name string) bool {
	if name == "" || len(name) > 128 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// EncryptBatch encrypts every plaintext with the transit key named key in
// ONE call to <transit_mount>/encrypt/<key> (batch_input, base64
// plaintexts) and returns Vault's ciphertexts ("vault:v<N>:..."), in
// order; any other Vault client holding the key can decrypt them.
//
// The key is a transit key, separate from the keyring's data keys (create
// it once with `vault write -f transit/keys/<name>`); Veil's policy needs
// only `update` on <transit_mount>/encrypt/<key>, so Vault never creates a
// key on its behalf. Derived (convergent) keys are not supported: no
// context is sent. Any failure, of the call or of one item, is an error
// wrapping ErrVault: no partial answer. No plaintext appears in an error.
// No plaintexts: no call.
func (k *VaultKeyring) EncryptBatch(ctx context.Context, key string, plaintexts [][]byte) ([]string, error) {
	if len(plaintexts) == 0 {
		return nil, nil
	}
	if !ValidTransitKeyName(key) {
		return nil, fmt.Errorf("%w: transit encrypt: invalid transit key name %q", ErrVault, key)
	}
	type item struct {
		Plaintext string `json:"plaintext"`
	}
	batch := make([]item, len(plaintexts))
	for i, p := range plaintexts {
		batch[i].Plaintext = base64.StdEncoding.EncodeToString(p)
	}
	results, err := k.transitBatch(ctx, "encrypt", key, struct {
		BatchInput []item `json:"batch_input"`
	}{batch}, len(plaintexts))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(results))
	for i, r := range results {
		m, _ := r.(map[string]interface{})
		if e, _ := m["error"].(string); e != "" {
			k.countError()
			return nil, fmt.Errorf("%w: transit encrypt with key %q: item %d: %s", ErrVault, key, i, e)
		}
		c, _ := m["ciphertext"].(string)
		if !strings.HasPrefix(c, "vault:v") {
			k.countError()
			return nil, fmt.Errorf("%w: transit encrypt with key %q: item %d: no ciphertext in the answer", ErrVault, key, i)
		}
		out[i] = c
	}
	return out, nil
}

// DecryptBatch decrypts every ciphertext with the transit key named key in
// ONE call to <transit_mount>/decrypt/<key> (batch_input). ok[i] is false
// when item i did not decrypt (not a valid ciphertext of that key, a
// version below the key's min_decryption_version, ...): plaintexts[i] is
// then nil. err is for the whole call (Vault unreachable, permission
// denied, unknown key, malformed answer) and wraps ErrVault. No
// ciphertexts: no call.
func (k *VaultKeyring) DecryptBatch(ctx context.Context, key string, ciphertexts []string) (plaintexts [][]byte, ok []bool, err error) {
	if len(ciphertexts) == 0 {
		return nil, nil, nil
	}
	if !ValidTransitKeyName(key) {
		return nil, nil, fmt.Errorf("%w: transit decrypt: invalid transit key name %q", ErrVault, key)
	}
	type item struct {
		Ciphertext string `json:"ciphertext"`
	}
	batch := make([]item, len(ciphertexts))
	for i, c := range ciphertexts {
		batch[i].Ciphertext = c
	}
	results, err := k.transitBatch(ctx, "decrypt", key, struct {
		BatchInput []item `json:"batch_input"`
	}{batch}, len(ciphertexts))
	if err != nil {
		return nil, nil, err
	}
	plaintexts = make([][]byte, len(results))
	ok = make([]bool, len(results))
	for i, r := range results {
		m, _ := r.(map[string]interface{})
		if e, _ := m["error"].(string); e != "" {
			continue
		}
		p, isStr := m["plaintext"].(string)
		if !isStr {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			continue
		}
		plaintexts[i], ok[i] = b, true
	}
	return plaintexts, ok, nil
}

// transitBatch posts body to <transit_mount>/<op>/<key> and returns its n
// batch_results. Vault answers 400 when some item failed, with the
// per-item results in the body: those count as an answer; a call without
// n results is an error.
func (k *VaultKeyring) transitBatch(ctx context.Context, op, key string, body any, n int) ([]interface{}, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: transit %s: %w", ErrVault, op, err)
	}
	resp, err := k.client.Logical().WriteRawWithContext(ctx, k.cfg.TransitMount+"/"+op+"/"+key, raw)
	if resp != nil {
		defer resp.Body.Close()
	}
	var results []interface{}
	if resp != nil {
		if s, perr := vaultapi.ParseSecret(resp.Body); perr == nil && s != nil && s.Data != nil {
			results, _ = s.Data["batch_results"].([]interface{})
		}
	}
	if err != nil && len(results) != n {
		k.countError()
		return nil, fmt.Errorf("%w: transit %s with key %q: %v", ErrVault, op, key, err)
	}
	if len(results) != n {
		k.countError()
		return nil, fmt.Errorf("%w: transit %s with key %q: %d results for %d items", ErrVault, op, key, len(results), n)
	}
	return results, nil
}
