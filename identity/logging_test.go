package identity

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogging checks what operators see: a failed JWKS fetch and a loosely
// permitted secret file are logged, and no log line carries the secret or
// an API key hash.
func TestLogging(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", key: &k.rsa.PublicKey, alg: jwkset.AlgRS256})
	srv.status.Store(503)
	secretFile := writeFile(t, "s", testSecret)
	if err := os.Chmod(secretFile, 0o644); err != nil {
		t.Fatal(err)
	}
	hash := APIKeyHash("key-a")
	core, logs := observer.New(zap.DebugLevel)
	v, err := newVerifier(context.Background(), Config{
		JWT:         JWTConfig{HS256SecretFile: secretFile, JWKSURL: srv.srv.URL},
		APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+hash+"}\n"),
	}, zap.New(core), options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var msgs []string
	for _, e := range logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += " " + f.Key + "=" + f.String
			if f.Interface != nil {
				if err, ok := f.Interface.(error); ok {
					line += " " + f.Key + "=" + err.Error()
				}
			}
		}
		if strings.Contains(line, testSecret) || strings.Contains(line, hash) {
			t.Fatalf("log line carries a secret: %s", line)
		}
		msgs = append(msgs, e.Message)
	}
	want := []string{
		"identity: HS256 secret file is readable by group or others",
		"identity: JWKS refresh failed",
		"identity: verifier ready",
	}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Fatalf("log messages = %q, want %q", msgs, want)
	}
}
