package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/veilgw/veil/internal/testvectors"
)

// devServer is a `vault server -dev` on a loopback port, started by the tests.
type devServer struct {
	addr   string // http://127.0.0.1:port
	token  string // root token
	caFile string // CA of a -dev-tls server
	cmd    *exec.Cmd
	log    string
	done   chan struct{}
}

// shared is the package's dev server (TestMain); nil when skipSharedReason
// says why.
var (
	shared           *devServer
	skipSharedReason string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, err := vaultBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "vault tests: %v (CI=true: the Vault binary is required)\n", err)
			return 1
		}
		skipSharedReason = fmt.Sprintf("SKIPPED: %v; build it with scripts/build-vault.sh or set VEIL_VAULT_BIN", err)
		fmt.Fprintln(os.Stderr, "vault tests:", skipSharedReason)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "veil-vault-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, err = startDevServer(bin, dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vault tests: %v\n", err)
		return 1
	}
	defer shared.stop()
	return m.Run()
}

func vaultBinary() (string, error) {
	bin := os.Getenv("VEIL_VAULT_BIN")
	if bin == "" {
		root, err := testvectors.ModuleRoot()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(root, ".work", "bin", "vault")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return "", fmt.Errorf("Vault binary not found at %s", bin)
	}
	return bin, nil
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// startDevServer starts a dev server, waits until it is healthy (at most
// 20 s) and prepares it: transit engine with key veil-root, AppRole auth.
// KV v2 is mounted at secret/ by dev mode.
// With tlsDir set the server serves HTTPS (-dev-tls) and writes its CA to
// tlsDir/vault-ca.pem.
func startDevServer(bin, dir string, tlsDir ...string) (*devServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &devServer{addr: "http://" + addr, token: randomHex(16), log: filepath.Join(dir, "vault-"+randomHex(4)+".log"), done: make(chan struct{})}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"server", "-dev", "-dev-no-store-token", "-dev-listen-address=" + addr, "-dev-root-token-id=" + s.token}
	if len(tlsDir) > 0 {
		s.addr = "https://" + addr
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+tlsDir[0])
		s.caFile = filepath.Join(tlsDir[0], "vault-ca.pem")
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	setDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vault dev server: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var c *vaultapi.Client
	for {
		var err error
		if c == nil { // a -dev-tls server writes its CA file while starting
			c, err = s.rootClient()
		}
		if c != nil {
			var h *vaultapi.HealthResponse
			h, err = c.Sys().HealthWithContext(ctx)
			if err == nil && h.Initialized && !h.Sealed {
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("vault dev server exited early; log in %s", s.log)
		case <-ctx.Done():
			s.stop()
			return nil, fmt.Errorf("vault dev server not healthy within 20s: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := c.Sys().MountWithContext(ctx, "transit", &vaultapi.MountInput{Type: "transit"}); err != nil {
		s.stop()
		return nil, fmt.Errorf("enable transit: %w", err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "transit/keys/veil-root", map[string]interface{}{"type": "aes256-gcm96"}); err != nil {
		s.stop()
		return nil, fmt.Errorf("create transit key: %w", err)
	}
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vaultapi.EnableAuthOptions{Type: "approle"}); err != nil {
		s.stop()
		return nil, fmt.Errorf("enable approle: %w", err)
	}
	return s, nil
}

func (s *devServer) rootClient() (*vaultapi.Client, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = s.addr
	cfg.MaxRetries = 0
	if s.caFile != "" {
		if err := cfg.ConfigureTLS(&vaultapi.TLSConfig{CACert: s.caFile}); err != nil {
			return nil, err
		}
	}
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(s.token)
	return c, nil
}

// stop kills the server and waits for it (at most 10 s).
func (s *devServer) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}
