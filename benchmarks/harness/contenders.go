package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// expect is what a correct response of a contender looks like.
type expect int

const (
	// expectIdentity: the upstream's bytes, unchanged.
	expectIdentity expect = iota
	// expectMasked: the 4 mask rules of maskRules4 applied.
	expectMasked
	// expectCrypto: the 4 keyed rules of cryptoRules4 applied.
	expectCrypto
	// expectJSON: valid JSON with ssn masked (rule-count scaling).
	expectJSON
)

// contender is one thing the load generator measures.
type contender struct {
	// Name is the product ("veil", "nginx", ...), Scenario what it does.
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	// Addr is the loopback host:port the load goes to.
	Addr   string `json:"-"`
	Expect expect `json:"-"`
	// Denies: the contender evaluates a policy that refuses the suspended
	// subject (checked before timing).
	Denies bool `json:"-"`
	// AdminAddr is Veil's admin listener (for /metrics).
	AdminAddr string `json:"-"`
	// PprofAddr serves /debug/pprof (with -profile: Veil's admin listener,
	// the floor's -pprof listener), or "".
	PprofAddr string `json:"-"`
	// AuditFile is the file sink of the audit scenario.
	AuditFile string `json:"-"`
	// Pid is the main process (RSS is read from it).
	Pid int `json:"-"`
}

func (c *contender) label() string {
	if c.Scenario == "" {
		return c.Name
	}
	return c.Name + " " + c.Scenario
}

// maskRules4 are the four response rules of the mask scenario; the
// nginx+opa+njs composite receives the same list from OPA and applies it.
var maskRules4 = []string{
	`{"path": "$.customers[*].ssn", "action": "mask", "keep_last": 4}`,
	`{"path": "$.customers[*].email", "action": "mask", "format": "email"}`,
	`{"path": "$.customers[*].phone", "action": "mask", "keep_last": 2}`,
	`{"path": "$.customers[*].notes", "action": "redact"}`,
}

// cryptoRules4 are the keyed rules of the tokenize/encrypt scenario.
var cryptoRules4 = []string{
	`{"path": "$.customers[*].email", "action": "tokenize", "key": "pii"}`,
	`{"path": "$.customers[*].phone", "action": "tokenize", "key": "pii"}`,
	`{"path": "$.customers[*].ssn", "action": "encrypt", "key": "pii"}`,
	`{"path": "$.customers[*].notes", "action": "encrypt", "key": "pii"}`,
}

// maskRulesN returns n mask rules: the 4 of maskRules4, then the other
// real fields, then fields no record has (a policy's rules for other
// endpoints), so the matcher grows while the body stays the same.
func maskRulesN(n int) []string {
	rules := append([]string(nil), maskRules4...)
	for _, f := range []string{"name", "address.street", "address.city", "address.zip", "owner_id", "id"} {
		rules = append(rules, fmt.Sprintf(`{"path": "$.customers[*].%s", "action": "mask", "keep_last": 2}`, f))
	}
	for i := 0; len(rules) < n; i++ {
		rules = append(rules, fmt.Sprintf(`{"path": "$.customers[*].x_field_%d", "action": "mask"}`, i))
	}
	return rules[:n]
}

// regoPolicy is the decision of every policy scenario, for Veil and for
// OPA alike: GET on the customer pages, by a known role, not suspended.
// It reads the method, the path and the subject's id and roles, so the
// decision cache key varies per subject and path as in production.
// rules == nil: allow without transforms (policy only).
func regoPolicy(rules []string) string {
	var b strings.Builder
	b.WriteString("package veil\n\n")
	b.WriteString("default decision := {\"allow\": false, \"reason\": \"not permitted\"}\n\n")
	b.WriteString("readers := {\"admin\", \"support\", \"analyst\", \"sales\"}\n\n")
	fmt.Fprintf(&b, "suspended := {%q}\n\n", suspendedID)
	if rules == nil {
		b.WriteString("decision := {\"allow\": true} if {\n")
	} else {
		b.WriteString("decision := {\"allow\": true, \"response_transforms\": [\n")
		for i, r := range rules {
			sep := ","
			if i == len(rules)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "\t%s%s\n", r, sep)
		}
		b.WriteString("], \"audit\": {\"record_ids\": \"$.customers[*].id\"}} if {\n")
	}
	b.WriteString("\tinput.request.method == \"GET\"\n")
	b.WriteString("\tstartswith(input.request.path, \"/crm/customers/\")\n")
	b.WriteString("\tnot suspended[input.subject.id]\n")
	b.WriteString("\tsome role in input.subject.roles\n")
	b.WriteString("\treaders[role]\n")
	b.WriteString("}\n")
	return b.String()
}

