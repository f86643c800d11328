package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/veilgw/veil/audit"
	"github.com/veilgw/veil/demo"
	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
	"github.com/veilgw/veil/proxy"
	"github.com/veilgw/veil/rego"
	"github.com/veilgw/veil/vault"
)

func demoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway in front of built-in sample CRM and HRM APIs, with dev keys and tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().IntVar(&o.Port, "port", 8080, "gateway port on 127.0.0.1 (0 picks a free one)")
	cmd.Flags().IntVar(&o.AdminPort, "admin-port", 0, "admin port on 127.0.0.1 for /healthz, /readyz, /metrics (0 picks a free one)")
	return cmd
}

type demoOptions struct {
	Port, AdminPort int
	// ready, when set, receives the gateway's base URL and the dev tokens
	// once serving (tests).
	ready func(base string, tokens map[string]string)
}

// runDemo starts the sample upstreams and the gateway with the embedded
// policies, prints ready-to-paste curl commands, and serves until ctx ends.
// Everything listens on loopback only: the sample data has no access
// control of its own.
func runDemo(ctx context.Context, o demoOptions, out io.Writer) error {
	ups, err := demo.StartUpstreams("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ups.Close()

	dir, err := os.MkdirTemp("", "veil-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	secretFile := filepath.Join(dir, "hs256.secret")
	if err := os.WriteFile(secretFile, []byte(fmt.Sprintf("%x", secret)), 0o600); err != nil {
		return err
	}
	tokens, err := demo.Tokens([]byte(fmt.Sprintf("%x", secret)), 12*time.Hour)
	if err != nil {
		return err
	}
	auditFile := filepath.Join(dir, "audit.log")
	keys, err := vault.NewMemory("pii", "audit")
	if err != nil {
		return err
	}
	cfg := &proxy.Config{
		Listen:      net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)),
		AdminListen: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.AdminPort)),
		Routes: []proxy.RouteConfig{
			{Name: "crm", Match: proxy.RouteMatch{PathPrefix: "/crm/"}, StripPrefix: true, Upstreams: []string{"http://" + ups.CRMAddr()}},
			{Name: "hrm", Match: proxy.RouteMatch{PathPrefix: "/hrm/"}, StripPrefix: true, Upstreams: []string{"http://" + ups.HRMAddr()}},
		},
		Identity: identity.Config{JWT: identity.JWTConfig{HS256SecretFile: secretFile, Issuer: demo.TokenIssuer, Audience: demo.TokenAudience}},
		Audit:    audit.Config{Sinks: []audit.SinkConfig{{Type: "file", Path: auditFile}}},
		Policy:   policy.Config{Dir: "."},
	}
	log, err := zap.NewDevelopment()
	if err != nil {
		return err
	}
	log = log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))
	g, err := proxy.New(cfg, proxy.Options{Logger: log, PolicyFS: rego.FS, Keys: keys})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		g.Close()
		return fmt.Errorf("demo: %w (try --port 0)", err)
	}
	if err := g.StartAdmin(); err != nil {
		ln.Close()
		g.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	printDemo(out, base, g.AdminAddr(), auditFile, tokens)
	if o.ready != nil {
		o.ready(base, tokens)
	}
	select {
	case err := <-errc:
		g.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Fprintln(out, "\nveil demo: shutting down")
	return g.Shutdown(sctx)
}

func printDemo(w io.Writer, base, admin, auditFile string, tokens map[string]string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("Veil demo: gateway on %s (CRM under /crm/, HRM under /hrm/), admin on http://%s", base, admin)
	p("Audit trail (one JSON line per request): %s", auditFile)
	p("Policies: the shipped rego/ policies (embedded). Keys: in-memory dev keys.")
	p("")
	p("# Dev tokens (valid 12h), one per role:")
	for _, u := range demo.Users {
		p("export %s=%s", tokenVar(u), tokens[u.ID])
	}
	p("")
	for _, u := range demo.Users {
		p("# %s (%s, %s): %s", u.Name, u.Role, u.ID, u.Description)
		for _, path := range demoPaths(u) {
			p("curl -s -H \"Authorization: Bearer $%s\" '%s%s'", tokenVar(u), base, path)
		}
		p("")
	}
	role := map[string]string{} // role -> token variable of its first user
	for _, u := range demo.Users {
		if _, ok := role[u.Role]; !ok {
			role[u.Role] = tokenVar(u)
		}
	}
	hr, admin := role["hr_manager"], role["admin"]
	newID := fmt.Sprintf("e-%04d", demo.DefaultEmployees+1) // the first employee created
	p("# Encryption at rest: an HR write reaches the HRM with national_id and iban encrypted (enc_v1_...);")
	p("# admin sees what the HRM stores, the HR manager's own report is decrypted, analysts see neither,")
	p("# and analysts get the email as a stable token (tok_v1_...)")
	p("curl -s -X POST -H \"Authorization: Bearer $%s\" -H 'Content-Type: application/json' -d '{\"name\":\"New Hire\",\"manager_id\":\"%s\",\"email\":\"new.hire@example.com\",\"national_id\":\"AB123456C\",\"bank_account\":{\"iban\":\"GB29NWBK60161331926819\",\"bic\":\"NWBKGB2L\"}}' '%s/hrm/employees'", hr, demo.HRManagerID, base)
	p("curl -s -H \"Authorization: Bearer $%s\" '%s/hrm/employees/%s'", admin, base, newID)
	p("curl -s -H \"Authorization: Bearer $%s\" '%s/hrm/employees/%s'", hr, base, newID)
	p("curl -s -H \"Authorization: Bearer $%s\" '%s/hrm/employees/%s'", role["analyst"], base, newID)
	p("")
	p("# No credential: the policy decides (401 with a JSON error)")
	p("curl -s '%s/crm/customers?limit=1'", base)
	p("# A forged token: 401")
	p("curl -s -H 'Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LTAxIn0.' '%s/crm/customers?limit=1'", base)
	p("# An encoded path trick: 400, never forwarded")
	p("curl -s --path-as-is '%s/crm/..%%2fhrm/employees'", base)
	p("")
	p("Press Ctrl-C to stop.")
}

func tokenVar(u demo.User) string {
	return strings.ToUpper(strings.ReplaceAll(u.Role+"_"+u.ID, "-", "_"))
}

func demoPaths(u demo.User) []string {
	switch u.Role {
	case "support":
		return []string{"/crm/customers?limit=2", "/crm/tickets?limit=2"}
	case "sales":
		return []string{"/crm/customers?limit=5", "/crm/deals?limit=3"}
	case "hr_manager":
		return []string{"/hrm/employees?manager_id=" + u.ID + "&limit=2", "/hrm/employees?limit=3"}
	case "analyst":
		return []string{"/crm/customers?limit=2", "/hrm/employees?limit=2"}
	case "admin":
		return []string{"/crm/customers/c-0001", "/hrm/employees/e-0001"}
	}
	return nil
}
