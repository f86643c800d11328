package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	veilrego "github.com/veilgw/veil/rego"
)

// BenchmarkDecide measures one decision of the CRM-like policy in
// testdata/crm (roles -> response transforms, audit spec) for a support
// caller, input construction and decision cache included (the request
// repeats, so it is decided once).
func BenchmarkDecide(b *testing.B) {
	e, err := New(Config{Dir: filepath.Join("testdata", "crm")}, Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	in := supportInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
}

// BenchmarkDecideBody adds a 1 KiB body that the policy reads.
func BenchmarkDecideBody(b *testing.B) {
	e, _, _ := newEngine(b, decisionPolicy(`{"allow": count(input.request.body.customers) < 100}`), Options{Timeout: time.Second})
	in := supportInput()
	in.Method, in.BodyState = "POST", BodyParsed
	in.Body = []byte(`{"customers": [` +
		`{"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "ssn": "123-45-6789", "phone": "+44 20 7946 0000", "tags": ["vip", "eu"]},` +
		`{"id": 2, "name": "Alan Turing", "email": "alan@example.com", "ssn": "987-65-4321", "phone": "+44 20 7946 0001", "tags": []},` +
		`{"id": 3, "name": "Grace Hopper", "email": "grace@example.com", "ssn": "555-12-3456", "phone": "+1 202 555 0100", "tags": ["us"]},` +
		`{"id": 4, "name": "Edsger Dijkstra", "email": "ewd@example.com", "ssn": "111-22-3333", "phone": "+31 20 555 0100", "tags": ["nl", "\u00e9"]}` +
		`], "total": 4, "next": null}`)
	ctx := context.Background()
	b.SetBytes(int64(len(in.Body)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
}

// shippedSupportListInput is a support agent listing CRM customers, as the
// gateway builds it: the request of BenchmarkDecideShippedCRMSupportList.
func shippedSupportListInput() *Input {
	in := supportInput()
	in.Path, in.Segments = "/crm/customers", []string{"crm", "customers"}
	in.Subject.ID = "u-03"
	in.Subject.Claims = map[string]any{"sub": "u-03", "tenant": "t1"}
	return in
}

// BenchmarkDecideShippedCRMSupportList measures one decision of the shipped
// CRM policy (package rego, as `veil demo` embeds it) for a support agent
// listing customers, end to end through Engine.Decide: input construction,
// decision cache lookup, and on a miss evaluation and decision validation.
// The request repeats, as a support agent's requests do, so after the first
// iteration this is the cached path. The target is under 30µs.
func BenchmarkDecideShippedCRMSupportList(b *testing.B) {
	e, err := New(Config{}, Options{FS: veilrego.FS, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	in := shippedSupportListInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow || len(d.ResponseTransforms) != 6 {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
}

// BenchmarkDecideShippedCRMSupportListUncached is the same request with a
// different support agent each time (more agents than the input cache
// holds), so every decision is evaluated by OPA: the cost of a first
// request. Decoding is still shared, as the agents' decisions are equal.
func BenchmarkDecideShippedCRMSupportListUncached(b *testing.B) {
	e, err := New(Config{}, Options{FS: veilrego.FS, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 2*max(maxCachedInputs, maxCachedKeys)+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("u-%05d", i)
	}
	in := shippedSupportListInput()
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		in.Subject.ID = ids[i%len(ids)]
		i++
		d, err := e.Decide(ctx, in)
		if err != nil || !d.Allow || len(d.ResponseTransforms) != 6 {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
}
