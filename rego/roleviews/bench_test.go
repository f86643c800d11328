package roleviews

import (
	"context"
	"testing"
	"time"

	"github.com/veilgw/veil/identity"
	"github.com/veilgw/veil/policy"
	veilrego "github.com/veilgw/veil/rego"
)

// BenchmarkShippedDecide measures one decision of the shipped policies
// through the gateway's policy engine (input construction and decision
// cache included: each request repeats, so it is evaluated once) for
// typical requests of three roles. policy's
// BenchmarkDecideShippedCRMSupportListUncached measures full evaluations.
func BenchmarkShippedDecide(b *testing.B) {
	e, err := policy.New(policy.Config{}, policy.Options{FS: veilrego.FS, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		in   *policy.Input
	}{
		{"sales_list", &policy.Input{Method: "GET", Path: "/crm/customers", Segments: []string{"crm", "customers"},
			Query: [][2]string{{"limit", "10"}}, RouteName: "crm", RoutePrefix: "/crm/",
			Subject: identity.Subject{Authenticated: true, ID: "u-17", Roles: []string{"sales"}, Method: "jwt"}}},
		{"support_record", &policy.Input{Method: "GET", Path: "/crm/customers/c-0001", Segments: []string{"crm", "customers", "c-0001"},
			RouteName: "crm", RoutePrefix: "/crm/",
			Subject: identity.Subject{Authenticated: true, ID: "u-03", Roles: []string{"support"}, Method: "jwt"}}},
		{"analyst_hrm_list", &policy.Input{Method: "GET", Path: "/hrm/employees", Segments: []string{"hrm", "employees"},
			RouteName: "hrm", RoutePrefix: "/hrm/",
			Subject: identity.Subject{Authenticated: true, ID: "u-42", Roles: []string{"analyst"}, Method: "jwt"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d, err := e.Decide(ctx, c.in)
				if err != nil || !d.Allow {
					b.Fatalf("Decide = %+v, %v", d, err)
				}
			}
		})
	}
}
