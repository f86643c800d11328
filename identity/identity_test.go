package identity

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/veilgw/veil/internal/testpki"
)

const apiKeysYAML = `
- id: crm-batch
  roles: [support, batch]
  sha256: %s
- id: hr-export
  roles: [hr]
  sha256: %s
`

func TestIdentifyCredentials(t *testing.T) {
	t.Parallel()
	keysFile := writeFile(t, "keys.yaml", fmt.Sprintf(apiKeysYAML,
		APIKeyHash("k-crm-0123456789"), strings.ToUpper(APIKeyHash("k-hr-0123456789"))))
	v := newTestVerifier(t, Config{
		JWT:         JWTConfig{HS256SecretFile: writeFile(t, "s", testSecret)},
		APIKeysFile: keysFile,
	}, options{})
	noKeys := newTestVerifier(t, Config{}, options{})
	tok := mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims())
	ca := newTestCA(t)
	leaf := ca.issue(t, pkix.Name{CommonName: "svc-a", OrganizationalUnit: []string{"support", "batch"}}, nil, nil)

	tests := []struct {
		name   string
		v      *Verifier
		c      Credentials
		want   Subject
		reason string
	}{
		{"no credential", v, Credentials{}, Subject{Method: "anonymous"}, ""},
		{"empty slices are absent only when nil", v, Credentials{PeerCertificates: []*x509.Certificate{}}, Subject{Method: "anonymous"}, ""},
		{"api key", v, Credentials{APIKey: []byte("k-crm-0123456789")},
			Subject{Authenticated: true, ID: "crm-batch", Roles: []string{"support", "batch"}, Method: "api_key"}, ""},
		{"api key with uppercase hash in file", v, Credentials{APIKey: []byte("k-hr-0123456789")},
			Subject{Authenticated: true, ID: "hr-export", Roles: []string{"hr"}, Method: "api_key"}, ""},
		{"api key unknown", v, Credentials{APIKey: []byte("k-crm-012345678")}, Subject{}, ReasonUnknownAPIKey},
		{"api key with trailing space", v, Credentials{APIKey: []byte("k-crm-0123456789 ")}, Subject{}, ReasonUnknownAPIKey},
		{"api key empty", v, Credentials{APIKey: []byte{}}, Subject{}, ReasonUnknownAPIKey},
		{"api key without keys file", noKeys, Credentials{APIKey: []byte("k-crm-0123456789")}, Subject{}, ReasonUnknownAPIKey},
		{"ambiguous", v, Credentials{Authorization: []byte("Bearer " + tok), APIKey: []byte("k-crm-0123456789")}, Subject{}, ReasonAmbiguousCredentials},
		{"ambiguous even when both invalid", v, Credentials{Authorization: []byte("Basic x"), APIKey: []byte("x")}, Subject{}, ReasonAmbiguousCredentials},
		{"basic scheme", v, Credentials{Authorization: []byte("Basic YWxpY2U6cHc=")}, Subject{}, ReasonUnsupportedScheme},
		{"empty authorization", v, Credentials{Authorization: []byte{}}, Subject{}, ReasonUnsupportedScheme},
		{"bearer without token", v, Credentials{Authorization: []byte("Bearer")}, Subject{}, ReasonMalformedToken},
		{"bearer with blank token", v, Credentials{Authorization: []byte("Bearer   ")}, Subject{}, ReasonMalformedToken},
		{"bearer with two tokens", v, Credentials{Authorization: []byte("Bearer " + tok + " " + tok)}, Subject{}, ReasonMalformedToken},
		{"bearer with a tab in the token", v, Credentials{Authorization: []byte("Bearer " + tok + "\t" + tok)}, Subject{}, ReasonMalformedToken},
		{"lowercase bearer", v, Credentials{Authorization: []byte("bearer " + tok)},
			Subject{Authenticated: true, ID: "alice", Roles: []string{"support"}, Method: "jwt"}, ""},
		{"jwt wins over certificate", v, Credentials{Authorization: []byte("Bearer " + tok), PeerCertificates: []*x509.Certificate{leaf}},
			Subject{Authenticated: true, ID: "alice", Roles: []string{"support"}, Method: "jwt"}, ""},
		{"invalid jwt with certificate", v, Credentials{Authorization: []byte("Bearer x.y.z"), PeerCertificates: []*x509.Certificate{leaf}}, Subject{}, ReasonMalformedToken},
		{"certificate", v, Credentials{PeerCertificates: []*x509.Certificate{leaf, ca.Cert}},
			Subject{Authenticated: true, ID: "svc-a", Roles: []string{"batch", "support"}, Method: "mtls"}, ""},
		{"nil leaf", v, Credentials{PeerCertificates: []*x509.Certificate{nil}}, Subject{}, ReasonBadCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := tt.v.Identify(tt.c)
			if Reason(err) != tt.reason || (tt.reason == "") != (err == nil) {
				t.Fatalf("err = %v, want reason %q", err, tt.reason)
			}
			if tt.reason != "" && !errors.Is(err, ErrInvalidCredential) {
				t.Fatalf("err %v does not wrap ErrInvalidCredential", err)
			}
			s.Claims = nil // checked elsewhere
			if !reflect.DeepEqual(s, tt.want) {
				t.Fatalf("subject = %+v, want %+v", s, tt.want)
			}
		})
	}
}

