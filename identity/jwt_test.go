package identity

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// fullVerifier has every key source configured: HS256, and a JWKS with
// RSA, ECDSA (P-256, P-384), Ed25519, a small RSA key, an "enc" key and an
// "oct" key.
func fullVerifier(t *testing.T) (*Verifier, *jwksServer) {
	t.Helper()
	k := keys()
	srv := newJWKSServer(t,
		jwk{kid: "rsa", alg: jwkset.AlgRS256, use: jwkset.UseSig, key: &k.rsa.PublicKey},
		jwk{kid: "rsa-noalg", key: &k.rsa2.PublicKey},
		jwk{kid: "rsa-small", key: &k.rsaSmall.PublicKey},
		jwk{kid: "rsa-enc", use: jwkset.UseEnc, key: &k.rsa2.PublicKey},
		jwk{kid: "ec256", alg: jwkset.AlgES256, key: &k.ec256.PublicKey},
		jwk{kid: "ec384", key: &k.ec384.PublicKey},
		jwk{kid: "ed", key: k.ed.Public()},
		jwk{kid: "oct", key: []byte(testSecret + "-jwks")},
	)
	v := newTestVerifier(t, Config{JWT: JWTConfig{
		HS256SecretFile: writeFile(t, "secret", "\n  "+testSecret+"\n"),
		JWKSURL:         srv.srv.URL,
		Issuer:          "https://idp.test",
		Audience:        "veil",
	}}, options{})
	return v, srv
}

