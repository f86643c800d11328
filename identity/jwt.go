package identity

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtVerifier verifies bearer tokens. Everything is decided at New: the
// parser (methods, leeway, issuer, audience) and the claim paths.
type jwtVerifier struct {
	parser  *jwt.Parser
	secret  []byte      // nil: HS256 disabled
	jwks    *jwksSource // nil: JWKS disabled
	methods []string    // every algorithm accepted by some key source
	cache   *tokenCache

	rolesClaim   string
	rolesPath    []string
	subjectClaim string
	subjectPath  []string
	issuer       string
	audience     string
}

func newJWTVerifier(cfg JWTConfig, secret []byte, jwks *jwksSource, cacheSize int) *jwtVerifier {
	j := &jwtVerifier{
		cache:        newTokenCache(cacheSize, cfg.Leeway),
		secret:       secret,
		jwks:         jwks,
		rolesClaim:   cfg.RolesClaim,
		rolesPath:    strings.Split(cfg.RolesClaim, "."),
		subjectClaim: cfg.SubjectClaim,
		subjectPath:  strings.Split(cfg.SubjectClaim, "."),
		issuer:       cfg.Issuer,
		audience:     cfg.Audience,
	}
	if secret != nil {
		j.methods = append(j.methods, jwt.SigningMethodHS256.Alg())
	}
	if jwks != nil {
		j.methods = append(j.methods, jwksMethods...)
	}
	// An empty list would mean "any method" to jwt: with no key source,
	// list a name no algorithm has.
	valid := j.methods
	if len(valid) == 0 {
		valid = []string{"(no key source configured)"}
	}
	po := []jwt.ParserOption{
		jwt.WithValidMethods(valid),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		po = append(po, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		po = append(po, jwt.WithAudience(cfg.Audience))
	}
	j.parser = jwt.NewParser(po...)
	return j
}

// keyFor is the jwt.Keyfunc: each key source verifies only its own
// algorithms, so an HS256 token is only ever checked against the shared
// secret (never against a JWKS public key) and an asymmetric token only
// against JWKS keys of the matching type.
//
// A "crit" header (RFC 7515 section 4.1.11) names extensions the token
// requires its verifier to understand; we understand none, so refuse it.
func (j *jwtVerifier) keyFor(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errMalformedToken
	}
	switch {
	case t.Method == jwt.SigningMethodHS256:
		if j.secret == nil {
			return nil, errAlgNotAllowed
		}
		return j.secret, nil
	case j.jwks != nil && slices.Contains(jwksMethods, t.Method.Alg()):
		return j.jwks.key(t)
	}
	return nil, errAlgNotAllowed
}

func (j *jwtVerifier) algAllowed(alg string) bool {
	return alg != "none" && slices.Contains(j.methods, alg)
}

// verify checks a compact JWS and builds the Subject. A token verified
// before is answered from the cache (see tokenCache).
func (j *jwtVerifier) verify(token []byte) (Subject, error) {
	if len(token) > maxTokenLen {
		return Subject{}, errMalformedToken
	}
	h := sha256.Sum256(token)
	gen := j.generation() // read before verifying: a refresh meanwhile voids the entry
	if s, ok := j.cache.get(&h, gen, time.Now()); ok {
		return s, nil
	}
	claims := jwt.MapClaims{}
	t, err := j.parser.ParseWithClaims(string(token), claims, j.keyFor)
	if err != nil {
		return Subject{}, j.classify(t, claims, err)
	}
	id, err := stringClaim(claims, j.subjectClaim, j.subjectPath)
	if err != nil {
		return Subject{}, err
	}
	roles, err := rolesClaim(claims, j.rolesClaim, j.rolesPath)
	if err != nil {
		return Subject{}, err
	}
	s := Subject{
		Authenticated: true,
		ID:            id,
		Roles:         roles,
		Claims:        map[string]any(claims),
		Method:        "jwt",
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil { // always: exp is required
		s.Roles = slices.Clip(roles) // shared with cache hits: an append must not alias
		j.cache.put(&h, s, exp.Time, gen)
	}
	return s, nil
}

// generation identifies the current key set: it changes whenever the JWKS
// is replaced by a refresh.
func (j *jwtVerifier) generation() uint64 {
	if j.jwks == nil {
		return 0
	}
	return j.jwks.fetched.gen.Load()
}

// classify maps a jwt error to one fixed reason. When several checks fail
// the order below decides, so the reason is deterministic.
func (j *jwtVerifier) classify(t *jwt.Token, claims jwt.MapClaims, err error) error {
	var ce *credError
	switch {
	case errors.As(err, &ce): // from keyFor
		return ce
	case t == nil || errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformedToken
	case t.Method == nil || !j.algAllowed(t.Method.Alg()):
		return errAlgNotAllowed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errBadSignature
	case errors.Is(err, jwt.ErrInvalidType):
		return errMalformedToken
	}
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		if exp, _ := claims.GetExpirationTime(); exp == nil {
			return errMissingExp
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errTokenNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errWrongAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if iss, _ := claims.GetIssuer(); j.issuer != "" && iss == "" {
			return errWrongIssuer
		}
		if j.audience != "" {
			return errWrongAudience
		}
	}
	return errMalformedToken
}

// lookupClaim finds a claim by its literal name first (namespaced claims
// such as "https://example.com/roles" contain dots), then as a dotted path
// through nested objects.
func lookupClaim(claims jwt.MapClaims, name string, path []string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	if len(path) < 2 {
		return nil, false
	}
	cur := map[string]any(claims)
	for i, seg := range path {
		v, ok := cur[seg]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		if cur, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// stringClaim reads the subject id: a non-empty string.
func stringClaim(claims jwt.MapClaims, name string, path []string) (string, error) {
	v, ok := lookupClaim(claims, name, path)
	if !ok {
		return "", errMissingSubject
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return "", errMalformedToken
	case s == "":
		return "", errMissingSubject
	}
	return s, nil
}

// rolesClaim reads the roles: absent gives none; a non-empty string gives
// one; an array must hold only non-empty strings. Anything else (null,
// numbers, objects, empty strings) refuses the token: a policy must never
// see a roles list the IdP did not mean.
func rolesClaim(claims jwt.MapClaims, name string, path []string) ([]string, error) {
	v, ok := lookupClaim(claims, name, path)
	if !ok {
		return nil, nil
	}
	switch r := v.(type) {
	case string:
		if r == "" {
			return nil, errMalformedToken
		}
		return []string{r}, nil
	case []any:
		roles := make([]string, len(r))
		for i, e := range r {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, errMalformedToken
			}
			roles[i] = s
		}
		return roles, nil
	}
	return nil, errMalformedToken
}
