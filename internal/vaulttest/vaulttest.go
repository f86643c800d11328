// Package vaulttest starts a real HashiCorp Vault dev server on a loopback
// port for tests (the binary scripts/build-vault.sh builds into
// .work/bin/vault, or $VEIL_VAULT_BIN). Without the binary, Start skips the
// test with a visible message, except under CI=true, where it fails: a
// Vault test that silently skips does not count.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/veilgw/veil/internal/testvectors"
)

// Server is a running dev server.
type Server struct {
	Addr  string // host:port on loopback
	Token string // root token
	bin   string
	cmd   *exec.Cmd
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// Binary locates the Vault binary or skips/fails t.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VEIL_VAULT_BIN"); p != "" {
		return p
	}
	dir, err := testvectors.ModuleRoot()
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	p := filepath.Join(dir, ".work", "bin", "vault")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("vault binary missing at %s (scripts/build-vault.sh builds it)", p)
		}
		t.Skipf("vault binary missing at %s: run scripts/build-vault.sh to run the Vault tests", p)
	}
	return p
}

// Start runs `vault server -dev` on a free loopback port, waits until it is
// healthy, enables transit with the key veil-root (the operator's one-time
// setup), and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	s := &Server{Addr: addr, Token: "t-" + hex.EncodeToString(tok), bin: bin}
	s.cmd = exec.Command(bin, "server", "-dev", "-dev-no-store-token", "-dev-listen-address="+addr, "-dev-root-token-id="+s.Token)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(s.URL() + "/v1/sys/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("vault dev server did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.CLI(t, "secrets", "enable", "transit")
	s.CLI(t, "write", "-f", "transit/keys/veil-root")
	return s
}

// CLI runs the vault CLI against the server as root.
func (s *Server) CLI(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, s.bin, args...)
	c.Env = append(os.Environ(), "VAULT_ADDR="+s.URL(), "VAULT_TOKEN="+s.Token)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("vault %v: %v\n%s", args, err, out)
	}
}

// Stop kills the server (idempotent): tests use it to take Vault down
// mid-run.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}
