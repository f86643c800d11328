package policy

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/veilgw/veil/identity"
)

// designInput is the DESIGN "Policy input" example.
const designInput = `{
  "request": {"method": "GET", "host": "crm.example.com", "path": "/crm/customers/42",
              "segments": ["crm", "customers", "42"], "query": {"limit": ["10"], "id": ["1", "2"]},
              "headers": {"content-type": "application/json", "Accept": ["a", "b"]},
              "body_state": "parsed", "body": {"a": [1, 2.50]},
              "client_ip": "10.0.0.7", "id": "request id"},
  "route": {"name": "crm", "prefix": "/crm/"},
  "subject": {"authenticated": true, "id": "alice", "roles": ["support"], "claims": {"tenant": "t1", "n": 3}},
  "time_ns": 1700000000000000000
}`

func TestInputFromJSON(t *testing.T) {
	t.Parallel()
	in, err := InputFromJSON([]byte(designInput))
	if err != nil {
		t.Fatal(err)
	}
	want := &Input{
		Method: "GET", Host: "crm.example.com", Path: "/crm/customers/42",
		Segments:  []string{"crm", "customers", "42"},
		Query:     [][2]string{{"id", "1"}, {"id", "2"}, {"limit", "10"}},
		Headers:   [][2]string{{"accept", "a"}, {"accept", "b"}, {"content-type", "application/json"}},
		BodyState: BodyParsed, Body: []byte(`{"a": [1, 2.50]}`),
		ClientIP: "10.0.0.7", RequestID: "request id",
		RouteName: "crm", RoutePrefix: "/crm/",
		Subject: identity.Subject{Authenticated: true, ID: "alice", Roles: []string{"support"},
			Claims: map[string]any{"tenant": "t1", "n": json.Number("3")}},
		TimeNS: 1700000000000000000,
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("InputFromJSON =\n%+v\nwant\n%+v", in, want)
	}

	// The engine sees the same document back.
	e, _, _ := newEngine(t, decisionPolicy(`{"allow": true, "reason": json.marshal(input)}`), Options{})
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"request":{"body":{"a":[1,2.50]},"body_state":"parsed","client_ip":"10.0.0.7","headers":{"accept":["a","b"],"content-type":["application/json"]},"host":"crm.example.com","id":"request id","method":"GET","path":"/crm/customers/42","query":{"id":["1","2"],"limit":["10"]},"segments":["crm","customers","42"]},"route":{"name":"crm","prefix":"/crm/"},"subject":{"authenticated":true,"claims":{"n":3,"tenant":"t1"},"id":"alice","method":"","roles":["support"]},"time_ns":1700000000000000000}`
	if d.Reason != wantJSON {
		t.Fatalf("input seen by the policy:\n%s\nwant\n%s", d.Reason, wantJSON)
	}
}

func TestInputFromJSONDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		segments  []string
		state     string
	}{
		{"minimal", `{"request": {"method": "GET", "path": "/a//b/"}}`, []string{"a", "b"}, BodyAbsent},
		{"body implies parsed", `{"request": {"path": "/", "body": {"x": 1}}}`, nil, BodyParsed},
		{"state without body", `{"request": {"body_state": "too_large"}}`, nil, BodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := InputFromJSON([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in.Segments, tc.segments) || in.BodyState != tc.state {
				t.Fatalf("segments %q state %q; want %q %q", in.Segments, in.BodyState, tc.segments, tc.state)
			}
		})
	}
}

func TestInputFromJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc, want string }{
		{"not JSON", `{`, "policy: input: unexpected EOF"},
		{"unknown top-level key", `{"requset": {}}`, `policy: input: json: unknown field "requset"`},
		{"unknown request key", `{"request": {"paht": "/"}}`, `policy: input: json: unknown field "paht"`},
		{"query value not strings", `{"request": {"query": {"a": [1]}}}`, `"a" must be a string or an array of strings`},
		{"parsed without body", `{"request": {"body_state": "parsed"}}`, "policy: input: body_state is parsed but body is missing"},
		{"body with other state", `{"request": {"body_state": "not_json", "body": 1}}`, `policy: input: body given with body_state "not_json"`},
		{"unknown state", `{"request": {"body_state": "maybe"}}`, `policy: input: unknown body_state "maybe"`},
		{"two documents", `{} {}`, "policy: input: more than one JSON document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := InputFromJSON([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("InputFromJSON error = %v, want %q", err, tc.want)
			}
		})
	}
}
