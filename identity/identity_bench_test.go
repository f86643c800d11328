package identity

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

func BenchmarkIdentify(b *testing.B) {
	k := keys()
	srv := newJWKSServer(b,
		jwk{kid: "rsa", alg: jwkset.AlgRS256, key: &k.rsa.PublicKey},
		jwk{kid: "ec", key: &k.ec256.PublicKey},
		jwk{kid: "ed", key: k.ed.Public()})
	cfg := Config{
		JWT: JWTConfig{HS256SecretFile: writeFile(b, "s", testSecret), JWKSURL: srv.srv.URL, Issuer: "https://idp.test", Audience: "veil"},
		APIKeysFile: writeFile(b, "k", "- {id: a, roles: [r], sha256: "+APIKeyHash("key-a")+"}\n"+
			"- {id: b, roles: [r], sha256: "+APIKeyHash("key-b")+"}\n"),
	}
	newV := func(cacheSize int) *Verifier {
		v, err := newVerifier(b.Context(), cfg, nil, options{jwks: jwksOptions{unknownKIDInterval: time.Hour}, cacheSize: cacheSize})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(v.Close)
		return v
	}
	cached, uncached := newV(0), newV(-1)
	ca := newTestCA(b)
	chain := []*x509.Certificate{ca.issue(b, pkix.Name{CommonName: "svc", OrganizationalUnit: []string{"r"}}, nil, nil)}
	cases := []struct {
		name string
		c    Credentials
	}{
		{"anonymous", Credentials{}},
		{"hs256", bearer(mint(b, jwt.SigningMethodHS256, []byte(testSecret), "", claims()))},
		{"rs256", bearer(mint(b, jwt.SigningMethodRS256, k.rsa, "rsa", claims()))},
		{"es256", bearer(mint(b, jwt.SigningMethodES256, k.ec256, "ec", claims()))},
		{"eddsa", bearer(mint(b, jwt.SigningMethodEdDSA, k.ed, "ed", claims()))},
		{"hs256_bad_signature", bearer(mint(b, jwt.SigningMethodHS256, []byte(testSecret+"x"), "", claims()))},
		{"api_key", Credentials{APIKey: []byte("key-b")}},
		{"mtls", Credentials{PeerCertificates: chain}},
	}
	for _, c := range cases {
		for _, v := range []struct {
			name string
			v    *Verifier
		}{{"uncached", uncached}, {"cached", cached}} {
			b.Run(c.name+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = v.v.Identify(c.c)
				}
			})
		}
	}
}
