package demo

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Dev token claims, matching the demo gateway's identity config.
const (
	// TokenIssuer is the "iss" claim of every dev token.
	TokenIssuer = "veil-demo"
	// TokenAudience is the "aud" claim of every dev token.
	TokenAudience = "veil"
)

// User is a dev identity that exercises one role of the shipped policies.
type User struct {
	// Name is the display name (the token's "name" claim).
	Name string
	// ID is the subject ("sub" claim).
	ID string
	// Role is the single entry of the token's "roles" claim.
	Role string
	// Description says what the role may see, for `veil demo` output.
	Description string
}

// Users are the dev identities, one per role of the shipped policies plus
// a second sales rep to show record ownership.
var Users = []User{
	{Name: "Sam Support", ID: "u-03", Role: "support", Description: "CRM read with masked PII, may open tickets; no HRM"},
	{Name: "Riley Sales", ID: "u-17", Role: "sales", Description: "own CRM accounts in full, other reps' records removed or masked"},
	{Name: "Jordan Sales", ID: "u-18", Role: "sales", Description: "another sales rep, owns a different fifth of the customers"},
	{Name: "Harper HR", ID: HRManagerID, Role: "hr_manager", Description: "own reports in full (national id and IBAN decrypted), other employees without pay, bank, id, reviews, birth date, address; writes are encrypted at rest"},
	{Name: "Alex Analyst", ID: "u-42", Role: "analyst", Description: "CRM and HRM read only, pseudonymised ids, tokenized emails, generalised dates, salaries and zips"},
	{Name: "Ada Admin", ID: "u-01", Role: "admin", Description: "everything in full as stored (encrypted fields stay envelopes), all methods"},
}

var errEmptySecret = errors.New("demo: empty token secret")

// Tokens mints one HS256 JWT per entry of Users, keyed by User.ID, valid
// for ttl from now, with claims sub, name, roles (array), iss TokenIssuer,
// aud TokenAudience, iat and exp.
func Tokens(secret []byte, ttl time.Duration) (map[string]string, error) {
	if len(secret) == 0 {
		return nil, errEmptySecret
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("demo: token ttl must be positive, got %v", ttl)
	}
	now := time.Now()
	out := make(map[string]string, len(Users))
	for _, u := range Users {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub":   u.ID,
			"name":  u.Name,
			"roles": []string{u.Role},
			"iss":   TokenIssuer,
			"aud":   TokenAudience,
			"iat":   now.Unix(),
			"exp":   now.Add(ttl).Unix(),
		})
		s, err := tok.SignedString(secret)
		if err != nil {
			return nil, fmt.Errorf("demo: signing the token of %s: %w", u.ID, err)
		}
		out[u.ID] = s
	}
	return out, nil
}
