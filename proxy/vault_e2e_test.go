package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/vaulttest"
	"github.com/veilgw/veil/vault"
)

const vaultPolicy = `package veil
decision := {"allow": true,
	"request_transforms": [{"path": "$.email", "action": "detokenize", "key": "pii"}],
	"response_transforms": [{"path": "$.email", "action": "tokenize", "key": "pii"},
	                        {"path": "$.ssn", "action": "encrypt", "key": "pii"}]}`

// TestVaultKeysEndToEnd runs two gateways ("replicas") on keyrings of one
// real Vault: tokens agree across replicas and across a rotation's
// activation time, old tokens still detokenize, and when Vault dies the
// cached keys keep serving.
func TestVaultKeysEndToEnd(t *testing.T) {
	srv := vaulttest.Start(t)
	ctx := context.Background()
	cfg := vault.VaultConfig{Address: srv.URL(), RefreshInterval: -1}
	t.Setenv("VAULT_TOKEN", srv.Token)
	open := func() *vault.VaultKeyring {
		k, err := vault.NewVaultKeyring(ctx, cfg, "pii")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	admin := open()
	if _, err := admin.Rotate(ctx, "pii", 0); err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "POST" {
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(b)
			return
		}
		fmt.Fprint(w, `{"email":"ann@example.com","ssn":"123-45-6789"}`)
	})
	a := startGateway(t, gatewayOpts{policy: vaultPolicy, routes: catchAll(up), keys: open()})
	b := startGateway(t, gatewayOpts{policy: vaultPolicy, routes: catchAll(up), keys: open()})

	type view struct{ Email, SSN string }
	get := func(tg *testGateway) view {
		t.Helper()
		resp, body := tg.do(t, "GET", "/api/c", nil, nil)
		var v view
		if resp.StatusCode != 200 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "ann@example.com") || strings.Contains(string(body), "123-45-6789") {
			t.Fatalf("plaintext leaked: %s", body)
		}
		return v
	}
	va, vb := get(a), get(b)
	if !strings.HasPrefix(va.Email, "tok_v1_") || va.Email != vb.Email {
		t.Fatalf("replicas disagree on the token: %q vs %q", va.Email, vb.Email)
	}
	if !strings.HasPrefix(va.SSN, "enc_v1_") || va.SSN == vb.SSN {
		t.Fatalf("envelopes must be versioned and randomised: %q %q", va.SSN, vb.SSN)
	}
	tokV1 := va.Email

	// A token from replica b, sent to replica a, reaches the upstream as
	// plaintext; the echoed value is protected again on the way back.
	detok := func(tg *testGateway, tok string) string {
		t.Helper()
		resp, body := tg.do(t, "POST", "/api/c", []byte(`{"email":"`+tok+`"}`), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != 200 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		return string(up.last(t).Body)
	}
	if got := detok(a, tokV1); got != `{"email":"ann@example.com"}` {
		t.Fatalf("upstream received %s", got)
	}

	// Rotation with an activation time: both replicas keep v1 until it
	// passes, then both switch to v2; v1 tokens still open.
	if _, err := admin.Rotate(ctx, "pii", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []*testGateway{a, b} {
		if err := tg.g.RefreshKeys(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v := get(a); v.Email != tokV1 {
		t.Fatalf("switched before the activation time: %q", v.Email)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if va = get(a); strings.HasPrefix(va.Email, "tok_v2_") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v2 never became primary: %q", va.Email)
		}
	}
	if vb = get(b); vb.Email != va.Email {
		t.Fatalf("after activation the replicas disagree: %q vs %q", va.Email, vb.Email)
	}
	if got := detok(b, tokV1); got != `{"email":"ann@example.com"}` {
		t.Fatalf("v1 token after rotation: upstream received %s", got)
	}

	// Vault dies: the cached versions keep serving; a refresh fails and
	// is reported; a forged token naming a version nobody has is redacted,
	// never passed through.
	srv.Stop()
	if v := get(a); v.Email != va.Email {
		t.Fatalf("after Vault died: %q", v.Email)
	}
	if got := detok(a, va.Email); got != `{"email":"ann@example.com"}` {
		t.Fatalf("detokenize with Vault down: %s", got)
	}
	if err := a.g.RefreshKeys(ctx); err == nil {
		t.Fatal("refresh with Vault down must fail")
	}
	// A token naming a version newer than any loaded one may come from
	// another replica's rotation: with Vault down that is a 503, never a
	// pass-through and never a guess.
	forged := regexp.MustCompile(`^tok_v2_`).ReplaceAllString(va.Email, "tok_v9_")
	hits := up.hits.Load()
	resp, body := a.do(t, "POST", "/api/c", []byte(`{"email":"`+forged+`"}`), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 503 || decodeError(t, body).Error.Code != "key_unavailable" || up.hits.Load() != hits {
		t.Fatalf("uncached version with Vault down: %d %s", resp.StatusCode, body)
	}
	// A token of a version below every loaded one cannot exist elsewhere:
	// redacted and counted.
	old := regexp.MustCompile(`^tok_v2_`).ReplaceAllString(va.Email, "tok_v0_")
	if got := detok(a, old); got != `{}` {
		t.Fatalf("a token of an impossible version reached the upstream: %s", got)
	}
	a.waitAudit(t, 7)
	counted := func() bool {
		for _, l := range a.audit.lines() {
			if strings.Contains(l, `"failed_values":1`) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !counted() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !counted() {
		t.Errorf("the redacted token is not counted:\n%s", strings.Join(a.audit.lines(), "\n"))
	}
}

// TestTransitThroughGateway: with the Vault provider, encrypt/decrypt in
// mode transit produce and open Vault's own vault:vN: ciphertexts, one
// batched call per direction.
func TestTransitThroughGateway(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.CLI(t, "write", "-f", "transit/keys/customer-ssn")
	ctx := context.Background()
	t.Setenv("VAULT_TOKEN", srv.Token)
	keys, err := vault.NewVaultKeyring(ctx, vault.VaultConfig{Address: srv.URL(), RefreshInterval: -1}, "pii")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Rotate(ctx, "pii", 0); err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b) // echoes what it stored
	})
	tg := startGateway(t, gatewayOpts{keys: keys, routes: catchAll(up), policy: `package veil
decision := {"allow": true,
	"request_transforms":  [{"path": "$.customers[*].ssn", "action": "encrypt", "mode": "transit", "key": "customer-ssn"}],
	"response_transforms": [{"path": "$.customers[*].ssn", "action": "decrypt", "mode": "transit", "key": "customer-ssn"}]}`})
	body := `{"customers":[{"id":1,"ssn":"123-45-6789"},{"id":2,"ssn":"987-65-4321"},{"id":3,"ssn":42}]}`
	resp, got := tg.do(t, "POST", "/api/customers", []byte(body), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 200 || string(got) != body {
		t.Fatalf("round trip: %d %s", resp.StatusCode, got)
	}
	stored := string(up.last(t).Body)
	if strings.Count(stored, `"vault:v1:`) != 3 || strings.Contains(stored, "45-6789") || strings.Contains(stored, "65-4321") {
		t.Fatalf("the upstream must hold only Vault ciphertexts: %s", stored)
	}
	// Vault down: nothing unprotected goes upstream, the client gets 503.
	srv.Stop()
	hits := up.hits.Load()
	resp, got = tg.do(t, "POST", "/api/customers", []byte(body), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 503 || decodeError(t, got).Error.Code != "key_unavailable" || up.hits.Load() != hits {
		t.Fatalf("transit with Vault down: %d %s", resp.StatusCode, got)
	}
}
