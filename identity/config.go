package identity

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New to zero-valued fields.
const (
	DefaultRolesClaim   = "roles"
	DefaultSubjectClaim = "sub"
	DefaultLeeway       = 30 * time.Second
	DefaultJWKSRefresh  = 10 * time.Minute
	DefaultAPIKeyHeader = "X-API-Key"

	// minHS256SecretLen is the shortest accepted HS256 secret (RFC 7518
	// section 3.2: at least the size of the hash output).
	minHS256SecretLen = 32
	// maxTokenLen bounds the bearer token accepted before any decoding.
	maxTokenLen = 16 << 10
	// jwksHTTPTimeout bounds every JWKS fetch, including the first one,
	// which New waits for.
	jwksHTTPTimeout = 10 * time.Second
	// jwksMaxBytes bounds a JWKS response body.
	jwksMaxBytes = 1 << 20
	// unknownKIDRefreshEvery is the minimum interval between two JWKS
	// refreshes triggered by tokens naming an unknown key id.
	unknownKIDRefreshEvery = 30 * time.Second
	// minJWKSRefresh is the shortest accepted periodic refresh interval.
	minJWKSRefresh = time.Second
)

// JWTConfig configures bearer-token (JWT) verification. With both
// HS256SecretFile and JWKSURL empty, every bearer token is refused with
// "alg_not_allowed".
type JWTConfig struct {
	// HS256SecretFile is a file holding the shared HS256 secret (development
	// use); surrounding whitespace is trimmed and at least 32 bytes must
	// remain. Default "": HS256 disabled.
	HS256SecretFile string `yaml:"hs256_secret_file"`
	// JWKSURL is the JSON Web Key Set of the identity provider, used for
	// RS256/RS384/RS512/PS256/ES256/ES384/EdDSA tokens. It must be https
	// unless its host is a loopback address, and must not carry
	// credentials. Default "": JWKS disabled.
	JWKSURL string `yaml:"jwks_url"`
	// Issuer, when set, must equal the token's "iss" claim. Default "": not
	// checked.
	Issuer string `yaml:"issuer"`
	// Audience, when set, must be one of the token's "aud" values. Default
	// "": not checked.
	Audience string `yaml:"audience"`
	// RolesClaim names the claim holding the roles: a string or an array of
	// strings. A name that is not a top-level claim is read as a dotted path
	// ("realm_access.roles"). An absent claim gives no roles; any other type
	// refuses the token. Default "roles".
	RolesClaim string `yaml:"roles_claim"`
	// SubjectClaim names the claim holding the subject id, a non-empty
	// string (dotted paths as for RolesClaim). Default "sub".
	SubjectClaim string `yaml:"subject_claim"`
	// Leeway is the clock skew tolerated for "exp", "nbf" and "iat".
	// Default (and when zero) 30s; negative is refused.
	Leeway time.Duration `yaml:"leeway"`
	// JWKSRefresh is the interval between periodic JWKS refreshes; a token
	// naming an unknown key id also triggers a refresh, at most once every
	// 30s. Default 10m, minimum 1s.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
}

// Config configures the Verifier.
type Config struct {
	// JWT configures bearer-token verification.
	JWT JWTConfig `yaml:"jwt"`
	// APIKeysFile is a YAML list of API keys, each {id, roles, sha256}
	// where sha256 is the hex SHA-256 of the key (see APIKeyHash); keys
	// themselves are never stored. Default "": API keys disabled (any
	// presented key is refused).
	APIKeysFile string `yaml:"api_keys_file"`
	// APIKeyHeader is the request header carrying an API key; the gateway
	// reads it. Default "X-API-Key".
	APIKeyHeader string `yaml:"api_key_header"`
}

// withDefaults returns cfg with defaults applied, or an ErrConfig error.
func (cfg Config) withDefaults() (Config, error) {
	j := &cfg.JWT
	if j.RolesClaim == "" {
		j.RolesClaim = DefaultRolesClaim
	}
	if j.SubjectClaim == "" {
		j.SubjectClaim = DefaultSubjectClaim
	}
	if j.Leeway == 0 {
		j.Leeway = DefaultLeeway
	}
	if j.JWKSRefresh == 0 {
		j.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.APIKeyHeader == "" {
		cfg.APIKeyHeader = DefaultAPIKeyHeader
	}
	switch {
	case j.Leeway < 0:
		return cfg, fmt.Errorf("identity: jwt.leeway must not be negative: %w", ErrConfig)
	case j.JWKSRefresh < minJWKSRefresh:
		return cfg, fmt.Errorf("identity: jwt.jwks_refresh must be at least %s: %w", minJWKSRefresh, ErrConfig)
	case !validClaimPath(j.RolesClaim):
		return cfg, fmt.Errorf("identity: jwt.roles_claim has an empty path segment: %w", ErrConfig)
	case !validClaimPath(j.SubjectClaim):
		return cfg, fmt.Errorf("identity: jwt.subject_claim has an empty path segment: %w", ErrConfig)
	}
	if j.JWKSURL != "" {
		if err := checkJWKSURL(j.JWKSURL); err != nil {
			return cfg, err
		}
	}
	if err := checkAPIKeyHeader(cfg.APIKeyHeader); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// reservedHeaders are request headers the gateway sets, echoes, logs,
// reads for framing or routing, or reads as another credential: an API key
// carried in one would be copied where keys must never go (X-Request-Id is
// echoed to the client, sent upstream and audited).
var reservedHeaders = map[string]bool{
	"x-request-id": true, "x-forwarded-for": true, "x-forwarded-proto": true, "x-forwarded-host": true,
	"forwarded": true, "host": true, "cookie": true, "authorization": true, "proxy-authorization": true,
	"connection": true, "keep-alive": true, "transfer-encoding": true, "te": true, "trailer": true,
	"upgrade": true, "content-length": true, "content-type": true, "content-encoding": true,
	"x-http-method-override": true, "x-http-method": true, "x-method-override": true,
}

// checkAPIKeyHeader refuses an api_key_header that is not a header name
// (RFC 9110 token) or that names a reserved header.
func checkAPIKeyHeader(name string) error {
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return fmt.Errorf("identity: api_key_header %q is not a header name: %w", name, ErrConfig)
		}
	}
	if reservedHeaders[strings.ToLower(name)] {
		return fmt.Errorf("identity: api_key_header %q is a header the gateway sets, logs or reads otherwise: %w", name, ErrConfig)
	}
	return nil
}

func validClaimPath(p string) bool {
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

// checkJWKSURL refuses URLs that would let a network attacker substitute
// keys (plain http to a non-loopback host) or that embed credentials.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("identity: jwt.jwks_url is not an absolute URL: %w", ErrConfig)
	}
	if u.User != nil {
		return fmt.Errorf("identity: jwt.jwks_url must not contain credentials: %w", ErrConfig)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("identity: jwt.jwks_url must use https (plain http only to loopback): %w", ErrConfig)
	default:
		return fmt.Errorf("identity: jwt.jwks_url scheme must be https: %w", ErrConfig)
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
