package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenLocalCreatesPrivateFileAndReloads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys", "dev.json")
	k1, err := OpenLocal(LocalConfig{File: path}, "pii", "audit")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	a, err := k1.Primary("pii", time.Now())
	if err != nil || len(a.Material) != 32 || a.Version != 1 {
		t.Fatalf("primary: %+v %v", a, err)
	}
	k2, err := OpenLocal(LocalConfig{File: path}, "pii")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k2.Primary("pii", time.Now())
	if !bytes.Equal(a.Material, b.Material) {
		t.Fatal("reopened key file yields a different key")
	}
	if _, err := k2.Primary("nope", time.Now()); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLocal(LocalConfig{File: path}); err == nil {
		t.Fatal("world-readable key file accepted")
	}
}

func TestPrimaryHonoursActivationAndRetirement(t *testing.T) {
	t.Parallel()
	now := time.Now()
	k := NewStatic(map[string][]localVersion{"pii": {
		{Version: 1, Material: bytes.Repeat([]byte{1}, 32), Activation: now.Add(-time.Hour)},
		{Version: 2, Material: bytes.Repeat([]byte{2}, 32), Activation: now.Add(time.Hour)},
	}}, map[string]int{"pii": 1})
	p, err := k.Primary("pii", now)
	if err != nil || p.Version != 1 {
		t.Fatalf("before activation: %+v %v", p, err)
	}
	p, err = k.Primary("pii", now.Add(2*time.Hour))
	if err != nil || p.Version != 2 {
		t.Fatalf("after activation: %+v %v", p, err)
	}
	if _, err := k.Version("pii", 2); err != nil {
		t.Fatal(err)
	}
	k2 := NewStatic(map[string][]localVersion{"pii": {{Version: 1, Material: make([]byte, 32)}, {Version: 2, Material: make([]byte, 32)}}}, map[string]int{"pii": 2})
	if _, err := k2.Version("pii", 1); !errors.Is(err, ErrKeyRetired) {
		t.Fatalf("retired version: %v", err)
	}
}

func TestSubkeysDifferByPurposeAndVersion(t *testing.T) {
	t.Parallel()
	k := Key{Name: "pii", Version: 1, Material: bytes.Repeat([]byte{7}, 32)}
	a, _ := k.Subkey("veil/hash", 32)
	b, _ := k.Subkey("veil/tokenize", 32)
	k.Version = 2
	c, _ := k.Subkey("veil/hash", 32)
	if bytes.Equal(a, b) || bytes.Equal(a, c) || len(a) != 32 {
		t.Fatal("subkeys must differ per purpose and version")
	}
}

// TestOpenLocalRefusesUnsafeKeyFiles: a key file the keyring could not
// serve safely is refused at start: with an empty or short key every keyed
// value would be computable by anyone, and with a version listed twice
// the primary and the lookup by version could disagree.
func TestOpenLocalRefusesUnsafeKeyFiles(t *testing.T) {
	t.Parallel()
	key := `"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + `"`
	for want, text := range map[string]string{
		`unknown field "materail"`:         `{"keys":{"pii":[{"version":1,"materail":` + key + `}]}}`,
		"must be 32 bytes (base64), has 0": `{"keys":{"pii":[{"version":1,"material":""}]}}`,
		"must be 32 bytes (base64), has 1": `{"keys":{"pii":[{"version":1,"material":"AQ=="}]}}`,
		"version 0 (versions start at 1)":  `{"keys":{"pii":[{"version":0,"material":` + key + `}]}}`,
		"version 1 is listed twice":        `{"keys":{"pii":[{"version":1,"material":` + key + `},{"version":1,"material":` + key + `}]}}`,
		"is negative":                      `{"keys":{"pii":[{"version":1,"material":` + key + `}]},"min_decryption_version":{"pii":-1}}`,
	} {
		path := filepath.Join(t.TempDir(), "keys.json")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenLocal(LocalConfig{File: path}, "pii"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", text, err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(`{"keys":{"pii":[{"version":1,"material":`+key+`}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLocal(LocalConfig{File: path}, "pii"); err != nil {
		t.Errorf("a valid file: %v", err)
	}
}

// TestPrimarySkipsRetiredVersions: below min_decryption_version a version
// opens nothing, so it is never the primary, even when the next version is
// not active yet: nothing sealed then could ever be opened.
func TestPrimarySkipsRetiredVersions(t *testing.T) {
	t.Parallel()
	now := time.Now()
	k := NewStatic(map[string][]localVersion{"pii": {
		{Version: 1, Material: bytes.Repeat([]byte{1}, 32), Activation: now.Add(-time.Hour)},
		{Version: 2, Material: bytes.Repeat([]byte{2}, 32), Activation: now.Add(time.Hour)},
	}}, map[string]int{"pii": 2})
	if p, err := k.Primary("pii", now); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("only a retired version active: %+v %v, want ErrKeyNotFound", p, err)
	}
	if p, err := k.Primary("pii", now.Add(2*time.Hour)); err != nil || p.Version != 2 {
		t.Errorf("after v2 activates: %+v %v", p, err)
	}
	// veil keys status says the same.
	if st := k.Status(); len(st) != 1 || st[0].Primary != 0 {
		t.Errorf("status marks primary v%d, want none: %+v", st[0].Primary, st)
	}
}
