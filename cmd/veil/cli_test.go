package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veilgw/veil/vault"
)

// run executes the CLI in-process and returns its output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.code
	default:
		return out.String() + err.Error(), 1
	}
}

func TestPolicyTestCommand(t *testing.T) {
	out, code := run(t, "policy", "test", "../../rego")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("shipped policies: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.rego"), "package veil\nx := 1\n")
	writeFile(t, filepath.Join(dir, "p_test.rego"), "package veil\ntest_ok if x == 1\ntest_bad if x == 2\n")
	out, code = run(t, "policy", "test", dir)
	if code != 1 || !strings.Contains(out, "1 passed, 1 failed") {
		t.Fatalf("failing test: exit %d\n%s", code, out)
	}
}

func TestPolicyEvalCommand(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rego", "p.rego"), `package veil
decision := {"allow": true, "response_transforms": [{"path": "$..ssn", "action": "mask", "keep_last": 4}]} if "support" in input.subject.roles
decision := {"allow": true, "response_transforms": [{"path": "$..ssn", "action": "explode"}]} if "broken" in input.subject.roles
`)
	cfg := filepath.Join(dir, "veil.yaml")
	writeFile(t, cfg, "routes: [{name: crm, match: {path_prefix: /crm/}, upstreams: ['http://127.0.0.1:1']}]\npolicy: {dir: "+filepath.Join(dir, "rego")+"}\n")
	in := filepath.Join(dir, "in.json")
	writeFile(t, in, `{"request": {"method": "GET", "path": "/crm/customers", "segments": ["crm", "customers"]}, "route": {"name": "crm", "prefix": "/crm/"}, "subject": {"authenticated": true, "id": "alice", "roles": ["support"]}}`)
	out, code := run(t, "policy", "eval", "--config", cfg, "--input", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(out), &d); err != nil || d["allow"] != true {
		t.Fatalf("decision: %s", out)
	}
	if rules := d["response_transforms"].([]any); len(rules) != 1 || rules[0].(map[string]any)["keep_last"] != 4.0 {
		t.Fatalf("rules: %v", d["response_transforms"])
	}
	out, code = run(t, "policy", "eval", "--config", cfg, "--input", in, "--explain")
	if code != 0 || !strings.Contains(out, "Enter") {
		t.Fatalf("explain: exit %d\n%s", code, out)
	}
	writeFile(t, in, `{"request": {"method": "GET", "path": "/crm/x"}, "route": {"name": "crm"}, "subject": {"authenticated": true, "id": "bob", "roles": ["broken"]}}`)
	if out, code := run(t, "policy", "eval", "--config", cfg, "--input", in); code != 1 || !strings.Contains(out, "invalid decision") {
		t.Fatalf("invalid decision: exit %d %s", code, out)
	}
}

func TestKeysStatusAndVersion(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "veil.yaml")
	writeFile(t, cfg, "routes: [{name: a, upstreams: ['http://127.0.0.1:1']}]\nkeys: {local: {file: "+filepath.Join(dir, "keys.json")+"}}\n")
	// Reading commands never create keys: before the gateway first ran
	// there are none to show, or to take an audit public key from.
	for _, args := range [][]string{{"keys", "status"}, {"audit", "pubkey"}} {
		if out, code := run(t, append(args, "--config", cfg)...); code != 1 || !strings.Contains(out, "does not exist") {
			t.Fatalf("%v before any key file: exit %d\n%s", args, code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "keys.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a reading command created the key file: %v", err)
	}
	if _, err := vault.OpenLocal(vault.LocalConfig{File: filepath.Join(dir, "keys.json")}, "pii", "audit"); err != nil {
		t.Fatal(err) // as veil serve does on first start
	}
	out, code := run(t, "keys", "status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "pii") || !strings.Contains(out, "yes") {
		t.Fatalf("keys status: exit %d\n%s", code, out)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "keys.json"))
	var kf struct {
		Keys map[string][]struct{ Material string } `json:"keys"`
	}
	if err := json.Unmarshal(key, &kf); err != nil || strings.Contains(out, kf.Keys["pii"][0].Material) {
		t.Fatal("keys status printed key material")
	}
	if out, code := run(t, "version"); code != 0 || !strings.HasPrefix(out, "veil ") {
		t.Fatalf("version: %s", out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
