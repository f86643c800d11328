package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	vaultapi "github.com/hashicorp/vault/api"
)

// fakeTokenReview is a loopback stand-in for the Kubernetes TokenReview API
// that Vault's kubernetes auth method calls: it authenticates exactly one
// service-account token.
func fakeTokenReview(t *testing.T, token, namespace, name, uid string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var reviews atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		reviews.Add(1)
		status := map[string]interface{}{"authenticated": false}
		if req.Spec.Token == token {
			status = map[string]interface{}{
				"authenticated": true,
				"user":          map[string]interface{}{"username": "system:serviceaccount:" + namespace + ":" + name, "uid": uid},
				"audiences":     req.Spec.Audiences,
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]interface{}{
			"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "status": status,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &reviews
}

func TestVaultKubernetesLogin(t *testing.T) {
	t.Parallel()
	srv := requireVault(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const ns, sa, uid = "veil-ns", "veil", "5f1c7e2a-0000-4000-8000-000000000001"
	sat, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss":                                    "kubernetes/serviceaccount",
		"kubernetes.io/serviceaccount/namespace": ns,
		"kubernetes.io/serviceaccount/service-account.name": sa,
		"kubernetes.io/serviceaccount/service-account.uid":  uid,
		"sub": "system:serviceaccount:" + ns + ":" + sa,
		"iat": time.Now().Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	k8s, reviews := fakeTokenReview(t, sat, ns, sa, uid)

	root, err := srv.rootClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	mount := "k8s-" + randomHex(4)
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &vaultapi.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "auth/"+mount+"/config", map[string]interface{}{
		"kubernetes_host": k8s.URL, "disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatal(err)
	}
	cfg := tokenConfig(t, srv, "")
	if _, err := root.Logical().WriteWithContext(ctx, "auth/"+mount+"/role/veil", map[string]interface{}{
		"bound_service_account_names": sa, "bound_service_account_namespaces": ns,
		"token_policies": "root-free-" + mount, "token_ttl": "1h",
	}); err != nil {
		t.Fatal(err)
	}
	// The role's policy: the same grants appRole gave its role.
	if err := root.Sys().PutPolicyWithContext(ctx, "root-free-"+mount, keysPolicy(cfg.KVPrefix)); err != nil {
		t.Fatal(err)
	}
	jwtFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwtFile, []byte(sat), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Auth = VaultAuthConfig{Method: "kubernetes", Role: "veil", JWTFile: jwtFile, MountPath: mount}
	k := openRing(t, cfg)
	mustRotate(t, k, "pii", 0, 1)
	if err := k.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if reviews.Load() < 1 {
		t.Fatal("Vault never asked the Kubernetes API to review the token")
	}

	// A token the cluster does not know is refused.
	if err := os.WriteFile(jwtFile, []byte(sat[:len(sat)-4]+"AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewVaultKeyring(ctx, cfg); !errors.Is(err, ErrVault) || !strings.Contains(err.Error(), "kubernetes login") {
		t.Fatalf("login with an unknown service-account token = %v, want ErrVault", err)
	}
}
