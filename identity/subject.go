// Package identity verifies the caller's credentials (JWT bearer tokens
// against an HS256 secret or a JWKS, API keys stored hashed, mTLS client
// certificates) and turns them into a Subject for the policy input.
//
// It owns credential verification only: which algorithms each key source
// may verify (HS256 only against the shared secret; RS/PS/ES/EdDSA only
// against JWKS keys of the matching type), the JWKS cache and its refresh,
// the hashed API key table, and the fixed reason codes of a refusal (see
// Reason). The gateway maps any error to 401 and an absent credential to
// the anonymous subject; the policy decides what either may do.
//
// It knows nothing about policies, routes, bodies or HTTP servers (the
// caller hands it raw header values and the verified TLS chain), and never
// logs or returns a credential.
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
