package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
	"github.com/veilgw/veil/transforms/jsonpath"
	"github.com/veilgw/veil/vault"
)

// Config is veil.yaml. Every field documents its default; README lists
// them all.
type Config struct {
	// Listen is the client-facing address. Default ":8080".
	Listen string `yaml:"listen"`
	// TLS enables HTTPS (and optional mTLS) on Listen. Default: plain HTTP.
	TLS TLSConfig `yaml:"tls"`
	// AdminListen serves /healthz, /readyz and /metrics. Default
	// "127.0.0.1:9090" (also when empty); "off" disables it.
	AdminListen string `yaml:"admin_listen"`
	// AdminPprof serves Go's profiler under /debug/pprof/ on the admin
	// listener (for profiling the hot path). Default false: profiles can
	// hold request data in memory dumps, so keep the admin port private.
	AdminPprof bool `yaml:"admin_pprof"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed when
	// deriving client_ip. Default: none (the peer address is the client).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Limits bound bodies, nesting and time.
	Limits Limits `yaml:"limits"`
	// Routes are matched in order; the first match wins.
	Routes []RouteConfig `yaml:"routes"`
	// Identity configures credential verification.
	Identity identity.Config `yaml:"identity"`
	// Policy configures the Rego policies.
	Policy policy.Config `yaml:"policy"`
	// Keys configures the keyring.
	Keys vault.Config `yaml:"keys"`
	// Audit configures the audit trail.
	Audit audit.Config `yaml:"audit"`
}

// TLSConfig is `tls`.
type TLSConfig struct {
	// CertFile and KeyFile (PEM) enable TLS on the listener.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile (PEM) enables optional mTLS: a client certificate, when
	// presented, must chain to it and identifies the caller.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Limits is `limits`.
type Limits struct {
	// MaxBodyBytes bounds a body that must be read (policy reads it or it
	// has transforms), measured after decoding. Default 10 MiB.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxJSONDepth bounds JSON nesting. Default 128.
	MaxJSONDepth int `yaml:"max_json_depth"`
	// UpstreamTimeout is the longest an upstream may stay silent: before
	// its response headers, or between two reads or writes of a streamed
	// body (so a large transfer that makes progress is never cut). Default
	// 15s; exceeded -> 504.
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
	// PolicyTimeout bounds one policy evaluation. Default 50ms.
	PolicyTimeout time.Duration `yaml:"policy_timeout"`
	// ReadTimeout is the longest a client connection may stay silent:
	// mid-request, mid-body or idle between keep-alive requests; the same
	// bound applies between two writes to a client. Default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxConnsPerUpstream bounds the pool per upstream address. Default 512.
	MaxConnsPerUpstream int `yaml:"max_conns_per_upstream"`
}

// RouteConfig is one entry of `routes`.
type RouteConfig struct {
	// Name identifies the route in the policy input, audit and metrics.
	// Required, unique.
	Name string `yaml:"name"`
	// Match selects requests; at least one of its fields is required.
	Match RouteMatch `yaml:"match"`
	// StripPrefix removes Match.PathPrefix before the upstream sees the
	// path. Default false.
	StripPrefix bool `yaml:"strip_prefix"`
	// Upstreams are base URLs ("http://127.0.0.1:7001"). Required.
	Upstreams []string `yaml:"upstreams"`
	// Balance is "least_loaded" (default) or "round_robin".
	Balance string `yaml:"balance"`
	// UpstreamAuth is forward (default: the client's credential unchanged),
	// strip (none) or inject (InjectAuth's service credential).
	UpstreamAuth string `yaml:"upstream_auth"`
	// InjectAuth is the service credential for upstream_auth: inject.
	InjectAuth InjectAuth `yaml:"inject"`
	// PreserveHost sends the client's Host header upstream. Default false:
	// the upstream address's host.
	PreserveHost bool `yaml:"preserve_host"`
}

// RouteMatch is `routes[].match`.
type RouteMatch struct {
	// Host matches the request host (case-insensitive, port ignored).
	// "" matches any host.
	Host string `yaml:"host"`
	// PathPrefix matches the normalised path. "" matches any path. A
	// prefix ending in "/" also matches the path without that slash.
	PathPrefix string `yaml:"path_prefix"`
}

// InjectAuth is `routes[].inject`.
type InjectAuth struct {
	// Header to set. Default "Authorization".
	Header string `yaml:"header"`
	// ValueFile holds the header value (trimmed). Required for inject.
	ValueFile string `yaml:"value_file"`
}

// LoadConfig reads a YAML config file, rejecting unknown keys, and
// applies defaults.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig parses YAML config text strictly and applies defaults.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// A second document ("---") would be ignored: its settings (an
	// audience, an API key file) silently not applied.
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("config: more than one YAML document (a '---' line): put every setting in one")
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Defaults fills every unset field with its documented default.
func (c *Config) Defaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.AdminListen == "" {
		c.AdminListen = "127.0.0.1:9090"
	}
	l := &c.Limits
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 10 << 20
	}
	if l.MaxJSONDepth == 0 {
		l.MaxJSONDepth = 128
	}
	if l.UpstreamTimeout == 0 {
		l.UpstreamTimeout = 15 * time.Second
	}
	if l.PolicyTimeout == 0 {
		l.PolicyTimeout = 50 * time.Millisecond
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = 60 * time.Second
	}
	if l.MaxConnsPerUpstream == 0 {
		l.MaxConnsPerUpstream = 512
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Balance == "" {
			r.Balance = "least_loaded"
		}
		if r.UpstreamAuth == "" {
			r.UpstreamAuth = "forward"
		}
		if r.InjectAuth.Header == "" {
			r.InjectAuth.Header = "Authorization"
		}
	}
	if c.Policy.Dir == "" {
		c.Policy.Dir = "./rego"
	}
	if c.Policy.Query == "" {
		c.Policy.Query = "data.veil.decision"
	}
	if c.Keys.Provider == "" {
		c.Keys.Provider = "local"
	}
	if c.Keys.Local.File == "" {
		c.Keys.Local.File = "./veil-dev-keys.json"
	}
	c.Audit.Defaults()
}

// Validate reports every invalid setting it finds.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: cert_file and key_file go together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		bad("tls: client_ca_file needs cert_file and key_file")
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil {
			bad("trusted_proxies: %q is not a CIDR", p)
		}
	}
	l := c.Limits
	if l.MaxBodyBytes < 0 || l.MaxJSONDepth < 0 || l.UpstreamTimeout < 0 || l.PolicyTimeout < 0 || l.MaxConnsPerUpstream < 0 {
		bad("limits must not be negative")
	}
	if l.MaxJSONDepth > jsonpath.MaxDepth {
		// JSONPath filters read documents at most this deep; a deeper one
		// would quietly not match a filter.
		bad("limits: max_json_depth must be at most %d", jsonpath.MaxDepth)
	}
	if len(c.Routes) == 0 {
		bad("routes: at least one route is required")
	}
	names := map[string]bool{}
	for i, r := range c.Routes {
		if r.Name == "" {
			bad("routes[%d]: name is required", i)
		} else if names[r.Name] {
			bad("routes[%d]: duplicate name %q", i, r.Name)
		}
		names[r.Name] = true
		if r.Match.PathPrefix != "" && !strings.HasPrefix(r.Match.PathPrefix, "/") {
			bad("routes[%d] %s: match.path_prefix must start with /", i, r.Name)
		}
		if r.Match.PathPrefix != "" {
			if np, err := normalisePath(nil, []byte(r.Match.PathPrefix)); err != nil || string(np) != r.Match.PathPrefix {
				bad("routes[%d] %s: match.path_prefix %q is not a normalised path", i, r.Name, r.Match.PathPrefix)
			}
		}
		if r.StripPrefix && r.Match.PathPrefix == "" {
			bad("routes[%d] %s: strip_prefix needs match.path_prefix", i, r.Name)
		}
		if len(r.Upstreams) == 0 {
			bad("routes[%d] %s: upstreams is required", i, r.Name)
		}
		for _, u := range r.Upstreams {
			if _, _, err := parseUpstream(u); err != nil {
				bad("routes[%d] %s: %v", i, r.Name, err)
			}
		}
		switch r.Balance {
		case "least_loaded", "round_robin":
		default:
			bad("routes[%d] %s: balance %q: want least_loaded or round_robin", i, r.Name, r.Balance)
		}
		switch r.UpstreamAuth {
		case "forward", "strip":
		case "inject":
			if r.InjectAuth.ValueFile == "" {
				bad("routes[%d] %s: upstream_auth inject needs inject.value_file", i, r.Name)
			}
		default:
			bad("routes[%d] %s: upstream_auth %q: want forward, strip or inject", i, r.Name, r.UpstreamAuth)
		}
	}
	if err := c.Audit.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseUpstream splits "http://host:port[/base]" into address and TLS flag.
func parseUpstream(s string) (addr string, tls bool, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("upstream %q: want http://host:port or https://host:port", s)
	}
	switch u.Scheme {
	case "http":
	case "https":
		tls = true
	default:
		return "", false, fmt.Errorf("upstream %q: scheme must be http or https", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("upstream %q: no path, query or user info allowed", s)
	}
	addr = u.Host
	if u.Port() == "" {
		if tls {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	return addr, tls, nil
}
