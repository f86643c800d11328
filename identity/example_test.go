package identity_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/veilgw/veil/identity"
)

func ExampleVerifier_Identify() {
	dir, _ := os.MkdirTemp("", "veil-identity-example")
	defer os.RemoveAll(dir)
	secret := "example-secret-that-is-long-enough-0123"
	secretFile := filepath.Join(dir, "hs256.secret")
	_ = os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	keysFile := filepath.Join(dir, "api-keys.yaml")
	_ = os.WriteFile(keysFile, []byte("- {id: nightly-export, roles: [hr], sha256: "+
		identity.APIKeyHash("k-9f2c4a")+"}\n"), 0o600)

	v, err := identity.New(context.Background(), identity.Config{
		JWT:         identity.JWTConfig{HS256SecretFile: secretFile},
		APIKeysFile: keysFile,
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	tok, _ := identity.MintHS256([]byte(secret), "alice", []string{"support"}, time.Hour, nil)
	s, err := v.Identify(identity.Credentials{Authorization: []byte("Bearer " + tok)})
	fmt.Println(s.Method, s.ID, s.Roles, err)

	s, err = v.Identify(identity.Credentials{APIKey: []byte("k-9f2c4a")})
	fmt.Println(s.Method, s.ID, s.Roles, err)

	_, err = v.Identify(identity.Credentials{Authorization: []byte("Basic YWxpY2U6cHc=")})
	fmt.Println(identity.Reason(err))

	s, _ = v.Identify(identity.Credentials{})
	fmt.Println(s.Method, s.Authenticated)
	// Output:
	// jwt alice [support] <nil>
	// api_key nightly-export [hr] <nil>
	// unsupported_scheme
	// anonymous false
}