func TestIdentifyJWT(t *testing.T) {
	t.Parallel()
	k := keys()
	v, srv := fullVerifier(t)
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))})
	hs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", c) }
	rs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", c) }
	past := time.Now().Add(-time.Hour).Unix()
	future := time.Now().Add(time.Hour).Unix()

	tests := []struct {
		name   string
		token  string
		reason string   // "" means valid
		roles  []string // when valid
	}{
		{"hs256", hs(claims()), "", []string{"support"}},
		{"rs256", rs(claims()), "", []string{"support"}},
		{"rs384 key without alg", mint(t, jwt.SigningMethodRS384, k.rsa2, "rsa-noalg", claims()), "", []string{"support"}},
		{"ps256", mint(t, jwt.SigningMethodPS256, k.rsa2, "rsa-noalg", claims()), "", []string{"support"}},
		{"es256", mint(t, jwt.SigningMethodES256, k.ec256, "ec256", claims()), "", []string{"support"}},
		{"es384", mint(t, jwt.SigningMethodES384, k.ec384, "ec384", claims()), "", []string{"support"}},
		{"eddsa", mint(t, jwt.SigningMethodEdDSA, k.ed, "ed", claims()), "", []string{"support"}},
		{"rs256 without kid", mint(t, jwt.SigningMethodRS256, k.rsa, "", claims()), "", []string{"support"}},
		{"eddsa without kid", mint(t, jwt.SigningMethodEdDSA, k.ed, "", claims()), "", []string{"support"}},
		{"aud array", hs(claims("aud", []string{"other", "veil"})), "", []string{"support"}},
		{"expired within leeway", hs(claims("exp", time.Now().Add(-10*time.Second).Unix())), "", []string{"support"}},
		{"no roles claim", hs(claims("roles", nil)), "", nil},

		{"alg none", mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims()), ReasonAlgNotAllowed, nil},
		{"alg none with kid", mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa", claims()), ReasonAlgNotAllowed, nil},
		{"hs256 signed with the RSA public key", mint(t, jwt.SigningMethodHS256, rsaPubPEM, "rsa", claims()), ReasonBadSignature, nil},
		{"hs256 signed with the JWKS oct key", mint(t, jwt.SigningMethodHS256, []byte(testSecret+"-jwks"), "oct", claims()), ReasonBadSignature, nil},
		{"hs384 not allowed", mint(t, jwt.SigningMethodHS384, []byte(testSecret), "", claims()), ReasonAlgNotAllowed, nil},
		{"es512 not allowed", mint(t, jwt.SigningMethodES512, must(ecdsaP521()), "", claims()), ReasonAlgNotAllowed, nil},
		{"unregistered alg", forgeHeader(hs(claims()), `{"alg":"XX999","typ":"JWT"}`), ReasonAlgNotAllowed, nil},
		{"missing alg", forgeHeader(hs(claims()), `{"typ":"JWT"}`), ReasonAlgNotAllowed, nil},
		{"hs256 wrong secret", mint(t, jwt.SigningMethodHS256, []byte(testSecret+"x"), "", claims()), ReasonBadSignature, nil},
		{"rs256 signed by another key", mint(t, jwt.SigningMethodRS256, k.rsa2, "rsa", claims()), ReasonBadSignature, nil},
		{"rs256 without kid, unknown signer", mint(t, jwt.SigningMethodRS256, k.rsaSmall, "", claims()), ReasonBadSignature, nil},
		{"payload tampered", tamper(rs(claims())), ReasonBadSignature, nil},
		{"es256 with the P-384 key's kid", mint(t, jwt.SigningMethodES256, k.ec256, "ec384", claims()), ReasonAlgNotAllowed, nil},
		{"rs256 with an EC key's kid", mint(t, jwt.SigningMethodRS256, k.rsa, "ec256", claims()), ReasonAlgNotAllowed, nil},
		{"rs384 with a key whose alg is RS256", mint(t, jwt.SigningMethodRS384, k.rsa, "rsa", claims()), ReasonAlgNotAllowed, nil},
		{"rsa key under 2048 bits", mint(t, jwt.SigningMethodRS256, k.rsaSmall, "rsa-small", claims()), ReasonAlgNotAllowed, nil},
		{"enc key", mint(t, jwt.SigningMethodRS256, k.rsa2, "rsa-enc", claims()), ReasonAlgNotAllowed, nil},
		{"crit header", critToken(t, []byte(testSecret)), ReasonMalformedToken, nil},
		{"kid not a string", forgeHeader(rs(claims()), `{"alg":"RS256","kid":7}`), ReasonMalformedToken, nil},
		{"unknown kid", mint(t, jwt.SigningMethodRS256, k.rsa, "nope", claims()), ReasonUnknownKey, nil},
		{"expired", hs(claims("exp", past)), ReasonTokenExpired, nil},
		{"expired rs256", rs(claims("exp", past)), ReasonTokenExpired, nil},
		{"nbf in future", hs(claims("nbf", future)), ReasonTokenNotYetValid, nil},
		{"iat in future", hs(claims("iat", future)), ReasonTokenNotYetValid, nil},
		{"missing exp", hs(claims("exp", nil)), ReasonMissingExp, nil},
		{"exp not a number", hs(claims("exp", "tomorrow")), ReasonMalformedToken, nil},
		{"wrong iss", hs(claims("iss", "https://evil.test")), ReasonWrongIssuer, nil},
		{"missing iss", hs(claims("iss", nil)), ReasonWrongIssuer, nil},
		{"wrong aud", hs(claims("aud", "other")), ReasonWrongAudience, nil},
		{"missing aud", hs(claims("aud", nil)), ReasonWrongAudience, nil},
		{"expired and wrong iss", hs(claims("exp", past, "iss", "x")), ReasonTokenExpired, nil},
		{"missing sub", hs(claims("sub", nil)), ReasonMissingSubject, nil},
		{"empty sub", hs(claims("sub", "")), ReasonMissingSubject, nil},
		{"sub not a string", hs(claims("sub", 42)), ReasonMalformedToken, nil},
		{"roles number", hs(claims("roles", 7)), ReasonMalformedToken, nil},
		{"roles mixed array", hs(claims("roles", []any{"a", 1})), ReasonMalformedToken, nil},
		{"one segment", "abc", ReasonMalformedToken, nil},
		{"two segments", "abc.def", ReasonMalformedToken, nil},
		{"garbage segments", "a!.b!.c!", ReasonMalformedToken, nil},
		{"header not json", base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".e30.c2ln", ReasonMalformedToken, nil},
		{"padded signature", hs(claims()) + "=", ReasonMalformedToken, nil},
		{"too long", strings.Repeat("a", maxTokenLen+1), ReasonMalformedToken, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := v.Identify(bearer(tt.token))
			if tt.reason != "" {
				if got := Reason(err); got != tt.reason || !errors.Is(err, ErrInvalidCredential) {
					t.Fatalf("err = %v (reason %q), want reason %q", err, got, tt.reason)
				}
				if !reflect.DeepEqual(s, Subject{}) {
					t.Fatalf("subject on error = %+v, want zero", s)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Fatal("error contains the token")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v (reason %q)", err, Reason(err))
			}
			if !s.Authenticated || s.ID != "alice" || s.Method != "jwt" || !reflect.DeepEqual(s.Roles, tt.roles) {
				t.Fatalf("subject = %+v", s)
			}
			if s.Claims["iss"] != "https://idp.test" {
				t.Fatalf("claims = %v", s.Claims)
			}
			for c, val := range s.Claims {
				if str, ok := val.(string); ok && strings.Contains(str, tt.token) {
					t.Fatalf("claim %s contains the token", c)
				}
			}
		})
	}
	// One fetch at New; the unknown kid triggered exactly one more.
	t.Cleanup(func() {
		if got := srv.hits.Load(); got != 2 {
			t.Errorf("JWKS hits = %d, want 2", got)
		}
	})
}

