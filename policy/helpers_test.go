package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// writeFiles writes name -> content under dir, creating subdirectories.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newEngine writes files into a fresh directory and loads an engine from
// it, with an observed logger.
func newEngine(t testing.TB, files map[string]string, opts Options) (*Engine, string, *observer.ObservedLogs) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	core, logs := observer.New(zapcore.DebugLevel)
	if opts.Logger == nil {
		opts.Logger = zap.New(core)
	}
	if opts.Timeout == 0 {
		// The 50ms default is too tight for -race on a loaded machine;
		// TestDefaults checks it.
		opts.Timeout = 5 * time.Second
	}
	e, err := New(Config{Dir: dir}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, dir, logs
}

// decisionPolicy is a module whose decision is the given Rego expression.
func decisionPolicy(expr string) map[string]string {
	return map[string]string{"veil.rego": "package veil\n\ndecision := " + expr + "\n"}
}

// supportInput is a small realistic request of an authenticated caller.
func supportInput() *Input {
	in := &Input{
		Method:      "GET",
		Host:        "crm.example.com",
		Path:        "/crm/customers/42",
		Segments:    []string{"crm", "customers", "42"},
		Query:       [][2]string{{"limit", "10"}},
		Headers:     [][2]string{{"accept", "application/json"}, {"user-agent", "curl/8"}},
		BodyState:   BodyAbsent,
		ClientIP:    "10.0.0.7",
		RequestID:   "req-1",
		RouteName:   "crm",
		RoutePrefix: "/crm/",
		TimeNS:      1_700_000_000_000_000_000,
	}
	in.Subject.Authenticated = true
	in.Subject.ID = "alice"
	in.Subject.Roles = []string{"support"}
	in.Subject.Method = "jwt"
	in.Subject.Claims = map[string]any{"sub": "alice", "tenant": "t1"}
	return in
}

// certChainPEM returns a CA and a leaf it signed (PEM, root first, as
// crypto.x509.parse_and_verify_certificates wants), both valid for an
// hour from now.
func certChainPEM(t testing.TB) string {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "svc"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))
}

// hs256JWT returns a compact HS256 JWT of claims (JSON) signed with secret.
func hs256JWT(secret, claims string) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
