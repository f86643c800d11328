package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veilgw/veil/demo"
)

// runningDemo starts `veil demo` on free loopback ports and returns its
// base URL, its tokens and its printed output.
func runningDemo(t *testing.T) (base string, tokens map[string]string, out *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	out = &bytes.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, demoOptions{ready: func(b string, tok map[string]string) {
			base, tokens = b, tok
			close(ready)
		}}, out)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo shutdown: %v", err)
		}
	})
	return base, tokens, out
}

func getJSON(t *testing.T, base, token, path string) (int, map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: not JSON: %s", path, body)
	}
	return resp.StatusCode, m, body
}

func sendJSON(t *testing.T, base, token, method, path, body string) (int, map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, m, raw
}

func records(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, r := range m[key].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// TestDemoRoleViews runs the demo exactly as a user would and checks what
// each role sees against the upstream's own data.
func TestDemoRoleViews(t *testing.T) {
	base, tokens, out := runningDemo(t)
	crm := demo.NewCRM(demo.DefaultSeed, demo.DefaultCustomers)
	hrm := demo.NewHRM(demo.DefaultSeed, demo.DefaultEmployees)
	cust := map[string]demo.Customer{}
	for _, c := range crm.Customers() {
		cust[c.ID] = c
	}
	emp := map[string]demo.Employee{}
	for _, e := range hrm.Employees() {
		emp[e.ID] = e
	}

	// The printed curl commands name every role's token variable.
	for _, u := range demo.Users {
		if !strings.Contains(out.String(), "export "+tokenVar(u)+"=") || !strings.Contains(out.String(), "$"+tokenVar(u)) {
			t.Errorf("demo output lacks commands for %s", u.Role)
		}
	}

	// ... and the encryption round trip.
	if !strings.Contains(out.String(), "curl -s -X POST -H \"Authorization: Bearer $"+tokenVar(demo.User{Role: "hr_manager", ID: demo.HRManagerID})+"\"") || !strings.Contains(out.String(), "/hrm/employees/e-0201'") {
		t.Error("demo output lacks the POST/GET round trip")
	}

	t.Run("support", func(t *testing.T) {
		code, m, _ := getJSON(t, base, tokens["u-03"], "/crm/customers?limit=20")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, r := range records(m, "customers") {
			orig := cust[r["id"].(string)]
			ssn := r["ssn"].(string)
			if ssn == orig.SSN || !strings.HasSuffix(ssn, orig.SSN[len(orig.SSN)-4:]) || !strings.HasPrefix(ssn, "***-**-") {
				t.Errorf("ssn %q (original %q)", ssn, orig.SSN)
			}
			email := r["email"].(string)
			if email == orig.Email || !strings.HasSuffix(email, orig.Email[strings.IndexByte(orig.Email, '@'):]) {
				t.Errorf("email %q", email)
			}
			if _, ok := r["date_of_birth"]; ok {
				t.Error("date_of_birth visible to support")
			}
			if _, ok := r["notes"]; ok {
				t.Error("notes visible to support")
			}
			if r["name"] != orig.Name {
				t.Errorf("name %v", r["name"])
			}
		}
		if code, _, _ := getJSON(t, base, tokens["u-03"], "/hrm/employees?limit=1"); code != 403 {
			t.Errorf("support on HRM: %d", code)
		}
	})

	t.Run("sales sees only own accounts", func(t *testing.T) {
		code, m, _ := getJSON(t, base, tokens["u-17"], "/crm/customers?limit=100")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		rs := records(m, "customers")
		if len(rs) == 0 || len(rs) == 100 {
			t.Fatalf("%d records: the where rule did not filter", len(rs))
		}
		for _, r := range rs {
			orig := cust[r["id"].(string)]
			if orig.OwnerID != "u-17" || r["ssn"] != orig.SSN {
				t.Errorf("record %v owned by %s", r["id"], orig.OwnerID)
			}
		}
	})

	t.Run("hr manager", func(t *testing.T) {
		// Own reports (the manager_id query): in full; records of other
		// managers would be removed by the where rule.
		code, m, _ := getJSON(t, base, tokens[demo.HRManagerID], "/hrm/employees?limit=200&manager_id="+demo.HRManagerID)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		rs := records(m, "employees")
		if len(rs) == 0 {
			t.Fatal("no own reports")
		}
		for _, r := range rs {
			orig := emp[r["id"].(string)]
			if orig.ManagerID != demo.HRManagerID || r["salary"] != float64(orig.Salary) {
				t.Errorf("report %s: manager %s salary %v", orig.ID, orig.ManagerID, r["salary"])
			}
		}
		// The directory: nobody's pay or bank data.
		code, m, _ = getJSON(t, base, tokens[demo.HRManagerID], "/hrm/employees?limit=200")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, r := range records(m, "employees") {
			_, hasSalary := r["salary"]
			_, hasBank := r["bank_account"]
			if hasSalary || hasBank {
				t.Errorf("directory shows pay or bank data of %v", r["id"])
			}
		}
	})

	t.Run("analyst", func(t *testing.T) {
		code, m, _ := getJSON(t, base, tokens["u-42"], "/hrm/employees?limit=10")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		bucket := regexp.MustCompile(`^\d+-\d+$`)
		for _, r := range records(m, "employees") {
			id := r["id"].(string)
			if _, ok := emp[id]; ok || !strings.HasPrefix(id, "h_") {
				t.Errorf("id not pseudonymised: %q", id)
			}
			if s, _ := r["salary"].(string); !bucket.MatchString(s) {
				t.Errorf("salary not generalised: %v", r["salary"])
			}
			if d, _ := r["date_of_birth"].(string); len(d) != 4 {
				t.Errorf("date_of_birth not generalised: %v", r["date_of_birth"])
			}
			if _, ok := r["name"]; ok {
				t.Error("name visible to analyst")
			}
		}
		// Pseudonyms are stable: the same record gets the same pseudonym.
		_, m2, _ := getJSON(t, base, tokens["u-42"], "/hrm/employees?limit=10")
		if records(m2, "employees")[3]["id"] != records(m, "employees")[3]["id"] {
			t.Error("pseudonyms are not stable")
		}
		// Phones are format-preserving encrypted (FF1): same length and
		// separators, different digits, stable across requests.
		for i, r := range records(m, "employees") {
			orig := hrm.Employees()[i].Phone
			got, _ := r["phone"].(string)
			if got == orig || len(got) != len(orig) {
				t.Errorf("phone %q (original %q): not format-preserving encrypted", got, orig)
				continue
			}
			for j := range orig {
				isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
				if isDigit(orig[j]) != isDigit(got[j]) || (!isDigit(orig[j]) && orig[j] != got[j]) {
					t.Errorf("phone %q does not keep the shape of %q", got, orig)
					break
				}
			}
			if records(m2, "employees")[i]["phone"] != got {
				t.Errorf("fpe of %q is not stable", orig)
			}
		}
	})

	t.Run("analyst email tokens", func(t *testing.T) {
		tok := regexp.MustCompile(`^tok_v1_[A-Za-z0-9_-]+$`)
		for _, p := range []string{"/crm/customers?limit=5", "/hrm/employees?limit=5"} {
			_, m1, _ := getJSON(t, base, tokens["u-42"], p)
			_, m2, _ := getJSON(t, base, tokens["u-42"], p)
			key := "customers"
			if strings.HasPrefix(p, "/hrm/") {
				key = "employees"
			}
			r1, r2 := records(m1, key), records(m2, key)
			if len(r1) != 5 || len(r2) != 5 {
				t.Fatalf("%s: %d and %d records", p, len(r1), len(r2))
			}
			for i := range r1 {
				e1, _ := r1[i]["email"].(string)
				if !tok.MatchString(e1) || r2[i]["email"] != e1 {
					t.Errorf("%s: email %q then %v: not a stable token", p, e1, r2[i]["email"])
				}
			}
		}
	})

	const natID, iban = "ZZ987654Q", "GB29NWBK60161331926819" // written in the round trip
	t.Run("hr write round trip", func(t *testing.T) {
		hr, admin, analyst := tokens[demo.HRManagerID], tokens["u-01"], tokens["u-42"]
		code, m, raw := sendJSON(t, base, hr, "POST", "/hrm/employees",
			`{"name":"New Hire","manager_id":"`+demo.HRManagerID+`","national_id":"`+natID+`","bank_account":{"iban":"`+iban+`","bic":"NWBKGB2L"}}`)
		if code != 201 || m["national_id"] != natID {
			t.Fatalf("POST: %d %s", code, raw)
		}
		id, _ := m["id"].(string)
		if id != "e-0201" { // the id the printed commands use
			t.Fatalf("POST echo id %q: %s", id, raw)
		}
		// Admin sees what the HRM stores: envelopes, never the plaintext.
		env := regexp.MustCompile(`^enc_v1_[A-Za-z0-9_-]+$`)
		code, m, raw = getJSON(t, base, admin, "/hrm/employees/"+id)
		ba, _ := m["bank_account"].(map[string]any)
		if code != 200 || !env.MatchString(fmt.Sprint(m["national_id"])) || !env.MatchString(fmt.Sprint(ba["iban"])) || bytes.Contains(raw, []byte(natID)) || bytes.Contains(raw, []byte(iban)) {
			t.Fatalf("stored record: %d %s", code, raw)
		}
		stored := m["national_id"].(string)
		// The HR manager's own report is decrypted, in the record and in
		// the reports list.
		code, m, raw = getJSON(t, base, hr, "/hrm/employees/"+id)
		ba, _ = m["bank_account"].(map[string]any)
		if code != 200 || m["national_id"] != natID || ba["iban"] != iban {
			t.Errorf("HR manager's view: %d %s", code, raw)
		}
		_, m, _ = getJSON(t, base, hr, "/hrm/employees?limit=1000&manager_id="+demo.HRManagerID)
		found := false
		for _, r := range records(m, "employees") {
			if r["id"] == id {
				found = r["national_id"] == natID
			}
		}
		if !found {
			t.Error("the reports list does not show the decrypted national_id")
		}
		// Nobody else sees the plaintext or the envelope.
		for _, c := range []struct{ token, path string }{
			{analyst, "/hrm/employees/" + id},
			{analyst, "/hrm/employees?limit=1000"},
			{hr, "/hrm/employees?limit=1000"},
		} {
			code, _, raw := getJSON(t, base, c.token, c.path)
			if code != 200 || bytes.Contains(raw, []byte(natID)) || bytes.Contains(raw, []byte(iban)) || bytes.Contains(raw, []byte(stored)) {
				t.Errorf("%s: %d, plaintext or envelope shown", c.path, code)
			}
		}
		if code, _, _ := getJSON(t, base, tokens["u-03"], "/hrm/employees/"+id); code != 403 {
			t.Errorf("support on HRM: %d", code)
		}
		// A case-folded field name that would bypass the encryption is refused.
		if code, _, raw := sendJSON(t, base, hr, "PATCH", "/hrm/employees/"+id, `{"National_ID":"`+stored+`"}`); code != 400 {
			t.Errorf("PATCH National_ID: %d %s", code, raw)
		}
	})

	t.Run("admin", func(t *testing.T) {
		code, m, _ := getJSON(t, base, tokens["u-01"], "/crm/customers/c-0001")
		if code != 200 || m["ssn"] != cust["c-0001"].SSN || m["notes"] != cust["c-0001"].Notes {
			t.Errorf("admin view: %d %v", code, m)
		}
	})

	t.Run("anonymous and forged", func(t *testing.T) {
		if code, _, _ := getJSON(t, base, "", "/crm/customers?limit=1"); code != 401 {
			t.Errorf("anonymous: %d", code)
		}
		if code, _, _ := getJSON(t, base, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LTAxIn0.", "/crm/customers?limit=1"); code != 401 {
			t.Errorf("alg none: %d", code)
		}
	})

	// No sensitive fixture value appears in the audit trail.
	auditPath := regexp.MustCompile(`Audit trail \(one JSON line per request\): (\S+)`).FindStringSubmatch(out.String())
	if auditPath == nil {
		t.Fatal("demo did not print its audit file")
	}
	time.Sleep(100 * time.Millisecond)
	trail, err := os.ReadFile(filepath.Clean(auditPath[1]))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(trail)), "\n")
	if len(lines) < 9 {
		t.Fatalf("%d audit events", len(lines))
	}
	// Every string in every event is checked: a long sensitive value must
	// not appear inside any of them, a short one (card digits, a salary)
	// must not be any of them. Numbers in events are sizes and durations.
	var leaves []string
	for _, l := range lines {
		var ev any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("audit line is not JSON: %s", l)
		}
		leaves = stringLeaves(ev, leaves)
	}
	for _, v := range append(demo.SensitiveFixtureValues(crm, hrm), natID, iban) {
		for _, leaf := range leaves {
			if leaf == v || (len(v) >= 6 && strings.Contains(leaf, v)) {
				t.Errorf("audit trail contains the sensitive value %q", v)
			}
		}
	}
}

// generated are audit fields that hold generated identifiers and hashes
// (hex), never data: a run of digits in them is chance, not a leak.
var generated = map[string]bool{"hash": true, "prev_hash": true, "chain_id": true, "sig": true,
	"request_id": true, "decision_id": true, "policy_revision": true, "time": true}

func stringLeaves(v any, dst []string) []string {
	switch v := v.(type) {
	case string:
		return append(dst, v)
	case []any:
		for _, e := range v {
			dst = stringLeaves(e, dst)
		}
	case map[string]any:
		for k, e := range v {
			if generated[k] {
				continue
			}
			dst = append(dst, k)
			dst = stringLeaves(e, dst)
		}
	}
	return dst
}
