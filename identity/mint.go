package identity

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintHS256 signs an HS256 token for the demo and tests with claims sub,
// roles (omitted when nil), iat = now and exp = now + ttl; keys of extra
// are added last and override those. The secret must be at least 32 bytes
// and ttl positive.
func MintHS256(secret []byte, sub string, roles []string, ttl time.Duration, extra map[string]any) (string, error) {
	if len(secret) < minHS256SecretLen {
		return "", fmt.Errorf("identity: mint: secret shorter than %d bytes: %w", minHS256SecretLen, ErrConfig)
	}
	if ttl <= 0 {
		return "", errors.New("identity: mint: ttl must be positive")
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if roles != nil {
		claims["roles"] = roles
	}
	for k, v := range extra {
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("identity: mint: %w", err)
	}
	return s, nil
}
