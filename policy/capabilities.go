package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// deniedBuiltins are OPA built-ins a gateway policy may not call. A policy
// sees request bodies and subjects: with http.send (or a DNS lookup, which
// can carry data in the name) it could ship them anywhere, and
// opa.runtime exposes the process environment (secrets). A policy that
// calls one fails to compile, with OPA's "undefined function" error.
var deniedBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

// capabilities are OPA's, minus deniedBuiltins.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		return slices.Contains(deniedBuiltins, b.Name)
	})
	return c
}
