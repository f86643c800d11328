package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyRevisionMetricFollowsReload: veil_policy_revision_info names
// the revision being served, also after a hot reload (a gauge set at start
// kept the first one).
func TestPolicyRevisionMetricFollowsReload(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{routes: catchAll(up), policy: "package veil\ndecision := {\"allow\": true}\n"})
	first := tg.g.engine.Revision()
	if m := tg.metricsText(t); !strings.Contains(m, `veil_policy_revision_info{revision="`+first+`"} 1`) {
		t.Fatalf("at start: %s", m)
	}
	if err := os.WriteFile(filepath.Join(tg.dir, "rego", "policy.rego"), []byte("package veil\ndecision := {\"allow\": true, \"reason\": \"v2\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tg.g.engine.Reload(); err != nil {
		t.Fatal(err)
	}
	now := tg.g.engine.Revision()
	m := tg.metricsText(t)
	if now == first || !strings.Contains(m, `veil_policy_revision_info{revision="`+now+`"} 1`) || strings.Contains(m, first) {
		t.Errorf("after the reload to %s:\n%s", now, m)
	}
}

// TestDecisionMetricCountsByOutcome: an undefined decision is a deny (403),
// and a decision whose rules do not compile is an error (500), not an
// allow.
func TestDecisionMetricCountsByOutcome(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, nil)
	tg := startGateway(t, gatewayOpts{routes: catchAll(up), policy: `package veil
decision := {"allow": true} if input.request.segments[0] == "ok"
decision := {"allow": true, "response_transforms": [{"path": "$.x", "action": "explode"}]} if input.request.segments[0] == "bad"`})
	for path, status := range map[string]int{"/ok": 200, "/undefined": 403, "/bad": 500} {
		if resp, body := tg.do(t, "GET", path, nil, nil); resp.StatusCode != status {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	tg.waitAudit(t, 3)
	m := tg.metricsText(t)
	for _, want := range []string{`veil_decisions_total{result="allow"} 1`, `veil_decisions_total{result="deny"} 1`, `veil_decisions_total{result="error"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("missing %s in:\n%s", want, m)
		}
	}
}
