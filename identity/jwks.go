package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// jwksMethods are the only algorithms verified against JWKS keys.
var jwksMethods = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// minRSABits is the smallest RSA modulus accepted from a JWKS.
const minRSABits = 2048

// jwksSource verifies asymmetric tokens against a remote JWK Set: fetched by
// New, refreshed every JWKSRefresh in the background, and refreshed once
// (rate limited) when a token names an unknown key id. It uses jwkset, the
// storage layer of keyfunc/v3, directly: keyfunc's own Keyfunc cannot tell
// an unknown kid from a key of the wrong kind and skips the "use" check for
// tokens without a kid.
type jwksSource struct {
	storage jwkset.Storage
	ctx     context.Context
	fetched *readyStorage
}

// jwksOptions are knobs tests need; zero values mean production defaults.
type jwksOptions struct {
	client             *http.Client
	unknownKIDInterval time.Duration
}

func newJWKSSource(ctx context.Context, u string, refresh time.Duration, logger *zap.Logger, o jwksOptions) (*jwksSource, error) {
	client := o.client
	if client == nil {
		client = &http.Client{Timeout: jwksHTTPTimeout}
	}
	// Bound the size of every JWKS response whatever the client.
	limited := *client
	base := limited.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limited.Transport = limitTransport{base: base, max: jwksMaxBytes}
	// jwks_url's rules (https, plain http only to loopback, no
	// credentials) hold for every request of a fetch: a redirect to
	// http://elsewhere would otherwise let anyone on the path serve the
	// keys that sign tokens.
	limited.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("identity: jwks_url: too many redirects")
		}
		if err := checkJWKSURL(req.URL.String()); err != nil {
			return fmt.Errorf("identity: jwks_url redirected to a URL that breaks its rules: %w", err)
		}
		return nil
	}

	interval := o.unknownKIDInterval
	if interval == 0 {
		interval = unknownKIDRefreshEvery
	}
	store := &readyStorage{MemoryJWKSet: jwkset.NewMemoryStorage()}
	onErr := func(ctx context.Context, err error) {
		// The error names the URL and an HTTP/JSON failure, never a key.
		logger.Warn("identity: JWKS refresh failed", zap.Error(err))
	}
	httpStore, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client:                    &limited,
		Ctx:                       ctx,
		HTTPTimeout:               jwksHTTPTimeout,
		NoErrorReturnFirstHTTPReq: true, // start unready; Ready reports it
		RefreshErrorHandler:       onErr,
		RefreshInterval:           refresh,
		Storage:                   store,
	})
	if err != nil {
		return nil, fmt.Errorf("identity: jwt.jwks_url: %w", errors.Join(err, ErrConfig))
	}
	set, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{u: httpStore},
		// A refresh for an unknown kid waits for the limiter at most this
		// long (when the next slot is further away it fails at once), and
		// the refresh itself is bounded by it too.
		RateLimitWaitMax:  jwksHTTPTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(interval), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("identity: jwt.jwks_url: %w", errors.Join(err, ErrConfig))
	}
	return &jwksSource{storage: set, ctx: ctx, fetched: store}, nil
}

// key is the jwt.Keyfunc for asymmetric tokens. With a kid it reads that
// key (the storage refreshes once, rate limited, for an unknown kid);
// without one it offers every signing key that fits the token. A key whose
// JWK "use" is not "sig", whose JWK "alg" differs from the token's, or whose
// type does not fit the token's algorithm is never returned, so no
// algorithm can be verified with a key of another kind.
func (s *jwksSource) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if kv, ok := t.Header["kid"]; ok {
		kid, ok := kv.(string)
		if !ok {
			return nil, errMalformedToken
		}
		j, err := s.storage.KeyRead(s.ctx, kid)
		if err != nil { // not found, also after the refresh it triggered
			return nil, errUnknownKey
		}
		k, ok := usableKey(j, alg)
		if !ok {
			return nil, errAlgNotAllowed
		}
		return k, nil
	}
	all, err := s.storage.KeyReadAll(s.ctx)
	if err != nil {
		return nil, errUnknownKey
	}
	var set jwt.VerificationKeySet
	for _, j := range all {
		if k, ok := usableKey(j, alg); ok {
			set.Keys = append(set.Keys, k)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errUnknownKey
	}
	return set, nil
}

// usableKey returns the public key of j if j may verify a token signed
// with alg.
func usableKey(j jwkset.JWK, alg string) (any, bool) {
	m := j.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, false
	}
	if a := m.ALG.String(); a != "" && a != alg {
		return nil, false
	}
	k := j.Key()
	if pk, ok := k.(publicKeyer); ok {
		k = pk.Public()
	}
	return k, keyFits(alg, k)
}

// keyFits reports whether k is a public key of the kind alg needs.
func keyFits(alg string, k any) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		rk, ok := k.(*rsa.PublicKey)
		return ok && rk.N.BitLen() >= minRSABits
	case "ES256":
		ek, ok := k.(*ecdsa.PublicKey)
		return ok && ek.Curve == elliptic.P256()
	case "ES384":
		ek, ok := k.(*ecdsa.PublicKey)
		return ok && ek.Curve == elliptic.P384()
	case "EdDSA":
		_, ok := k.(ed25519.PublicKey)
		return ok
	}
	return false
}

// publicKeyer is implemented by private keys (a JWKS wrongly publishing a
// private key still only ever yields its public half).
type publicKeyer interface{ Public() crypto.PublicKey }

// ready reports whether the JWKS was fetched successfully at least once.
func (s *jwksSource) ready() bool { return s.fetched.ok.Load() }

// readyStorage records the first successful JWKS fetch: jwkset replaces the
// whole key set only after a response was fetched and decoded.
// Each replacement also bumps gen, which voids cached verifications.
type readyStorage struct {
	*jwkset.MemoryJWKSet
	ok  atomic.Bool
	gen atomic.Uint64
}

func (r *readyStorage) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	if err := r.MemoryJWKSet.KeyReplaceAll(ctx, given); err != nil {
		return err
	}
	// A token verified concurrently read the generation before this bump,
	// so its cache entry is never served.
	r.gen.Add(1)
	r.ok.Store(true)
	return nil
}

// limitTransport fails a JWKS response larger than max bytes.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (l limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: l.max}
	return resp, nil
}

var errJWKSTooLarge = errors.New("identity: JWKS response too large")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
