package policy

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// writeFiles writes name -> content under dir, creating subdirectories.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newEngine writes files into a fresh directory and loads an engine from
// it, with an observed logger.
func newEngine(t testing.TB, files map[string]string, opts Options) (*Engine, string, *observer.ObservedLogs) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	core, logs := observer.New(zapcore.DebugLevel)
	if opts.Logger == nil {
		opts.Logger = zap.New(core)
	}
	if opts.Timeout == 0 {
		// The 50ms default is too tight for -race on a loaded machine;
		// TestDefaults checks it.
		opts.Timeout = 5 * time.Second
	}
	e, err := New(Config{Dir: dir}, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, dir, logs
}

// decisionPolicy is a module whose decision is the given Rego expression.
func decisionPolicy(expr string) map[string]string {
	return map[string]string{"veil.rego": "package veil\n\ndecision := " + expr + "\n"}
}

// supportInput is a small realistic request of an authenticated caller.
func supportInput() *Input {
	in := &Input{
		Method:      "GET",
		Host:        "crm.example.com",
		Path:        "/crm/customers/42",
		Segments:    []string{"crm", "customers", "42"},
		Query:       [][2]string{{"limit", "10"}},
		Headers:     [][2]string{{"accept", "application/json"}, {"user-agent", "curl/8"}},
		BodyState:   BodyAbsent,
		ClientIP:    "10.0.0.7",
		RequestID:   "req-1",
		RouteName:   "crm",
		RoutePrefix: "/crm/",
		TimeNS:      1_700_000_000_000_000_000,
	}
	in.Subject.Authenticated = true
	in.Subject.ID = "alice"
	in.Subject.Roles = []string{"support"}
	in.Subject.Method = "jwt"
	in.Subject.Claims = map[string]any{"sub": "alice", "tenant": "t1"}
	return in
}
