// Package identity verifies the caller's credentials (JWT bearer tokens
// against an HS256 secret or a JWKS, API keys stored hashed, mTLS client
// certificates) and turns them into a Subject for the policy input.
//
// It knows nothing about policies, routes or bodies, and never logs or
// returns a credential.
package identity

// Subject is the verified caller. The zero value is the anonymous subject.
type Subject struct {
	// Authenticated is false for the anonymous subject.
	Authenticated bool `json:"authenticated"`
	// ID is the subject identifier ("sub" claim, API key id, certificate CN).
	ID string `json:"id"`
	// Roles come from the configured roles claim, the API key entry or the
	// certificate's organisational units.
	Roles []string `json:"roles"`
	// Claims are the verified token's claims (JWT) or certificate fields;
	// never a credential.
	Claims map[string]any `json:"claims"`
	// Method is how the subject was identified: "jwt", "api_key", "mtls" or
	// "anonymous".
	Method string `json:"method"`
}