// TestAlgorithmConfusionWithoutHS256 checks that, with only a JWKS
// configured, an HS256 token signed with an RSA public key (as PEM, as DER,
// or as the raw JWK modulus) is refused before any verification.
func TestAlgorithmConfusionWithoutHS256(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "rsa", key: &k.rsa.PublicKey}, jwk{kid: "oct", key: []byte(testSecret)})
	v := newTestVerifier(t, Config{JWT: JWTConfig{JWKSURL: srv.srv.URL}}, options{})
	der := must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for name, secret := range map[string][]byte{"pem": pemKey, "der": der, "modulus": k.rsa.N.Bytes(), "oct": []byte(testSecret)} {
		for _, kid := range []string{"rsa", "oct", ""} {
			tok := mint(t, jwt.SigningMethodHS256, secret, kid, claims())
			if _, err := v.Identify(bearer(tok)); Reason(err) != ReasonAlgNotAllowed {
				t.Errorf("%s kid %q: err = %v, want %s", name, kid, err, ReasonAlgNotAllowed)
			}
		}
	}
	// And an RS256 token is refused by an HS256-only verifier.
	hsOnly := newTestVerifier(t, Config{JWT: JWTConfig{HS256SecretFile: writeFile(t, "s", testSecret)}}, options{})
	tok := mint(t, jwt.SigningMethodRS256, k.rsa, "rsa", claims())
	if _, err := hsOnly.Identify(bearer(tok)); Reason(err) != ReasonAlgNotAllowed {
		t.Errorf("rs256 against hs256-only: err = %v", err)
	}
	// Nothing configured: every token is refused.
	none := newTestVerifier(t, Config{}, options{})
	if _, err := none.Identify(bearer(mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims()))); Reason(err) != ReasonAlgNotAllowed {
		t.Errorf("no jwt config: err = %v", err)
	}
	if _, err := none.Identify(bearer(mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims()))); Reason(err) != ReasonAlgNotAllowed {
		t.Errorf("no jwt config, alg none: err = %v", err)
	}
}

func TestRolesAndSubjectClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rolesClaim string
		subClaim   string
		claims     jwt.MapClaims
		id         string
		roles      []string
		reason     string
	}{
		{"string", "", "", claims("roles", "admin"), "alice", []string{"admin"}, ""},
		{"array", "", "", claims("roles", []string{"a", "b"}), "alice", []string{"a", "b"}, ""},
		{"empty array", "", "", claims("roles", []string{}), "alice", []string{}, ""},
		{"absent", "", "", claims("roles", nil), "alice", nil, ""},
		{"nested path", "realm_access.roles", "", claims("realm_access", map[string]any{"roles": []string{"hr"}}), "alice", []string{"hr"}, ""},
		{"nested path absent", "realm_access.roles", "", claims("realm_access", map[string]any{"other": 1}), "alice", nil, ""},
		{"nested path through a string", "realm_access.roles", "", claims("realm_access", "x"), "alice", nil, ""},
		{"namespaced claim with dots", "https://veil.test/roles", "", claims("https://veil.test/roles", []string{"ns"}), "alice", []string{"ns"}, ""},
		{"custom subject claim", "", "email", claims("email", "a@x.test"), "a@x.test", []string{"support"}, ""},
		{"nested subject claim", "", "user.id", claims("user", map[string]any{"id": "u-17"}), "u-17", []string{"support"}, ""},
		{"wrong type number", "", "", claims("roles", 3.5), "", nil, ReasonMalformedToken},
		{"wrong type bool", "", "", claims("roles", true), "", nil, ReasonMalformedToken},
		{"wrong type object", "", "", claims("roles", map[string]any{"a": "b"}), "", nil, ReasonMalformedToken},
		{"null", "", "", claims("roles", jsonNull{}), "", nil, ReasonMalformedToken},
		{"empty string", "", "", claims("roles", ""), "", nil, ReasonMalformedToken},
		{"array with empty string", "", "", claims("roles", []string{"a", ""}), "", nil, ReasonMalformedToken},
		{"nested wrong type", "realm_access.roles", "", claims("realm_access", map[string]any{"roles": 1}), "", nil, ReasonMalformedToken},
		{"custom subject absent", "", "email", claims(), "", nil, ReasonMissingSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, Config{JWT: JWTConfig{
				HS256SecretFile: writeFile(t, "s", testSecret),
				RolesClaim:      tt.rolesClaim,
				SubjectClaim:    tt.subClaim,
			}}, options{})
			s, err := v.Identify(bearer(mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", tt.claims)))
			if Reason(err) != tt.reason || (tt.reason == "") != (err == nil) {
				t.Fatalf("err = %v, want reason %q", err, tt.reason)
			}
			if err != nil {
				return
			}
			if s.ID != tt.id || !reflect.DeepEqual(s.Roles, tt.roles) {
				t.Fatalf("id %q roles %#v, want %q %#v", s.ID, s.Roles, tt.id, tt.roles)
			}
		})
	}
}

// TestJWKSCachingAndRotation proves with the server's hit counter that keys
// are cached, that an unknown kid triggers exactly one refresh which finds
// a rotated-in key, and that further unknown kids are rate limited.
func TestJWKSCachingAndRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", key: &k.rsa.PublicKey})
	v := newTestVerifier(t, Config{JWT: JWTConfig{JWKSURL: srv.srv.URL}}, options{})
	if err := v.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	step := func(name, kid string, key any, wantReason string, wantHits int64) {
		t.Helper()
		_, err := v.Identify(bearer(mint(t, jwt.SigningMethodRS256, key, kid, claims())))
		if Reason(err) != wantReason || (wantReason == "") != (err == nil) {
			t.Fatalf("%s: err = %v, want reason %q", name, err, wantReason)
		}
		if got := srv.hits.Load(); got != wantHits {
			t.Fatalf("%s: JWKS hits = %d, want %d", name, got, wantHits)
		}
	}
	step("initial fetch", "a", k.rsa, "", 1)
	for range 5 {
		step("cached", "a", k.rsa, "", 1)
	}
	srv.set(t, jwk{kid: "a", key: &k.rsa.PublicKey}, jwk{kid: "b", key: &k.rsa2.PublicKey})
	step("rotated key found by one refresh", "b", k.rsa2, "", 2)
	step("rotated key now cached", "b", k.rsa2, "", 2)
	step("unknown kid rate limited", "c", k.rsa2, ReasonUnknownKey, 2)
	step("old key still served", "a", k.rsa, "", 2)
}

// TestJWKSPeriodicRefresh checks that a key removed from the JWKS stops
// verifying after the next periodic refresh.
func TestJWKSPeriodicRefresh(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", key: &k.rsa.PublicKey}, jwk{kid: "b", key: &k.rsa2.PublicKey})
	v := newTestVerifier(t, Config{JWT: JWTConfig{JWKSURL: srv.srv.URL, JWKSRefresh: time.Second}}, options{})
	tokA := mint(t, jwt.SigningMethodRS256, k.rsa, "a", claims())
	if _, err := v.Identify(bearer(tokA)); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	srv.set(t, jwk{kid: "b", key: &k.rsa2.PublicKey})
	waitFor(t, func() bool { return srv.hits.Load() >= 2 })
	// The refresh completes after the hit is counted: poll the outcome.
	waitFor(t, func() bool {
		_, err := v.Identify(bearer(tokA))
		return Reason(err) == ReasonUnknownKey
	})
}

