package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/vaulttest"
)

// TestKeysRotateStatusRetireAgainstVault drives `veil keys` against a real
// Vault dev server on loopback.
func TestKeysRotateStatusRetireAgainstVault(t *testing.T) {
	srv := vaulttest.Start(t)
	addr, token := srv.Addr, srv.Token

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "token"), token)
	cfg := filepath.Join(dir, "veil.yaml")
	writeFile(t, cfg, "routes: [{name: a, upstreams: ['http://127.0.0.1:1']}]\n"+
		"keys: {provider: vault, names: [pii], vault: {address: 'http://"+addr+"', auth: {method: token, token_file: "+filepath.Join(dir, "token")+"}}}\n")

	if out, code := run(t, "keys", "rotate", "pii", "--config", cfg); code != 0 || !strings.Contains(out, "version 1 created") {
		t.Fatalf("rotate: exit %d\n%s", code, out)
	}
	if out, code := run(t, "keys", "rotate", "pii", "--config", cfg); code != 0 || !strings.Contains(out, "version 2 created") {
		t.Fatalf("second rotate: exit %d\n%s", code, out)
	}
	out, code := run(t, "keys", "status", "--config", cfg)
	if code != 0 || strings.Count(out, "pii") != 2 || !strings.Contains(out, "yes") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	// retire NAME V sets the minimum decryption version to V: V above the
	// primary (2) would shred the primary itself and is refused.
	if out, code := run(t, "keys", "retire", "pii", "3", "--config", cfg); code == 0 {
		t.Fatalf("retiring the primary must be refused: %s", out)
	}
	if _, code := run(t, "keys", "rotate", "pii", "--config", cfg); code != 0 {
		t.Fatal("third rotate failed")
	}
	if out, code := run(t, "keys", "retire", "pii", "2", "--config", cfg); code != 0 || !strings.Contains(out, "versions below 2 retired") {
		t.Fatalf("retire: exit %d\n%s", code, out)
	}
	out, _ = run(t, "keys", "status", "--config", cfg)
	t.Logf("keys status after retire:\n%s", out)
	var primary, minDec []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line) // NAME VERSION ACTIVATION PRIMARY MIN_DECRYPTION LAST_REFRESH
		if len(f) != 6 {
			t.Fatalf("status row %q", line)
		}
		if f[3] == "yes" {
			primary = f
		}
		minDec = append(minDec, f[4])
		if _, err := time.Parse(time.RFC3339, f[5]); err != nil {
			t.Fatalf("last refresh %q: %v", f[5], err)
		}
	}
	if primary == nil || primary[1] != "3" {
		t.Fatalf("primary after the third rotation: %v\n%s", primary, out)
	}
	for _, m := range minDec {
		if m != "2" {
			t.Fatalf("min decryption version %q, want 2\n%s", m, out)
		}
	}
	if strings.Contains(out, "pii   1 ") {
		t.Fatalf("retired version 1 still listed\n%s", out)
	}
	// The local dev keyring cannot rotate.
	local := filepath.Join(dir, "local.yaml")
	writeFile(t, local, "routes: [{name: a, upstreams: ['http://127.0.0.1:1']}]\nkeys: {local: {file: "+filepath.Join(dir, "k.json")+"}}\n")
	if out, code := run(t, "keys", "rotate", "pii", "--config", local); code == 0 || !strings.Contains(out, "needs keys.provider: vault") {
		t.Fatalf("local rotate: exit %d %s", code, out)
	}
}
