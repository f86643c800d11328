package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// testSecret is the HS256 secret of the test verifiers (32+ bytes).
const testSecret = "test-secret-0123456789abcdefghijklmnop"

// testKeys are generated once per test binary: RSA generation is slow
// under -race.
type testKeys struct {
	rsa, rsa2, rsaSmall *rsa.PrivateKey
	ec256, ec384        *ecdsa.PrivateKey
	ed                  ed25519.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var k testKeys
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaSmall, err = rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

// jwk describes one key the test JWKS server publishes.
type jwk struct {
	kid string
	alg jwkset.ALG // "" omits "alg"
	use jwkset.USE // "" omits "use"
	key any        // public key, or []byte for an "oct" key
}

// jwksServer is a loopback JWKS endpoint whose key set can be replaced
// and whose hits are counted.
type jwksServer struct {
	srv    *httptest.Server
	hits   atomic.Int64
	body   atomic.Pointer[[]byte]
	status atomic.Int64 // 0: 200
}

func newJWKSServer(t testing.TB, ks ...jwk) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(t, ks...)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if st := s.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(t testing.TB, ks ...jwk) {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range ks {
		if b, ok := k.key.([]byte); ok { // "oct": jwkset refuses to marshal it
			set.Keys = append(set.Keys, jwkset.JWKMarshal{KTY: jwkset.KtyOct, KID: k.kid, ALG: k.alg, USE: k.use,
				K: jwtEncode(b)})
			continue
		}
		j, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg, USE: k.use},
		})
		if err != nil {
			t.Fatalf("jwk %s: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.body.Store(&b)
}

func jwtEncode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// writeFile writes content to a new file in a test temp dir.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestVerifier builds a verifier that uses the test server's client.
func newTestVerifier(t *testing.T, cfg Config, o options) *Verifier {
	t.Helper()
	if o.jwks.unknownKIDInterval == 0 {
		o.jwks.unknownKIDInterval = time.Hour // one refresh per test
	}
	v, err := newVerifier(context.Background(), cfg, zap.NewNop(), o)
	if err != nil {
		t.Fatalf("newVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// mint signs claims with method and key, setting kid when non-empty.
func mint(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// claims returns valid base claims, overridden by kv pairs (a nil value
// deletes the claim).
func claims(kv ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":   "alice",
		"iss":   "https://idp.test",
		"aud":   "veil",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"roles": []string{"support"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(c, k)
			continue
		}
		c[k] = kv[i+1]
	}
	return c
}

func bearer(tok string) Credentials {
	return Credentials{Authorization: []byte("Bearer " + tok)}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func ecdsaP521() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }

// jsonNull marshals as JSON null (a nil claim value deletes the claim).
type jsonNull struct{}

func (jsonNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// forgeHeader replaces the header segment of a compact JWS.
func forgeHeader(tok, header string) string {
	_, rest, _ := strings.Cut(tok, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + rest
}

// tamper changes the subject in the payload and keeps the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload := must(base64.RawURLEncoding.DecodeString(parts[1]))
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		panic(err)
	}
	c["sub"] = "mallory"
	parts[1] = base64.RawURLEncoding.EncodeToString(must(json.Marshal(c)))
	return strings.Join(parts, ".")
}
