package vault

import (
	"context"
	"fmt"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
)

// defaultJWTFile is the Kubernetes service-account token path.
const defaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// authenticator logs in with the configured method and keeps the token alive:
// a lifetime watcher renews it, and when renewal fails or the token reaches
// its maximum TTL it logs in again (with backoff, until it succeeds or the
// keyring closes).
type authenticator struct {
	cfg    VaultAuthConfig
	client *vaultapi.Client
	authHooks

	mu     sync.Mutex
	secret *vaultapi.Secret // last login answer; nil when there is nothing to renew
}

// authHooks feed the keyring's stats.
type authHooks struct {
	onError func() // a Vault call failed
	onLogin func() // a login succeeded
	onRenew func() // a renewal succeeded
}

func newAuthenticator(cfg VaultAuthConfig, client *vaultapi.Client, hooks authHooks) (*authenticator, error) {
	switch cfg.Method {
	case "token":
	case "approle":
		if cfg.RoleID == "" || cfg.SecretIDFile == "" {
			return nil, fmt.Errorf("%w: auth method approle needs auth.role_id and auth.secret_id_file", ErrVaultConfig)
		}
		if cfg.MountPath == "" {
			cfg.MountPath = "approle"
		}
	case "kubernetes":
		if cfg.Role == "" {
			return nil, fmt.Errorf("%w: auth method kubernetes needs auth.role", ErrVaultConfig)
		}
		if cfg.JWTFile == "" {
			cfg.JWTFile = defaultJWTFile
		}
		if cfg.MountPath == "" {
			cfg.MountPath = "kubernetes"
		}
	default:
		return nil, fmt.Errorf("%w: unknown auth.method %q (want token, approle or kubernetes)", ErrVaultConfig, cfg.Method)
	}
	return &authenticator{cfg: cfg, client: client, authHooks: hooks}, nil
}

// login obtains a token and installs it on the client.
func (a *authenticator) login(ctx context.Context) error {
	var s *vaultapi.Secret
	switch a.cfg.Method {
	case "token":
		tok, err := tokenFromFileOrEnv(a.cfg.TokenFile)
		if err != nil {
			return err
		}
		a.client.SetToken(tok)
		self, err := a.client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return fmt.Errorf("%w: token lookup at %s: %v", ErrVault, a.client.Address(), err)
		}
		renewable, _ := self.TokenIsRenewable()
		ttl, _ := self.TokenTTL()
		if ttl > 0 {
			s = &vaultapi.Secret{Auth: &vaultapi.SecretAuth{ClientToken: tok, Renewable: renewable, LeaseDuration: int(ttl / time.Second)}}
		}
	case "approle":
		m, err := approle.NewAppRoleAuth(a.cfg.RoleID, &approle.SecretID{FromFile: a.cfg.SecretIDFile}, approle.WithMountPath(a.cfg.MountPath))
		if err != nil {
			return fmt.Errorf("%w: approle: %v", ErrVaultConfig, err)
		}
		s, err = a.client.Auth().Login(ctx, m)
		if err != nil {
			return fmt.Errorf("%w: approle login at %s: %v", ErrVault, a.client.Address(), err)
		}
	case "kubernetes":
		m, err := kubernetes.NewKubernetesAuth(a.cfg.Role, kubernetes.WithServiceAccountTokenPath(a.cfg.JWTFile), kubernetes.WithMountPath(a.cfg.MountPath))
		if err != nil {
			return fmt.Errorf("%w: kubernetes: %v", ErrVaultConfig, err)
		}
		s, err = a.client.Auth().Login(ctx, m)
		if err != nil {
			return fmt.Errorf("%w: kubernetes login at %s: %v", ErrVault, a.client.Address(), err)
		}
	}
	if s != nil && (s.Auth == nil || s.Auth.LeaseDuration <= 0) {
		s = nil // no TTL: nothing to renew
	}
	a.mu.Lock()
	a.secret = s
	a.mu.Unlock()
	a.onLogin()
	return nil
}

// watch renews the token until ctx ends, logging in again whenever the
// lifetime watcher gives up.
func (a *authenticator) watch(ctx context.Context) {
	for {
		a.mu.Lock()
		s := a.secret
		a.mu.Unlock()
		if s == nil {
			<-ctx.Done() // a token without TTL never needs renewal
			return
		}
		w, err := a.client.NewLifetimeWatcher(&vaultapi.LifetimeWatcherInput{Secret: s})
		if err != nil {
			a.onError()
			<-ctx.Done()
			return
		}
		go w.Start()
		if !a.runWatcher(ctx, w) {
			w.Stop()
			return
		}
		w.Stop()
		if !a.relogin(ctx) {
			return
		}
	}
}

// runWatcher returns true when the watcher ended (time to log in again) and
// false when ctx ended.
func (a *authenticator) runWatcher(ctx context.Context, w *vaultapi.LifetimeWatcher) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case err := <-w.DoneCh():
			if err != nil {
				a.onError()
			}
			return true
		case <-w.RenewCh():
			a.onRenew()
		}
	}
}

// relogin retries login with exponential backoff (100ms to 30s) until it
// succeeds (true) or ctx ends (false).
func (a *authenticator) relogin(ctx context.Context) bool {
	backoff := 100 * time.Millisecond
	for {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := a.login(lctx)
		cancel()
		if err == nil {
			return true
		}
		a.onError()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		if backoff *= 2; backoff > 30*time.Second {
			backoff = 30 * time.Second
		}
	}
}
