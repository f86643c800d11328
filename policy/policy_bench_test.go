package policy

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDecide measures one decision of the CRM-like policy in
// testdata/crm (roles -> response transforms, audit spec) for a support
// caller, input construction and decision validation included.
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
