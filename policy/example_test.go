package policy_test

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
)

// A gateway loads the policies once and asks for one decision per request.
func Example() {
	engine, err := policy.New(policy.Config{Dir: filepath.Join("testdata", "crm")}, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := engine.Decide(context.Background(), &policy.Input{
		Method:    "GET",
		Path:      "/crm/customers/42",
		Segments:  []string{"crm", "customers", "42"},
		BodyState: policy.BodyAbsent,
		Subject:   identity.Subject{Authenticated: true, ID: "bob", Roles: []string{"sales"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("allow:", d.Allow, "audit path:", d.Audit.Path, "purpose:", d.Audit.Tags["purpose"])
	for _, r := range d.ResponseTransforms {
		fmt.Println(r.Action, r.Path, r.Params)
	}
	// Output:
	// allow: true audit path: /crm/customers/{id} purpose: sales
	// generalize $.customers[*].salary map[bucket:10000]
	// hash $..email map[key:pii]
	// mask $.customers[*].phone map[keep_last:4]
	// redact $..ssn map[]
	// redact $.customers[*] map[]
}