func TestReady(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", key: &k.rsa.PublicKey})
	srv.status.Store(500)
	v := newTestVerifier(t, Config{JWT: JWTConfig{JWKSURL: srv.srv.URL, JWKSRefresh: time.Second}}, options{})
	if err := v.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready with failing JWKS = %v, want ErrNotReady", err)
	}
	srv.status.Store(0)
	waitFor(t, func() bool { return v.Ready() == nil })
	if _, err := v.Identify(bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "a", claims()))); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	noJWKS := newTestVerifier(t, Config{}, options{})
	if err := noJWKS.Ready(); err != nil {
		t.Fatalf("Ready without JWKS = %v", err)
	}
}

func TestJWKSResponseTooLarge(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t)
	big := []byte(`{"keys":[],"pad":"` + strings.Repeat("x", jwksMaxBytes) + `"}`)
	srv.body.Store(&big)
	v := newTestVerifier(t, Config{JWT: JWTConfig{JWKSURL: srv.srv.URL}}, options{})
	if err := v.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready = %v, want ErrNotReady", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func critToken(t *testing.T, secret []byte) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
	tok.Header["crit"] = []string{"b64"}
	tok.Header["b64"] = false
	return must(tok.SignedString(secret))
}

// TestConcurrentIdentifyDuringRefresh runs verifications from several
// goroutines while the JWKS is refreshed every second (run with -race).
func TestConcurrentIdentifyDuringRefresh(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", key: &k.rsa.PublicKey}, jwk{kid: "e", key: k.ed.Public()})
	v := newTestVerifier(t, Config{JWT: JWTConfig{
		JWKSURL: srv.srv.URL, JWKSRefresh: time.Second, HS256SecretFile: writeFile(t, "s", testSecret),
	}}, options{cacheSize: 8})
	toks := []Credentials{
		bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "a", claims())),
		bearer(mint(t, jwt.SigningMethodEdDSA, k.ed, "e", claims("sub", "bob"))),
		bearer(mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims("sub", "carol"))),
	}
	want := []string{"alice", "bob", "carol"}
	// Run until two periodic refreshes happened during the run.
	deadline := time.Now().Add(10 * time.Second)
	running := func() bool { return srv.hits.Load() < 3 && time.Now().Before(deadline) }
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := g; running(); i++ {
				n := i % len(toks)
				s, err := v.Identify(toks[n])
				if err == nil && s.ID != want[n] {
					err = errors.New("wrong subject " + s.ID)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if srv.hits.Load() < 3 {
		t.Fatalf("JWKS hits = %d, want two refreshes during the run", srv.hits.Load())
	}
}

// nonLoopbackIP returns an IPv4 address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return nil
}

// TestJWKSRedirectKeepsTheURLRules: jwks_url must be https unless its host
// is loopback, and so must every URL a fetch is redirected to: an https
// JWKS URL redirecting to plain http on another host once had its keys
// served over plain http. The client is a plain http.Client (nil
// CheckRedirect, as production's); only its root CAs differ so that it
// trusts the test server. The plain-http server listens on this machine's
// own non-loopback address.
func TestJWKSRedirectKeepsTheURLRules(t *testing.T) {
	t.Parallel()
	k := keys()
	ip := nonLoopbackIP(t)
	plain := newJWKSServer(t) // replaced below by one on the non-loopback address
	plain.srv.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Skip(err)
	}
	var plainHits int
	var mu sync.Mutex
	plain.set(t, jwk{kid: "a", key: &k.rsa.PublicKey})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		plainHits++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*plain.body.Load())
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	plainURL := "http://" + ln.Addr().String() + "/jwks"
	if err := checkJWKSURL(plainURL); !errors.Is(err, ErrConfig) {
		t.Fatalf("direct plain-http URL accepted: %v", err)
	}
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plainURL, http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	client := &http.Client{Timeout: jwksHTTPTimeout, Transport: redirector.Client().Transport}
	v, err := newVerifier(context.Background(), Config{JWT: JWTConfig{JWKSURL: redirector.URL + "/.well-known/jwks.json"}},
		zap.NewNop(), options{jwks: jwksOptions{client: client}})
	if err != nil {
		t.Fatalf("New refused the https URL: %v", err)
	}
	defer v.Close()
	s, err := v.Identify(bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "a", claims())))
	mu.Lock()
	hits := plainHits
	mu.Unlock()
	if err == nil || hits > 0 {
		t.Fatalf("keys fetched over plain http from non-loopback %s via a redirect (hits %d); token: %v %q", plainURL, hits, err, s.ID)
	}
}