// TestAPIKeyRolesNotShared checks that a caller appending to the returned
// (read-only, shared) roles cannot change the next caller's.
func TestAPIKeyRolesNotShared(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{APIKeysFile: writeFile(t, "k.yaml",
		"- {id: a, roles: [reader], sha256: "+APIKeyHash("key-a")+"}\n")}, options{})
	s, err := v.Identify(Credentials{APIKey: []byte("key-a")})
	if err != nil {
		t.Fatal(err)
	}
	if cap(s.Roles) != len(s.Roles) {
		t.Fatalf("roles have spare capacity (%d > %d)", cap(s.Roles), len(s.Roles))
	}
	_ = append(s.Roles, "admin")
	s, _ = v.Identify(Credentials{APIKey: []byte("key-a")})
	if !reflect.DeepEqual(s.Roles, []string{"reader"}) {
		t.Fatalf("roles = %v", s.Roles)
	}
}

// TestMTLSSubject runs a real TLS handshake on loopback: the server
// requires and verifies a client certificate and identifies the caller from
// the verified chain.
func TestMTLSSubject(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{}, options{})
	ca := newTestCA(t)
	uri, _ := url.Parse("spiffe://veil.test/ns/crm/sa/batch")
	tests := []struct {
		name   string
		subj   pkix.Name
		uris   []*url.URL
		dns    []string
		id     string
		roles  []string
		reason string
	}{
		{"cn and ous", pkix.Name{CommonName: "svc-a", OrganizationalUnit: []string{"support", "", "hr"}}, nil, []string{"a.veil.test"}, "svc-a", []string{"hr", "support"}, ""},
		{"uri san when no cn", pkix.Name{Organization: []string{"Veil"}}, []*url.URL{uri}, []string{"b.veil.test"}, uri.String(), nil, ""},
		{"dns san when no cn or uri", pkix.Name{}, nil, []string{"c.veil.test", "d.veil.test"}, "c.veil.test", nil, ""},
		{"no name at all", pkix.Name{OrganizationalUnit: []string{"x"}}, nil, nil, "", nil, ReasonBadCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			leaf := ca.issue(t, tt.subj, tt.uris, tt.dns)
			type result struct {
				S      Subject
				Reason string
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := v.Identify(Credentials{PeerCertificates: r.TLS.PeerCertificates})
				_ = json.NewEncoder(w).Encode(result{s, Reason(err)})
			}))
			srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
			srv.StartTLS()
			defer srv.Close()
			client := srv.Client()
			client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{{
				Certificate: [][]byte{leaf.Raw}, PrivateKey: ca.leafKey,
			}}
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got result
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Reason != tt.reason {
				t.Fatalf("reason = %q, want %q", got.Reason, tt.reason)
			}
			if tt.reason != "" {
				return
			}
			s := got.S
			if !s.Authenticated || s.Method != "mtls" || s.ID != tt.id || !reflect.DeepEqual(s.Roles, tt.roles) {
				t.Fatalf("subject = %+v", s)
			}
			if s.Claims["subject"] != leaf.Subject.String() || s.Claims["serial"] != leaf.SerialNumber.String() ||
				s.Claims["issuer"] != "CN=Veil Test CA" {
				t.Fatalf("claims = %v", s.Claims)
			}
		})
	}
}

type testCA struct {
	*testpki.CA
	leafKey *ecdsa.PrivateKey // one key for every leaf
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	ca := testpki.NewCA(t, "Veil Test CA")
	return &testCA{CA: ca, leafKey: testpki.NewKey(t)}
}

