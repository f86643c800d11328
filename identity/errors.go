package identity

import "errors"

// ErrInvalidCredential is the kind of every error Identify returns: a
// credential was presented but could not be verified (the gateway answers
// 401). The wrapped error carries a short fixed reason code; use Reason to
// read it. No error ever contains a credential or a claim value.
var ErrInvalidCredential = errors.New("invalid credential")

// ErrConfig is the kind of every error New returns for an invalid
// configuration or an unreadable/invalid secret or API keys file.
var ErrConfig = errors.New("identity: invalid configuration")

// ErrNotReady is returned by Ready while a configured JWKS has not been
// fetched successfully yet.
var ErrNotReady = errors.New("identity: JWKS not fetched yet")

// Reason codes carried by errors that wrap ErrInvalidCredential. They are
// stable: the gateway puts them in the audit event's error_code.
const (
	ReasonMalformedToken       = "malformed_token"
	ReasonBadSignature         = "bad_signature"
	ReasonAlgNotAllowed        = "alg_not_allowed"
	ReasonUnknownKey           = "unknown_key"
	ReasonTokenExpired         = "token_expired"
	ReasonTokenNotYetValid     = "token_not_yet_valid"
	ReasonMissingExp           = "missing_exp"
	ReasonWrongIssuer          = "wrong_issuer"
	ReasonWrongAudience        = "wrong_audience"
	ReasonMissingSubject       = "missing_subject"
	ReasonUnknownAPIKey        = "unknown_api_key"
	ReasonUnsupportedScheme    = "unsupported_scheme"
	ReasonAmbiguousCredentials = "ambiguous_credentials"
	ReasonBadCertificate       = "bad_certificate"
)

// credError is an invalid-credential error with a fixed reason code. The
// values are allocated once (see below) so a flood of bad credentials costs
// no allocation for the error itself.
type credError struct {
	reason string
	msg    string
}

func newCredError(reason string) *credError {
	return &credError{reason: reason, msg: "identity: " + reason + ": " + ErrInvalidCredential.Error()}
}

func (e *credError) Error() string { return e.msg }

func (e *credError) Unwrap() error { return ErrInvalidCredential }

var (
	errMalformedToken       = newCredError(ReasonMalformedToken)
	errBadSignature         = newCredError(ReasonBadSignature)
	errAlgNotAllowed        = newCredError(ReasonAlgNotAllowed)
	errUnknownKey           = newCredError(ReasonUnknownKey)
	errTokenExpired         = newCredError(ReasonTokenExpired)
	errTokenNotYetValid     = newCredError(ReasonTokenNotYetValid)
	errMissingExp           = newCredError(ReasonMissingExp)
	errWrongIssuer          = newCredError(ReasonWrongIssuer)
	errWrongAudience        = newCredError(ReasonWrongAudience)
	errMissingSubject       = newCredError(ReasonMissingSubject)
	errUnknownAPIKey        = newCredError(ReasonUnknownAPIKey)
	errUnsupportedScheme    = newCredError(ReasonUnsupportedScheme)
	errAmbiguousCredentials = newCredError(ReasonAmbiguousCredentials)
	errBadCertificate       = newCredError(ReasonBadCertificate)
)

// Reason returns the reason code of an error returned by Identify, or ""
// when err is nil or not an invalid-credential error.
func Reason(err error) string {
	var ce *credError
	if errors.As(err, &ce) {
		return ce.reason
	}
	return ""
}
