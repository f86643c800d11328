package demo

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestUsersCoverEveryRole(t *testing.T) {
	t.Parallel()
	want := map[string]string{"u-03": "support", "u-17": "sales", "e-0007": "hr_manager", "u-42": "analyst", "u-01": "admin"}
	seen := map[string]bool{}
	for _, u := range Users {
		if seen[u.ID] {
			t.Errorf("duplicate user id %s", u.ID)
		}
		seen[u.ID] = true
		if u.Name == "" || u.Description == "" {
			t.Errorf("%s: missing name or description", u.ID)
		}
		if role, ok := want[u.ID]; ok && role != u.Role {
			t.Errorf("%s has role %q, want %q", u.ID, u.Role, role)
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("no dev identity %s", id)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	before := time.Now().Add(-time.Second)
	toks, err := Tokens(secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != len(Users) {
		t.Fatalf("%d tokens for %d users", len(toks), len(Users))
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	key := func(*jwt.Token) (any, error) { return secret, nil }
	for _, u := range Users {
		tok, err := parser.Parse(toks[u.ID], key)
		if err != nil {
			t.Fatalf("%s: %v", u.ID, err)
		}
		if tok.Header["alg"] != "HS256" {
			t.Errorf("%s: alg %v", u.ID, tok.Header["alg"])
		}
		c := tok.Claims.(jwt.MapClaims)
		if c["sub"] != u.ID || c["name"] != u.Name || c["iss"] != "veil-demo" || c["aud"] != "veil" {
			t.Errorf("%s: claims %v", u.ID, c)
		}
		if roles, ok := c["roles"].([]any); !ok || !slices.Equal(roles, []any{u.Role}) {
			t.Errorf("%s: roles %#v, want an array with %q", u.ID, c["roles"], u.Role)
		}
		iat, _ := c.GetIssuedAt()
		exp, _ := c.GetExpirationTime()
		if iat.Before(before.Truncate(time.Second)) || exp.Sub(iat.Time) != time.Hour {
			t.Errorf("%s: iat %v exp %v", u.ID, iat, exp)
		}
		if _, err := parser.Parse(toks[u.ID], func(*jwt.Token) (any, error) { return []byte("another secret"), nil }); err == nil {
			t.Errorf("%s: token verifies with another secret", u.ID)
		}
		if strings.Contains(toks[u.ID], string(secret)) {
			t.Errorf("%s: token contains the secret", u.ID)
		}
	}
}

func TestTokensExpire(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-s3cret-s3cret")
	toks, err := Tokens(secret, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	later := jwt.NewParser(jwt.WithTimeFunc(func() time.Time { return time.Now().Add(time.Minute) }))
	_, err = later.Parse(toks["u-01"], func(*jwt.Token) (any, error) { return secret, nil })
	if err == nil || !strings.Contains(err.Error(), jwt.ErrTokenExpired.Error()) {
		t.Errorf("a minute later: %v, want expired", err)
	}
}

func TestTokensErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret []byte
		ttl    time.Duration
		want   string
	}{
		{"empty secret", nil, time.Hour, "demo: empty token secret"},
		{"zero ttl", []byte("k"), 0, "demo: token ttl must be positive, got 0s"},
		{"negative ttl", []byte("k"), -time.Minute, "demo: token ttl must be positive, got -1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			toks, err := Tokens(tt.secret, tt.ttl)
			if err == nil || err.Error() != tt.want || toks != nil {
				t.Errorf("Tokens() = %v, %v; want error %q", toks, err, tt.want)
			}
		})
	}
}