const allowAllPolicy = "package veil\n\ndecision := {\"allow\": true}\n"

// veilScenario is one generated Veil configuration.
type veilScenario struct {
	Name   string
	Policy string
	Expect expect
	Denies bool
	// AuditFile: a file sink instead of stdout (discarded).
	AuditFile bool
}

func veilScenarios() []veilScenario {
	return []veilScenario{
		{Name: "passthrough", Policy: allowAllPolicy, Expect: expectIdentity},
		{Name: "policy", Policy: regoPolicy(nil), Expect: expectIdentity, Denies: true},
		{Name: "mask4", Policy: regoPolicy(maskRules4), Expect: expectMasked, Denies: true},
		{Name: "crypto4", Policy: regoPolicy(cryptoRules4), Expect: expectCrypto, Denies: true},
		{Name: "mask4+audit-file", Policy: regoPolicy(maskRules4), Expect: expectMasked, Denies: true, AuditFile: true},
	}
}

// writeVeilConfig writes the policy directory and veil.yaml of a scenario
// under dir and returns the config path.
func writeVeilConfig(dir, benchDir string, sc veilScenario, listen, admin, upstream string, pprof bool) (cfgPath, auditPath string, err error) {
	polDir := filepath.Join(dir, "rego")
	if err := os.MkdirAll(polDir, 0o755); err != nil {
		return "", "", fmt.Errorf("veil config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(polDir, "bench.rego"), []byte(sc.Policy), 0o644); err != nil {
		return "", "", fmt.Errorf("veil config: %w", err)
	}
	sinks := "[{type: stdout}]"
	if sc.AuditFile {
		auditPath = filepath.Join(dir, "audit.log")
		_ = os.Remove(auditPath)
		// Rotate and prune so long runs do not fill the disk.
		sinks = fmt.Sprintf("[{type: file, path: %q, max_size_mb: 50, max_backups: 2}]", auditPath)
	}
	cfg := fmt.Sprintf(`# generated by benchmarks/harness: scenario %s
listen: %q
admin_listen: %q
admin_pprof: %t
limits:
  max_body_bytes: 67108864
routes:
  - name: crm
    match: {path_prefix: /crm/}
    upstreams: ["http://%s"]
identity:
  jwt:
    hs256_secret_file: %q
policy:
  dir: %q
keys:
  provider: local
  local: {file: %q}
  names: [pii, audit]
audit:
  sinks: %s
`, sc.Name, listen, admin, pprof, upstream, filepath.Join(benchDir, "jwt-secret"), polDir,
		filepath.Join(benchDir, "veil-dev-keys.json"), sinks)
	cfgPath = filepath.Join(dir, "veil.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", "", fmt.Errorf("veil config: %w", err)
	}
	return cfgPath, auditPath, nil
}

// descriptions say, for the results JSON, what each contender does.
var descriptions = map[string]string{
	"direct":                "the load generator hits the nginx upstream itself: the limit of this setup",
	"nginx":                 "nginx reverse proxy, 1 worker, keep-alive upstream (64 idle connections)",
	"fasthttp-floor":        "smallest fasthttp forwarder (HostClient.Do, benchmarks/floor): Veil's stack with nothing added",
	"nginx+opa+njs mask4":   "nginx (1 worker) auth_request -> njs -> `opa run --server` (same Rego as veil mask4, input built from the JWT payload, decoded not verified) + njs body filter applying the 4 returned rules; nginx and OPA share the contender CPU",
	"veil passthrough":      "veil serve, allow-all policy, body streamed, audit to stdout (discarded)",
	"veil policy":           "veil serve, role/path/subject policy, no transforms, JWT verified, audit to stdout (discarded)",
	"veil mask4":            "veil serve, same policy + 4 rules (mask ssn, email, phone; redact notes) + record ids, audit to stdout (discarded)",
	"veil crypto4":          "veil serve, same policy + tokenize email, phone and encrypt ssn, notes (local dev keyring), audit to stdout (discarded)",
	"veil mask4+audit-file": "veil mask4 with the chained audit written to a file sink (fsync per batch)",
}
