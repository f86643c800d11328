package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veilgw/veil/identity"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeCommand runs `veil serve --config` in-process with an API key,
// a policy directory (hot-reloaded) and a file audit sink, then stops it
// the way SIGTERM does (context cancellation).
func TestServeCommand(t *testing.T) {
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c-1","ssn":"123-45-6789"}`)
	})}
	upLn, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = up.Serve(upLn) }()
	defer up.Close()

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rego", "p.rego"), `package veil
decision := {"allow": true, "response_transforms": [{"path": "$.ssn", "action": "mask", "keep_last": 4}]} if "reporting" in input.subject.roles
decision := {"allow": false, "status": 401, "reason": "authentication required"} if not input.subject.authenticated
`)
	writeFile(t, filepath.Join(dir, "keys.yaml"), "- id: svc-reporting\n  roles: [reporting]\n  sha256: "+identity.APIKeyHash("k-123456")+"\n")
	listen, admin := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "veil.yaml")
	writeFile(t, cfg, strings.Join([]string{
		"listen: " + listen,
		"admin_listen: " + admin,
		"routes: [{name: crm, match: {path_prefix: /crm/}, strip_prefix: true, upstreams: ['http://" + upLn.Addr().String() + "']}]",
		"identity: {api_keys_file: " + filepath.Join(dir, "keys.yaml") + "}",
		"policy: {dir: " + filepath.Join(dir, "rego") + "}",
		"keys: {local: {file: " + filepath.Join(dir, "dev-keys.json") + "}}",
		"audit: {sinks: [{type: file, path: " + filepath.Join(dir, "audit.log") + "}]}",
	}, "\n"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs([]string{"serve", "--config", cfg, "--grace", "5s"})
		root.SetOut(io.Discard)
		done <- root.ExecuteContext(ctx)
	}()
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("/crm/x", ""); code != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("veil serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/crm/x", "k-123456"); code != 200 || body != `{"id":"c-1","ssn":"*******6789"}` {
		t.Fatalf("api key: %d %s", code, body)
	}
	if code, _ := get("/crm/x", "wrong"); code != 401 {
		t.Fatalf("unknown api key: %d", code)
	}
	if code, _ := get("/crm/x", ""); code != 401 {
		t.Fatalf("anonymous: %d", code)
	}
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()

	// Hot reload: a new revision that allows anonymous callers.
	writeFile(t, filepath.Join(dir, "rego", "p.rego"), `package veil
decision := {"allow": true, "response_transforms": [{"path": "$.ssn", "action": "redact"}]}
`)
	for {
		if code, body := get("/crm/x", ""); code == 200 && body == `{"id":"c-1"}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("policy change not picked up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken revision is refused; the previous one keeps serving.
	writeFile(t, filepath.Join(dir, "rego", "p.rego"), "package veil\ndecision := {")
	time.Sleep(600 * time.Millisecond)
	if code, body := get("/crm/x", ""); code != 200 || body != `{"id":"c-1"}` {
		t.Fatalf("after a broken revision: %d %s", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	// The trail verifies with the public key (a clean shutdown wrote the
	// final checkpoint); an edited copy does not.
	pub, code := run(t, "audit", "pubkey", "--config", cfg)
	if code != 0 {
		t.Fatalf("audit pubkey: %s", pub)
	}
	writeFile(t, filepath.Join(dir, "audit.pub"), pub)
	if out, code := run(t, "audit", "verify", "--pubkey", filepath.Join(dir, "audit.pub"), filepath.Join(dir, "audit.log")); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("audit verify: exit %d\n%s", code, out)
	}
	trail, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	edited := filepath.Join(dir, "edited.log")
	writeFile(t, edited, strings.Replace(string(trail), `"status":200`, `"status":403`, 1))
	if out, code := run(t, "audit", "verify", edited); code != 1 || !strings.Contains(out, "DAMAGE") || !strings.Contains(out, "edited") {
		t.Fatalf("audit verify of an edited trail: exit %d\n%s", code, out)
	}
	if n := strings.Count(string(trail), "\n"); n < 5 {
		t.Fatalf("%d audit events", n)
	}
	if strings.Contains(string(trail), "123-45-6789") || strings.Contains(string(trail), "k-123456") {
		t.Fatal("audit trail holds a protected value or a credential")
	}
}