func (ca *testCA) issue(t testing.TB, subj pkix.Name, uris []*url.URL, dns []string) *x509.Certificate {
	t.Helper()
	return ca.Issue(t, &x509.Certificate{Subject: subj, URIs: uris, DNSNames: dns,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca.leafKey).Cert
}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	shortSecret := "short-secret-value"
	goodHash := APIKeyHash("k")
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
		want string // exact error text
	}{
		{"short secret", func(t *testing.T) Config {
			return Config{JWT: JWTConfig{HS256SecretFile: writeFile(t, "s", "  "+shortSecret+"\n")}}
		}, "identity: jwt.hs256_secret_file: secret shorter than 32 bytes: identity: invalid configuration"},
		{"negative leeway", func(*testing.T) Config { return Config{JWT: JWTConfig{Leeway: -time.Second}} },
			"identity: jwt.leeway must not be negative: identity: invalid configuration"},
		{"refresh too short", func(*testing.T) Config { return Config{JWT: JWTConfig{JWKSRefresh: time.Millisecond}} },
			"identity: jwt.jwks_refresh must be at least 1s: identity: invalid configuration"},
		{"empty roles path segment", func(*testing.T) Config { return Config{JWT: JWTConfig{RolesClaim: "realm..roles"}} },
			"identity: jwt.roles_claim has an empty path segment: identity: invalid configuration"},
		{"empty subject path segment", func(*testing.T) Config { return Config{JWT: JWTConfig{SubjectClaim: "user."}} },
			"identity: jwt.subject_claim has an empty path segment: identity: invalid configuration"},
		{"jwks plain http", func(*testing.T) Config { return Config{JWT: JWTConfig{JWKSURL: "http://idp.example.com/jwks"}} },
			"identity: jwt.jwks_url must use https (plain http only to loopback): identity: invalid configuration"},
		{"jwks with credentials", func(*testing.T) Config {
			return Config{JWT: JWTConfig{JWKSURL: "https://user:" + shortSecret + "@idp.example.com/jwks"}}
		}, "identity: jwt.jwks_url must not contain credentials: identity: invalid configuration"},
		{"jwks scheme", func(*testing.T) Config { return Config{JWT: JWTConfig{JWKSURL: "file:///etc/jwks.json"}} },
			"identity: jwt.jwks_url is not an absolute URL: identity: invalid configuration"},
		{"jwks ftp", func(*testing.T) Config { return Config{JWT: JWTConfig{JWKSURL: "ftp://idp.example.com/jwks"}} },
			"identity: jwt.jwks_url scheme must be https: identity: invalid configuration"},
		// An API key in a header the gateway echoes, sends upstream and audits.
		{"api key header x-request-id", func(*testing.T) Config { return Config{APIKeyHeader: "x-Request-ID"} },
			`identity: api_key_header "x-Request-ID" is a header the gateway sets, logs or reads otherwise: identity: invalid configuration`},
		{"api key header authorization", func(*testing.T) Config { return Config{APIKeyHeader: "Authorization"} },
			`identity: api_key_header "Authorization" is a header the gateway sets, logs or reads otherwise: identity: invalid configuration`},
		{"api key header not a token", func(*testing.T) Config { return Config{APIKeyHeader: "X Key"} },
			`identity: api_key_header "X Key" is not a header name: identity: invalid configuration`},
		{"api key bad hex", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+shortSecret+"}\n")}
		}, `identity: api_keys_file entry 0 (id "a"): sha256 must be 64 hex characters: identity: invalid configuration`},
		{"api key short hash", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+goodHash[:62]+"}\n")}
		}, `identity: api_keys_file entry 0 (id "a"): sha256 must be 64 hex characters: identity: invalid configuration`},
		{"api key long hash", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+goodHash+"00}\n")}
		}, `identity: api_keys_file entry 0 (id "a"): sha256 must be 64 hex characters: identity: invalid configuration`},
		{"api key missing id", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {sha256: "+goodHash+"}\n")}
		}, `identity: api_keys_file entry 0: id is required: identity: invalid configuration`},
		{"api key duplicate id", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+goodHash+"}\n- {id: a, sha256: "+APIKeyHash("j")+"}\n")}
		}, `identity: api_keys_file entry 1: duplicate id "a": identity: invalid configuration`},
		{"api key duplicate hash", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+goodHash+"}\n- {id: b, sha256: "+goodHash+"}\n")}
		}, `identity: api_keys_file entry 1 (id "b"): duplicate sha256: identity: invalid configuration`},
		{"api key hash of empty key", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, sha256: "+APIKeyHash("")+"}\n")}
		}, `identity: api_keys_file entry 0 (id "a"): sha256 of the empty key: identity: invalid configuration`},
		{"api key empty role", func(t *testing.T) Config {
			return Config{APIKeysFile: writeFile(t, "k", "- {id: a, roles: [''], sha256: "+goodHash+"}\n")}
		}, `identity: api_keys_file entry 0 (id "a"): empty role: identity: invalid configuration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(t.Context(), tt.cfg(t), nil)
			if v != nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, %v; want ErrConfig", v, err)
			}
			if err.Error() != tt.want {
				t.Fatalf("err = %q\nwant  %q", err, tt.want)
			}
			if strings.Contains(err.Error(), shortSecret) {
				t.Fatal("error contains the secret")
			}
		})
	}
	// Errors that wrap an OS or YAML error: kind and context only.
	for name, cfg := range map[string]Config{
		"missing secret file":   {JWT: JWTConfig{HS256SecretFile: "/nonexistent/secret"}},
		"missing api keys file": {APIKeysFile: "/nonexistent/keys.yaml"},
		"unknown api key field": {APIKeysFile: writeFile(t, "k", "- {id: a, key: plaintext, sha256: "+goodHash+"}\n")},
		"api keys not a list":   {APIKeysFile: writeFile(t, "k", "id: a\n")},
	} {
		if _, err := New(t.Context(), cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestEmptyAPIKeysFile(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{APIKeysFile: writeFile(t, "k", "")}, options{})
	if _, err := v.Identify(Credentials{APIKey: []byte("k")}); Reason(err) != ReasonUnknownAPIKey {
		t.Fatalf("err = %v", err)
	}
	if v.APIKeyHeader() != "X-API-Key" {
		t.Fatalf("header = %q", v.APIKeyHeader())
	}
}

func TestMintHS256(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{JWT: JWTConfig{
		HS256SecretFile: writeFile(t, "s", testSecret), Issuer: "veil-demo", Audience: "veil",
	}}, options{})
	tok, err := MintHS256([]byte(testSecret), "bob", []string{"hr", "support"}, time.Minute,
		map[string]any{"iss": "veil-demo", "aud": "veil", "email": "bob@x.test"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Identify(bearer(tok))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "bob" || !reflect.DeepEqual(s.Roles, []string{"hr", "support"}) || s.Claims["email"] != "bob@x.test" {
		t.Fatalf("subject = %+v", s)
	}
	exp, _ := jwt.MapClaims(s.Claims).GetExpirationTime()
	if d := time.Until(exp.Time); d <= 0 || d > time.Minute {
		t.Fatalf("exp in %s, want within 1m", d)
	}
	// extra overrides the defaults.
	tok, _ = MintHS256([]byte(testSecret), "bob", nil, time.Minute, map[string]any{
		"iss": "veil-demo", "aud": "veil", "exp": time.Now().Add(-time.Hour).Unix(),
	})
	if _, err := v.Identify(bearer(tok)); Reason(err) != ReasonTokenExpired {
		t.Fatalf("overridden exp: err = %v", err)
	}
	if _, err := MintHS256([]byte("short"), "bob", nil, time.Minute, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("short secret: err = %v", err)
	}
	if _, err := MintHS256([]byte(testSecret), "bob", nil, 0, nil); err == nil || err.Error() != "identity: mint: ttl must be positive" {
		t.Fatalf("zero ttl: err = %v", err)
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	if Reason(nil) != "" || Reason(errors.New("x")) != "" || Reason(ErrInvalidCredential) != "" {
		t.Fatal("Reason of a non-credential error is not empty")
	}
	wrapped := fmt.Errorf("proxy: identify: %w", errTokenExpired)
	if Reason(wrapped) != ReasonTokenExpired || !errors.Is(wrapped, ErrInvalidCredential) {
		t.Fatalf("wrapped: reason %q", Reason(wrapped))
	}
	if got := errTokenExpired.Error(); got != "identity: token_expired: invalid credential" {
		t.Fatalf("Error() = %q", got)
	}
}

// TestReloadAPIKeys: a reload adds and removes keys from the next request,
// concurrently with identification; a file that does not load leaves the
// keys in use.
func TestReloadAPIKeys(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "keys.yaml", "- {id: a, roles: [reader], sha256: "+APIKeyHash("key-a")+"}\n")
	v := newTestVerifier(t, Config{APIKeysFile: path}, options{})
	id := func(key string) string {
		s, err := v.Identify(Credentials{APIKey: []byte(key)})
		if err != nil {
			return "-"
		}
		return s.ID
	}
	if id("key-a") != "a" || id("key-b") != "-" {
		t.Fatal("initial keys")
	}
	if err := os.WriteFile(path, []byte("- {id: b, roles: [writer], sha256: "+APIKeyHash("key-b")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // identification keeps running while the set is swapped (-race)
		defer close(done)
		for range 1000 {
			if a, b := id("key-a"), id("key-b"); (a != "a" && a != "-") || (b != "b" && b != "-") {
				t.Errorf("during the reload: key-a -> %s, key-b -> %s", a, b)
				return
			}
		}
	}()
	if err := v.ReloadAPIKeys(); err != nil {
		t.Fatal(err)
	}
	<-done
	if id("key-a") != "-" || id("key-b") != "b" {
		t.Fatalf("after reload: a=%s b=%s", id("key-a"), id("key-b"))
	}
	if err := os.WriteFile(path, []byte("- {id: c, sha256: nothex}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.ReloadAPIKeys(); !errors.Is(err, ErrConfig) {
		t.Fatalf("a broken file reloaded: %v", err)
	}
	if id("key-b") != "b" {
		t.Fatal("a failed reload dropped the keys in use")
	}
}
