package identity

import (
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenCache(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, Config{JWT: JWTConfig{HS256SecretFile: writeFile(t, "s", testSecret)}}, options{cacheSize: 3})
	hs := func(c jwt.MapClaims) Credentials {
		return bearer(mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", c))
	}

	// Invalid tokens are never cached.
	for range 3 {
		if _, err := v.Identify(hs(claims("exp", time.Now().Add(-time.Hour).Unix()))); Reason(err) != ReasonTokenExpired {
			t.Fatalf("expired: %v", err)
		}
	}
	if n := v.jwt.cache.len(); n != 0 {
		t.Fatalf("cache holds %d invalid tokens", n)
	}

	// A hit returns the same subject; its roles are shared and read-only,
	// and an append by one caller does not reach the next.
	c := hs(claims("roles", []string{"a", "b"}))
	first, err := v.Identify(c)
	if err != nil {
		t.Fatal(err)
	}
	if cap(first.Roles) != len(first.Roles) {
		t.Fatalf("roles have spare capacity (%d > %d): an append would alias the cache", cap(first.Roles), len(first.Roles))
	}
	_ = append(first.Roles, "admin")
	second, err := v.Identify(c)
	if err != nil || !reflect.DeepEqual(second.Roles, []string{"a", "b"}) || second.ID != "alice" || second.Claims["iss"] != "https://idp.test" {
		t.Fatalf("cached subject = %+v, %v", second, err)
	}
	if n := v.jwt.cache.len(); n != 1 {
		t.Fatalf("cache len = %d, want 1", n)
	}

	// An entry is not served once the token expires (exp + 30s leeway).
	soon := hs(claims("exp", time.Now().Add(-DefaultLeeway+1500*time.Millisecond).Unix()))
	if _, err := v.Identify(soon); err != nil {
		t.Fatalf("about to expire: %v", err)
	}
	waitFor(t, func() bool {
		_, err := v.Identify(soon)
		return Reason(err) == ReasonTokenExpired
	})

	// The cache is bounded.
	for i := range 10 {
		if _, err := v.Identify(hs(claims("n", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.jwt.cache.len(); n != 3 {
		t.Fatalf("cache len = %d, want 3", n)
	}
}

// TestCacheVoidedByKeyRemoval: a cached token whose key disappears from the
// JWKS stops verifying at the next refresh (here: one triggered by an
// unknown kid), without waiting for the token's expiry.
func TestCacheVoidedByKeyRemoval(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, jwk{kid: "a", key: &k.rsa.PublicKey})
	v := newTestVerifier(t, Config{JWT: JWTConfig{JWKSURL: srv.srv.URL}}, options{})
	tokA := bearer(mint(t, jwt.SigningMethodRS256, k.rsa, "a", claims()))
	for range 2 {
		if _, err := v.Identify(tokA); err != nil {
			t.Fatal(err)
		}
	}
	srv.set(t, jwk{kid: "b", key: &k.rsa2.PublicKey})
	if _, err := v.Identify(bearer(mint(t, jwt.SigningMethodRS256, k.rsa2, "b", claims()))); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if _, err := v.Identify(tokA); Reason(err) != ReasonUnknownKey {
		t.Fatalf("removed key: err = %v, want %s", err, ReasonUnknownKey)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("JWKS hits = %d, want 2", got)
	}
}
