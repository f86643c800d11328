package transforms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/vaulttest"
	"github.com/veilgw/veil/vault"
)

// countingTransit counts the calls reaching a real Transit.
type countingTransit struct {
	Transit
	enc, dec atomic.Int32
}

func (c *countingTransit) EncryptBatch(ctx context.Context, key string, pts [][]byte) ([]string, error) {
	c.enc.Add(1)
	return c.Transit.EncryptBatch(ctx, key, pts)
}

func (c *countingTransit) DecryptBatch(ctx context.Context, key string, cts []string) ([][]byte, []bool, error) {
	c.dec.Add(1)
	return c.Transit.DecryptBatch(ctx, key, cts)
}

// TestTransitWithVault runs encrypt/decrypt mode transit through a real
// Vault dev server and *vault.VaultKeyring: one call per direction, vault:v1
// ciphertexts, the original body back, and 503-class failure once Vault is
// gone.
func TestTransitWithVault(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.CLI(t, "write", "-f", "transit/keys/veil-body")
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(srv.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k, err := vault.NewVaultKeyring(ctx, vault.VaultConfig{
		Address: srv.URL(), Auth: vault.VaultAuthConfig{Method: "token", TokenFile: tokFile}, RefreshInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ct := &countingTransit{Transit: k}
	opts := Options{Transit: ct, TransitTimeout: 3 * time.Second}
	enc := compileTest(t, []Rule{r("$.customers[*]['ssn','card','tags']", "encrypt", "key", "veil-body", "mode", "transit")}, opts)
	dec := compileTest(t, []Rule{r("$.customers[*]['ssn','card','tags']", "decrypt", "key", "veil-body", "mode", "transit")}, opts)
	in := `{"customers":[{"id":1,"ssn":"123-45-6789","card":4111111111111111,"tags":["a",{"b":null}]},{"id":2,"ssn":"987-65-4321","card":null}]}`
	var res Result
	out, err := enc.Rewrite(nil, []byte(in), &res)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), `"vault:v1:`); n != 5 || strings.Contains(string(out), "123-45") || res.Rules[0].Count != 5 {
		t.Fatalf("encrypted body %s (%d ciphertexts, count %d)", out, n, res.Rules[0].Count)
	}
	back, err := dec.Rewrite(nil, out, &res)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != in || res.Failed != 0 {
		t.Fatalf("round trip: %s (failed %d)", back, res.Failed)
	}
	if ct.enc.Load() != 1 || ct.dec.Load() != 1 {
		t.Fatalf("calls: %d encrypt, %d decrypt; want 1, 1", ct.enc.Load(), ct.dec.Load())
	}
	srv.Stop()
	if out, err := enc.Rewrite([]byte("x"), []byte(in), nil); !errors.Is(err, ErrKeyUnavailable) || !errors.Is(err, vault.ErrVault) || string(out) != "x" {
		t.Fatalf("Vault down: %q, %v; want ErrKeyUnavailable and no output", out, err)
	}
}
