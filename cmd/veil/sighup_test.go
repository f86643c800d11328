package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veilgw/veil/identity"
)

// TestSIGHUPReloadsAPIKeys: `veil serve` re-reads api_keys_file on SIGHUP:
// a key added to the file is accepted, a removed one refused, without a
// restart.
func TestSIGHUPReloadsAPIKeys(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGHUP")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer up.Close()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.yaml")
	writeFile(t, keys, "- {id: old, roles: [r], sha256: "+identity.APIKeyHash("old-key-123")+"}\n")
	writeFile(t, filepath.Join(dir, "rego", "p.rego"), "package veil\ndecision := {\"allow\": input.subject.authenticated}\n")
	cfg := filepath.Join(dir, "veil.yaml")
	writeFile(t, cfg, strings.Join([]string{
		"listen: 127.0.0.1:0",
		"admin_listen: 127.0.0.1:0",
		"routes: [{name: api, match: {path_prefix: /api/}, upstreams: ['" + up.URL + "']}]",
		"policy: {dir: " + filepath.Join(dir, "rego") + "}",
		"identity: {api_keys_file: " + keys + "}",
		"keys: {local: {file: " + filepath.Join(dir, "dev-keys.json") + "}}",
		"audit: {sinks: [{type: file, path: " + filepath.Join(dir, "audit.log") + "}]}",
	}, "\n")+"\n")
	p := startVeil(t, "serve", "--config", cfg, "--grace", "5s")
	p.waitReady(t)
	status := func(key string) int {
		req, _ := http.NewRequest("GET", "http://"+p.listen+"/api/x", nil)
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("old-key-123") != 200 || status("new-key-456") != 401 {
		t.Fatal("initial keys not as configured")
	}
	writeFile(t, keys, "- {id: new, roles: [r], sha256: "+identity.APIKeyHash("new-key-456")+"}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status("new-key-456") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("new key not accepted after SIGHUP; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status("old-key-123") != 401 {
		t.Fatal("a removed key still works after SIGHUP")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if st := p.wait(t, 10*time.Second); !st.Success() {
		t.Fatalf("exit after SIGTERM: %v", st)
	}
}
