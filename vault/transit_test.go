package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"
)

// transitKey creates a fresh transit key on srv under mount and returns its
// name.
func transitKey(t *testing.T, srv *devServer, mount string) (string, *vaultapi.Client) {
	t.Helper()
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	name := "tk-" + randomHex(4)
	if _, err := root.Logical().WriteWithContext(testCtx(t), mount+"/keys/"+name, nil); err != nil {
		t.Fatalf("create transit key: %v", err)
	}
	return name, root
}

// rootDecrypt decrypts c with a plain Vault API call, as any other client
// would.
func rootDecrypt(t *testing.T, root *vaultapi.Client, mount, key, c string) []byte {
	t.Helper()
	s, err := root.Logical().WriteWithContext(testCtx(t), mount+"/decrypt/"+key, map[string]interface{}{"ciphertext": c})
	if err != nil {
		t.Fatalf("plain decrypt: %v", err)
	}
	b, err := base64.StdEncoding.DecodeString(s.Data["plaintext"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTransitBatchRoundTripAndInterop(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	// A second transit mount proves TransitMount is honoured.
	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	mount := "transit-" + randomHex(4)
	if err := root.Sys().MountWithContext(testCtx(t), mount, &vaultapi.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	key, _ := transitKey(t, srv, mount)
	cfg := tokenConfig(t, srv, srv.token)
	cfg.TransitMount = mount
	k := openRing(t, cfg)
	pts := [][]byte{[]byte(`"alice"`), []byte(`42`), []byte(`{"a":[1,null]}`), {0xff, 0x00, '\n'}}
	cts, err := k.EncryptBatch(testCtx(t), key, pts)
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) != len(pts) {
		t.Fatalf("%d ciphertexts for %d plaintexts", len(cts), len(pts))
	}
	for i, c := range cts {
		if !strings.HasPrefix(c, "vault:v1:") {
			t.Fatalf("ciphertext %d = %q, want vault:v1:...", i, c)
		}
		if got := rootDecrypt(t, root, mount, key, c); !bytes.Equal(got, pts[i]) {
			t.Fatalf("plain Vault decrypt of item %d = %q, want %q", i, got, pts[i])
		}
	}
	// The other way: a ciphertext made by another client decrypts here.
	s, err := root.Logical().WriteWithContext(testCtx(t), mount+"/encrypt/"+key, map[string]interface{}{
		"plaintext": base64.StdEncoding.EncodeToString([]byte("from-cli")),
	})
	if err != nil {
		t.Fatal(err)
	}
	back, ok, err := k.DecryptBatch(testCtx(t), key, append(cts, s.Data["ciphertext"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range append(pts, []byte("from-cli")) {
		if !ok[i] || !bytes.Equal(back[i], p) {
			t.Fatalf("item %d: ok %v, %q; want %q", i, ok[i], back[i], p)
		}
	}
	// The default mount does not hold the key: the whole call fails.
	cfg.TransitMount = ""
	d := openRing(t, cfg)
	if _, _, err := d.DecryptBatch(testCtx(t), key, cts[:1]); !errors.Is(err, ErrVault) {
		t.Fatalf("decrypt on the default mount: %v, want ErrVault", err)
	}
}

func TestTransitBatchRotationAndItemFailures(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	key, root := transitKey(t, srv, "transit")
	other, _ := transitKey(t, srv, "transit")
	k := openRing(t, tokenConfig(t, srv, srv.token))
	ctx := testCtx(t)
	v1, err := k.EncryptBatch(ctx, key, [][]byte{[]byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "transit/keys/"+key+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	v2, err := k.EncryptBatch(ctx, key, [][]byte{[]byte("two"), []byte("three")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v2 {
		if !strings.HasPrefix(c, "vault:v2:") {
			t.Fatalf("after rotation: %q, want vault:v2:...", c)
		}
	}
	foreign, err := k.EncryptBatch(ctx, other, [][]byte{[]byte("other key")})
	if err != nil {
		t.Fatal(err)
	}
	in := []string{v1[0], "vault:v1:Z2FyYmFnZQ==", v2[0], "vault:v9:" + strings.TrimPrefix(v1[0], "vault:v1:"), foreign[0], v2[1], "not even close"}
	pts, ok, err := k.DecryptBatch(ctx, key, in)
	if err != nil {
		t.Fatal(err)
	}
	wantOK := []bool{true, false, true, false, false, true, false}
	wantPT := []string{"one", "", "two", "", "", "three", ""}
	for i := range in {
		if ok[i] != wantOK[i] || string(pts[i]) != wantPT[i] {
			t.Errorf("item %d: ok %v %q; want %v %q", i, ok[i], pts[i], wantOK[i], wantPT[i])
		}
	}
	// Every item failing: Vault answers 400 with per-item results; still
	// no whole-call error.
	_, ok, err = k.DecryptBatch(ctx, key, []string{"vault:v1:Z2FyYmFnZQ==", foreign[0]})
	if err != nil || ok[0] || ok[1] {
		t.Fatalf("all items failing: ok %v, err %v", ok, err)
	}
}

func TestTransitBatchCallErrors(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	key, root := transitKey(t, srv, "transit")
	k := openRing(t, tokenConfig(t, srv, srv.token))
	ctx := testCtx(t)
	// A token that may read keys but not use transit.
	if err := root.Sys().PutPolicyWithContext(ctx, "no-transit-"+key, `path "secret/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{Policies: []string{"no-transit-" + key}})
	if err != nil {
		t.Fatal(err)
	}
	denied := openRing(t, tokenConfig(t, srv, tok.Auth.ClientToken))
	tests := []struct {
		name string
		run  func() error
		want string // substring after the ErrVault text
	}{
		{"encrypt denied", func() error { _, err := denied.EncryptBatch(ctx, key, [][]byte{[]byte("x")}); return err }, "transit encrypt with key"},
		{"decrypt denied", func() error { _, _, err := denied.DecryptBatch(ctx, key, []string{"vault:v1:AAAA"}); return err }, "transit decrypt with key"},
		{"unknown key", func() error { _, _, err := k.DecryptBatch(ctx, "no-such-"+key, []string{"vault:v1:AAAA"}); return err }, "transit decrypt with key"},
		{"bad key name", func() error { _, err := k.EncryptBatch(ctx, "../sys", [][]byte{[]byte("x")}); return err }, `transit encrypt: invalid transit key name "../sys"`},
		{"cancelled", func() error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			_, err := k.EncryptBatch(c, key, [][]byte{[]byte("x")})
			return err
		}, "transit encrypt with key"},
	}
	for _, tc := range tests {
		err := tc.run()
		if !errors.Is(err, ErrVault) || !strings.HasPrefix(err.Error(), ErrVault.Error()+": "+tc.want) {
			t.Errorf("%s: %v, want ErrVault: %s...", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("x"))) {
			t.Errorf("%s: error holds the plaintext: %v", tc.name, err)
		}
	}
	// Nothing to do: no call, no error (even with a token that may not).
	if cts, err := denied.EncryptBatch(ctx, key, nil); err != nil || cts != nil {
		t.Fatalf("empty encrypt: %v %v", cts, err)
	}
	if pts, ok, err := denied.DecryptBatch(ctx, key, nil); err != nil || pts != nil || ok != nil {
		t.Fatalf("empty decrypt: %v %v %v", pts, ok, err)
	}
}

func TestValidTransitKeyName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"veil-root": true, "a.b_c-9": true, "": false, ".": false, "..": false, "a/b": false,
		"a b": false, "é": false, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		if got := ValidTransitKeyName(name); got != want {
			t.Errorf("ValidTransitKeyName(%q) = %v", name, got)
		}
	}
}
