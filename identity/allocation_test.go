//go:build !race

package identity

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestIdentifyAllocations pins the hot paths: anonymous costs nothing; a
// cached token and an API key cost one small allocation (the caller's own
// copy of the roles).
func TestIdentifyAllocations(t *testing.T) {
	v := newTestVerifier(t, Config{
		JWT:         JWTConfig{HS256SecretFile: writeFile(t, "s", testSecret)},
		APIKeysFile: writeFile(t, "k", "- {id: a, roles: [r], sha256: "+APIKeyHash("key-a")+"}\n"),
	}, options{})
	tok := bearer(mint(t, jwt.SigningMethodHS256, []byte(testSecret), "", claims()))
	if _, err := v.Identify(tok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Credentials
		max  float64
	}{
		{"anonymous", Credentials{}, 0},
		{"cached hs256", tok, 1},
		{"api key", Credentials{APIKey: []byte("key-a")}, 1},
	} {
		got := testing.AllocsPerRun(200, func() {
			if _, err := v.Identify(tc.c); err != nil {
				t.Fatal(err)
			}
		})
		if got > tc.max {
			t.Errorf("%s: %.0f allocs, want <= %.0f", tc.name, got, tc.max)
		}
	}
}
