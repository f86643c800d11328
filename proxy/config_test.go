package proxy

import (
	"strings"
	"testing"
	"time"
)

func TestExampleConfigParses(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig("../deploy/veil.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 2 || c.Routes[1].UpstreamAuth != "inject" || c.Routes[0].Balance != "least_loaded" {
		t.Fatalf("routes: %+v", c.Routes)
	}
	if c.Identity.JWT.RolesClaim != "realm_access.roles" || c.Audit.Sinks[1].MaxBackups != 30 {
		t.Fatalf("nested sections not parsed: %+v", c)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte("routes: [{name: a, upstreams: ['http://127.0.0.1:1']}]"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.AdminListen != "127.0.0.1:9090" || c.Limits.MaxBodyBytes != 10<<20 ||
		c.Limits.MaxJSONDepth != 128 || c.Limits.UpstreamTimeout != 15*time.Second || c.Limits.PolicyTimeout != 50*time.Millisecond ||
		c.Policy.Dir != "./rego" || c.Policy.Query != "data.veil.decision" || c.Keys.Provider != "local" ||
		c.Audit.OnFailure != "deny" || c.Audit.RecordIDsMax != 100 || len(c.Audit.Sinks) != 1 || c.Routes[0].UpstreamAuth != "forward" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for yaml, want := range map[string]string{
		"routes: []": "at least one route",
		"listn: ':1'\nroutes: [{name: a, upstreams: ['http://x:1']}]":                            "field listn not found",
		"routes: [{name: a, upstreams: ['ftp://x']}]":                                            "scheme must be http or https",
		"routes: [{name: a, upstreams: ['http://x:1/base']}]":                                    "no path",
		"routes: [{name: a, upstreams: ['http://x:1']}, {name: a, upstreams: ['http://x:1']}]":   "duplicate name",
		"routes: [{name: a, match: {path_prefix: 'crm'}, upstreams: ['http://x:1']}]":            "must start with /",
		"routes: [{name: a, match: {path_prefix: '/a/../b/'}, upstreams: ['http://x:1']}]":       "not a normalised path",
		"routes: [{name: a, strip_prefix: true, upstreams: ['http://x:1']}]":                     "strip_prefix needs",
		"routes: [{name: a, upstream_auth: inject, upstreams: ['http://x:1']}]":                  "inject.value_file",
		"routes: [{name: a, balance: random, upstreams: ['http://x:1']}]":                        "balance",
		"trusted_proxies: ['10.0.0.1']\nroutes: [{name: a, upstreams: ['http://x:1']}]":          "not a CIDR",
		"tls: {cert_file: a}\nroutes: [{name: a, upstreams: ['http://x:1']}]":                    "go together",
		"audit: {on_failure: maybe}\nroutes: [{name: a, upstreams: ['http://x:1']}]":             "on_failure",
		"routes: [{name: a, upstreams: ['http://x:1']}]\n---\nidentity: {jwt: {audience: veil}}": "more than one YAML document",
		"limits: {max_json_depth: 1001}\nroutes: [{name: a, upstreams: ['http://x:1']}]":         "max_json_depth must be at most 1000",
	} {
		_, err := ParseConfig([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yaml, err, want)
		}
	}
}
