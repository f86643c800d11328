package identity

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
)

// Credentials are what the gateway read from the request. A nil field means
// the credential was absent; a non-nil but empty one was presented (and is
// refused).
type Credentials struct {
	// Authorization is the raw Authorization header value.
	Authorization []byte
	// APIKey is the raw value of the configured API key header.
	APIKey []byte
	// PeerCertificates is the verified mTLS client chain, leaf first.
	PeerCertificates []*x509.Certificate
}

// Verifier identifies callers. It is safe for concurrent use; all loading
// and compiling happens in New.
type Verifier struct {
	jwt     *jwtVerifier
	apiKeys atomic.Pointer[[]apiKey] // nil: API keys disabled
	keyFile string
	jwks    *jwksSource
	cancel  context.CancelFunc
	header  string
}

// options are test knobs; the zero value is production behaviour.
type options struct {
	jwks      jwksOptions
	cacheSize int
}

// New loads the HS256 secret file and the API keys file, and when a JWKS
// URL is configured fetches it once (waiting at most 10s; a failed first
// fetch is logged and reported by Ready, not returned) and keeps it
// refreshed until ctx ends or Close is called. Errors wrap ErrConfig and
// never contain a secret.
func New(ctx context.Context, cfg Config, logger *zap.Logger) (*Verifier, error) {
	return newVerifier(ctx, cfg, logger, options{})
}

func newVerifier(ctx context.Context, cfg Config, logger *zap.Logger, o options) (*Verifier, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var secret []byte
	if cfg.JWT.HS256SecretFile != "" {
		if secret, err = loadSecret(cfg.JWT.HS256SecretFile, logger); err != nil {
			return nil, err
		}
	}
	v := &Verifier{header: cfg.APIKeyHeader, keyFile: cfg.APIKeysFile}
	if cfg.APIKeysFile != "" {
		if err := v.ReloadAPIKeys(); err != nil {
			return nil, err
		}
	}
	ctx, v.cancel = context.WithCancel(ctx)
	if cfg.JWT.JWKSURL != "" {
		if v.jwks, err = newJWKSSource(ctx, cfg.JWT.JWKSURL, cfg.JWT.JWKSRefresh, logger, o.jwks); err != nil {
			v.cancel()
			return nil, err
		}
	}
	v.jwt = newJWTVerifier(cfg.JWT, secret, v.jwks, o.cacheSize)
	logger.Info("identity: verifier ready",
		zap.Bool("hs256", secret != nil),
		zap.Bool("jwks", v.jwks != nil),
		zap.Int("api_keys", v.apiKeyCount()),
		zap.Bool("jwks_fetched", v.jwks != nil && v.jwks.ready()))
	return v, nil
}

// loadSecret reads the HS256 secret, trimmed of surrounding whitespace,
// and warns when the file is readable by group or others.
func loadSecret(path string, logger *zap.Logger) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: jwt.hs256_secret_file: %w", errors.Join(err, ErrConfig))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("identity: HS256 secret file is readable by group or others",
			zap.String("file", path), zap.String("mode", fi.Mode().Perm().String()))
	}
	secret := bytes.TrimSpace(raw)
	if len(secret) < minHS256SecretLen {
		return nil, fmt.Errorf("identity: jwt.hs256_secret_file: secret shorter than %d bytes: %w", minHS256SecretLen, ErrConfig)
	}
	return slices.Clone(secret), nil
}

// APIKeyHeader is the header the gateway reads the API key from (the
// configured api_key_header, default "X-API-Key").
func (v *Verifier) APIKeyHeader() string { return v.header }

// Identify verifies the presented credentials:
//   - an Authorization header and an API key together are refused
//     ("ambiguous_credentials"), whether or not either is valid;
//   - Authorization must be "Bearer <JWT>" ("unsupported_scheme" otherwise);
//   - an API key must match an entry of the API keys file;
//   - with neither, a verified client certificate identifies the caller
//     (when another credential is present the certificate is only the
//     transport's business and does not name the subject);
//   - with nothing at all the caller is anonymous.
//
// Every error wraps ErrInvalidCredential (see Reason) and comes with the
// zero Subject; the gateway answers 401.
//
// A valid token seen before is answered from a bounded cache until it
// expires or the JWKS changes. Roles and Claims may be shared with other
// calls and must be treated as read-only (Roles has no spare capacity, so
// an append copies).
func (v *Verifier) Identify(c Credentials) (Subject, error) {
	switch {
	case c.Authorization != nil && c.APIKey != nil:
		return Subject{}, errAmbiguousCredentials
	case c.Authorization != nil:
		tok, err := bearerToken(c.Authorization)
		if err != nil {
			return Subject{}, err
		}
		return v.jwt.verify(tok)
	case c.APIKey != nil:
		return v.identifyAPIKey(c.APIKey)
	case len(c.PeerCertificates) > 0:
		return certSubject(c.PeerCertificates)
	}
	return Subject{Method: "anonymous"}, nil
}

// ReloadAPIKeys re-reads api_keys_file (`veil serve` does on SIGHUP):
// added keys work and removed keys stop working from the next request. A
// file that does not load is reported and the keys in use stay. Without
// an api_keys_file it does nothing.
func (v *Verifier) ReloadAPIKeys() error {
	if v.keyFile == "" {
		return nil
	}
	keys, err := loadAPIKeys(v.keyFile)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []apiKey{} // configured but empty: every key is unknown
	}
	v.apiKeys.Store(&keys)
	return nil
}

func (v *Verifier) apiKeyCount() int {
	if k := v.apiKeys.Load(); k != nil {
		return len(*k)
	}
	return 0
}

func (v *Verifier) identifyAPIKey(key []byte) (Subject, error) {
	if len(key) == 0 {
		return Subject{}, errUnknownAPIKey
	}
	keys := v.apiKeys.Load()
	if keys == nil {
		return Subject{}, errUnknownAPIKey
	}
	k, ok := lookupAPIKey(*keys, key)
	if !ok {
		return Subject{}, errUnknownAPIKey
	}
	return Subject{
		Authenticated: true,
		ID:            k.id,
		Roles:         slices.Clip(k.roles),
		Method:        "api_key",
	}, nil
}

// bearerToken extracts the token of "Bearer <token>" (scheme
// case-insensitive, RFC 7235).
func bearerToken(h []byte) ([]byte, error) {
	scheme, rest, _ := bytes.Cut(h, []byte{' '})
	if !bytes.EqualFold(scheme, []byte("Bearer")) {
		return nil, errUnsupportedScheme
	}
	tok := bytes.TrimLeft(rest, " ")
	// Two vectorised byte searches: ContainsAny walks the token a byte
	// at a time, on every request.
	if len(tok) == 0 || bytes.IndexByte(tok, ' ') >= 0 || bytes.IndexByte(tok, '\t') >= 0 {
		return nil, errMalformedToken
	}
	return tok, nil
}

// Ready returns ErrNotReady while a configured JWKS has never been fetched
// successfully, else nil.
func (v *Verifier) Ready() error {
	if v.jwks != nil && !v.jwks.ready() {
		return ErrNotReady
	}
	return nil
}

// Close stops the background JWKS refresh. Identify keeps working with the
// keys already fetched.
func (v *Verifier) Close() { v.cancel() }
