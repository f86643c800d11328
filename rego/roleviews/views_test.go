package roleviews

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/veilgw/veil/demo"
	"github.com/veilgw/veil/transforms"
	"github.com/veilgw/veil/vault"
)

// viewEnv is the shipped policies, the transforms engine and the demo
// upstreams: the parts of the gateway that decide what each role sees.
type viewEnv struct {
	pq   rego.PreparedEvalQuery
	keys vault.Keyring
	up   *demo.Upstreams
}

func newViewEnv(t *testing.T) *viewEnv {
	t.Helper()
	up, err := demo.StartUpstreams("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	keys, err := vault.NewMemory("pii")
	if err != nil {
		t.Fatal(err)
	}
	return &viewEnv{pq: prepare(t), keys: keys, up: up}
}

// view asks the policy about GET path (with its route prefix, e.g.
// "/crm/customers?limit=1000") for subject id with role, fetches the
// upstream body over loopback and applies the response transforms. It
// returns the upstream body, the body the client would get and the record
// ids the audit would log.
func (e *viewEnv) view(t *testing.T, id, role, path string) (upstream, out []byte, recordIDs []string) {
	t.Helper()
	x := e.exchange(t, id, role, "GET", path, nil)
	return x.upstream, x.out, x.res.RecordIDs
}

// exchanged is one request through the policy, the transforms engine and
// the demo upstream.
type exchanged struct {
	sent     []byte // the request body the upstream received
	upstream []byte // the upstream's response body
	out      []byte // the response body the client would get
	res      transforms.Result
}

// exchange is view for any method: the request body is rewritten by the
// decision's request transforms before it goes upstream, the response by
// its response transforms. The upstream must answer 200 or 201.
func (e *viewEnv) exchange(t *testing.T, id, role, method, path string, reqBody any) exchanged {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	query := map[string]any{}
	for k, vs := range u.Query() {
		query[k] = toAny(vs)
	}
	request := map[string]any{
		"method": method, "path": u.Path, "segments": toAny(segs), "query": query,
		"headers": map[string]any{}, "body_state": "absent",
	}
	var raw []byte
	if reqBody != nil {
		if raw, err = json.Marshal(reqBody); err != nil {
			t.Fatal(err)
		}
		var parsed any
		if err := json.Unmarshal(raw, &parsed); err != nil {
			t.Fatal(err)
		}
		request["body_state"], request["body"] = "parsed", parsed
	}
	d := decide(t, e.pq, map[string]any{
		"request": request,
		"route":   map[string]any{"name": segs[0], "prefix": "/" + segs[0] + "/"},
		"subject": map[string]any{"authenticated": true, "id": id, "roles": []any{role}, "claims": map[string]any{}},
	})
	if d["allow"] != true {
		t.Fatalf("%s %s %s denied: %v", role, method, path, d)
	}
	audit := d["audit"].(map[string]any)
	compile := func(dir, recordIDs string) *transforms.Program {
		rules, err := transforms.ParseRules(d[dir])
		if err != nil {
			t.Fatalf("decoding the %s: %v", dir, err)
		}
		prog, err := transforms.Compile(rules, transforms.Options{Keys: e.keys, RecordIDs: recordIDs})
		if err != nil {
			t.Fatalf("compiling the %s of %s: %v", dir, role, err)
		}
		return prog
	}
	var x exchanged
	x.sent = raw
	if raw != nil {
		var reqRes transforms.Result
		if x.sent, err = compile("request_transforms", "").Rewrite(nil, raw, &reqRes); err != nil {
			t.Fatalf("request rewrite: %v", err)
		}
	}
	addr := e.up.CRMAddr()
	if segs[0] == "hrm" {
		addr = e.up.HRMAddr()
	}
	upstreamPath := strings.TrimPrefix(path, "/"+segs[0])
	req, err := http.NewRequest(method, "http://"+addr+upstreamPath, bytes.NewReader(x.sent))
	if err != nil {
		t.Fatal(err)
	}
	if x.sent != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if x.upstream, err = io.ReadAll(resp.Body); err != nil || (resp.StatusCode != 200 && resp.StatusCode != 201) {
		t.Fatalf("upstream %s %s: %d %v: %s", method, upstreamPath, resp.StatusCode, err, x.upstream)
	}
	if x.out, err = compile("response_transforms", audit["record_ids"].(string)).Rewrite(nil, x.upstream, &x.res); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	if !json.Valid(x.out) {
		t.Fatalf("rewritten body is not JSON: %s", x.out)
	}
	return x
}

// leaves returns the text of every scalar in a JSON document (strings
// unquoted, numbers as written).
func leaves(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	out := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch v := tok.(type) {
		case string:
			out[v] = true
		case json.Number:
			out[v.String()] = true
		}
	}
}

// body is a rewritten response body and its scalar values.
type body struct {
	text   []byte
	values map[string]bool
}

func newBody(t *testing.T, text []byte) body { return body{text, leaves(t, text)} }

// assertHidden fails when a value appears in out, as a whole JSON value
// or, for values of 8 characters or more, anywhere in the text.
func assertHidden(t *testing.T, b body, what string, values ...string) {
	t.Helper()
	out, l := b.text, b.values
	for _, v := range values {
		if v == "" {
			continue
		}
		if l[v] || (len(v) >= 8 && bytes.Contains(out, []byte(v))) {
			t.Errorf("%s leaked", what)
			return
		}
	}
}

func assertShown(t *testing.T, b body, what string, values ...string) {
	t.Helper()
	l := b.values
	for _, v := range values {
		if !l[v] {
			t.Errorf("%s missing from the view", what)
			return
		}
	}
}

// TestRoleViews runs the shipped policies against the demo data through
// the real transforms engine: each role sees what the policy promises and
// nothing else.
func TestRoleViews(t *testing.T) {
	t.Parallel()
	e := newViewEnv(t)
	customers := e.up.CRM.Customers()
	employees := e.up.HRM.Employees()
	deals := e.up.CRM.Deals()

	t.Run("admin sees the upstream unchanged", func(t *testing.T) {
		for _, p := range []string{"/crm/customers?limit=1000", "/hrm/employees/e-0042", "/crm/deals"} {
			in, out, _ := e.view(t, "u-01", "admin", p)
			if !bytes.Equal(in, out) {
				t.Errorf("%s changed", p)
			}
		}
	})

	t.Run("support", func(t *testing.T) {
		_, text, ids := e.view(t, "u-03", "support", "/crm/customers?limit=1000")
		out := newBody(t, text)
		for _, c := range customers {
			assertHidden(t, out, "support: ssn/email/phone/national id/birth date/notes of "+c.ID, c.SSN, c.Email, c.Phone, c.NationalID, c.DateOfBirth, c.Notes)
			assertShown(t, out, "support: card_last4, name and masked ssn of "+c.ID, c.CardLast4, c.Name, "***-**-"+c.SSN[7:])
			at := strings.IndexByte(c.Email, '@')
			if !bytes.Contains(out.text, []byte(`@`+c.Email[at+1:]+`"`)) {
				t.Errorf("support: email domain of %s not kept", c.ID)
			}
		}
		if len(ids) != 100 || ids[0] != `"c-0001"` {
			t.Errorf("record ids %d %v", len(ids), ids[:min(3, len(ids))])
		}
	})

	t.Run("sales list keeps only own accounts", func(t *testing.T) {
		_, text, ids := e.view(t, "u-17", "sales", "/crm/customers?limit=1000")
		out := newBody(t, text)
		var l struct {
			Customers []demo.Customer `json:"customers"`
		}
		if err := json.Unmarshal(text, &l); err != nil {
			t.Fatal(err)
		}
		var want []demo.Customer
		for _, c := range customers {
			if c.OwnerID == "u-17" {
				want = append(want, c)
			} else {
				assertHidden(t, out, "sales: another rep's customer "+c.ID, c.SSN, c.Email, c.Phone, c.NationalID, c.Notes, c.ID)
			}
		}
		if !slices.Equal(l.Customers, want) {
			t.Errorf("sales sees %d customers, want its %d in full", len(l.Customers), len(want))
		}
		var wantIDs []string
		for _, c := range want {
			wantIDs = append(wantIDs, strconv.Quote(c.ID))
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("record ids %v, want the %d surviving records", ids, len(wantIDs))
		}
	})

	t.Run("sales single records", func(t *testing.T) {
		own, other := customers[0], customers[1]
		if own.OwnerID != "u-17" || other.OwnerID == "u-17" {
			t.Fatal("fixture owners changed")
		}
		in, full, _ := e.view(t, "u-17", "sales", "/crm/customers/"+own.ID)
		if !bytes.Equal(in, full) {
			t.Error("own customer not shown in full")
		}
		_, text, _ := e.view(t, "u-17", "sales", "/crm/customers/"+other.ID)
		assertHidden(t, newBody(t, text), "sales: other rep's single customer", other.SSN, other.Email, other.Phone, other.NationalID, other.Notes,
			other.Name, other.CardLast4, other.DateOfBirth, other.Address.Street, other.Address.Zip, other.OwnerID)
		_, text, _ = e.view(t, "u-17", "sales", "/crm/deals?limit=1000")
		out := newBody(t, text)
		for _, d := range deals {
			if d.OwnerID == "u-17" {
				assertShown(t, out, "sales: own deal "+d.ID, d.ID, d.Notes)
			} else {
				assertHidden(t, out, "sales: other rep's deal "+d.ID, d.ID, d.Notes)
			}
		}
	})

	reports := func() (mine, others []demo.Employee) {
		for _, x := range employees {
			if x.ManagerID == demo.HRManagerID {
				mine = append(mine, x)
			} else {
				others = append(others, x)
			}
		}
		return mine, others
	}
	mine, others := reports()

	t.Run("hr directory", func(t *testing.T) {
		_, text, _ := e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees?limit=1000")
		out := newBody(t, text)
		for _, x := range employees {
			assertHidden(t, out, "hr directory: protected fields of "+x.ID, strconv.Itoa(x.Salary), x.BankAccount.IBAN, x.NationalID, x.DateOfBirth, x.Address.Street)
			for _, r := range x.PerformanceReviews {
				assertHidden(t, out, "hr directory: review of "+x.ID, r.Comments)
			}
			assertShown(t, out, "hr directory: name and title of "+x.ID, x.Name, x.Title, x.ID)
		}
	})

	t.Run("hr reports list", func(t *testing.T) {
		_, text, _ := e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees?limit=1000&manager_id="+demo.HRManagerID)
		out := newBody(t, text)
		for _, x := range mine {
			assertShown(t, out, "hr: report "+x.ID, strconv.Itoa(x.Salary), x.BankAccount.IBAN, x.NationalID)
		}
		for _, x := range others {
			assertHidden(t, out, "hr: non-report "+x.ID, x.Email, x.BankAccount.IBAN, x.NationalID)
		}
	})

	t.Run("hr single records", func(t *testing.T) {
		in, out, _ := e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees/"+mine[0].ID)
		if !bytes.Equal(in, out) {
			t.Error("report not shown in full")
		}
		x := others[len(others)-1]
		_, text, _ := e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees/"+x.ID)
		assertHidden(t, newBody(t, text), "hr: single non-report", strconv.Itoa(x.Salary), x.BankAccount.IBAN, x.NationalID, x.DateOfBirth, x.Address.Street, x.Email)
	})

	t.Run("analyst crm", func(t *testing.T) {
		_, text, ids := e.view(t, "u-42", "analyst", "/crm/customers?limit=1000")
		out := newBody(t, text)
		for _, c := range customers {
			assertHidden(t, out, "analyst: identifying data of a customer", c.ID, c.Name, c.Email, c.Phone, c.SSN, c.NationalID, c.Address.Street, c.Notes, c.DateOfBirth, c.OwnerID, c.Address.Zip)
			assertShown(t, out, "analyst: city and birth year", c.Address.City, c.DateOfBirth[:4])
		}
		if len(ids) == 0 {
			t.Fatal("no record ids extracted for the analyst's list")
		}
		clear := make(map[string]bool, len(customers))
		for _, c := range customers {
			clear[c.ID] = true
		}
		for _, id := range ids {
			// Exact comparison: a pseudonym is random base64url and may
			// contain any short substring, "c-0" included.
			if clear[id] {
				t.Fatalf("record id %s logged in the clear", id)
			}
		}
	})

	t.Run("analyst hrm", func(t *testing.T) {
		_, text, _ := e.view(t, "u-42", "analyst", "/hrm/employees?limit=1000")
		out := newBody(t, text)
		for _, x := range employees {
			assertHidden(t, out, "analyst: identifying or exact data of an employee", x.ID, x.Name, x.Email, x.NationalID, x.BankAccount.IBAN, strconv.Itoa(x.Salary), x.ManagerID)
			lo := x.Salary / 10000 * 10000
			assertShown(t, out, "analyst: salary band", strconv.Itoa(lo)+"-"+strconv.Itoa(lo+10000), x.Department)
			for _, r := range x.PerformanceReviews {
				assertHidden(t, out, "analyst: review comments", r.Comments)
			}
		}
		_, text, _ = e.view(t, "u-42", "analyst", "/hrm/employees/e-0050/reviews")
		assertHidden(t, newBody(t, text), "analyst: employee id of reviews", "e-0050")
	})
}

// TestReversibleProtections runs the tokenize and encrypt/decrypt rules of
// the shipped policies through the real engine and the demo upstreams:
// analysts get stable email tokens, HRM writes reach the upstream as
// envelopes that only the HR manager's view of their own reports opens.
func TestReversibleProtections(t *testing.T) {
	t.Parallel()
	e := newViewEnv(t)
	employees := e.up.HRM.Employees()
	customers := e.up.CRM.Customers()
	tokRE := regexp.MustCompile(`^tok_v1_[A-Za-z0-9_-]+$`)
	envRE := regexp.MustCompile(`^enc_v1_[A-Za-z0-9_-]+$`)

	t.Run("analyst email tokens", func(t *testing.T) {
		for _, p := range []string{"/crm/customers?limit=1000", "/hrm/employees?limit=1000"} {
			_, first, _ := e.view(t, "u-42", "analyst", p)
			_, second, _ := e.view(t, "u-42", "analyst", p)
			if !bytes.Equal(first, second) {
				t.Errorf("%s: two views differ: tokens are not stable", p)
			}
			var doc struct{ Customers, Employees []map[string]any }
			if err := json.Unmarshal(first, &doc); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, recs := range [][]map[string]any{doc.Customers, doc.Employees} {
				for _, r := range recs {
					tok, _ := r["email"].(string)
					if !tokRE.MatchString(tok) {
						t.Fatalf("%s: email %q is not a token", p, tok)
					}
					seen[tok] = true
				}
			}
			if n := len(doc.Customers) + len(doc.Employees); n == 0 || len(seen) != n {
				t.Errorf("%s: %d distinct tokens for %d records", p, len(seen), n)
			}
		}
		// The token is the email's and nothing else's: the same address
		// yields the same token through a single record.
		_, one, _ := e.view(t, "u-42", "analyst", "/crm/customers/"+customers[0].ID)
		_, all, _ := e.view(t, "u-42", "analyst", "/crm/customers?limit=1")
		var r map[string]any
		var l struct{ Customers []map[string]any }
		if json.Unmarshal(one, &r) != nil || json.Unmarshal(all, &l) != nil || len(l.Customers) != 1 || r["email"] != l.Customers[0]["email"] {
			t.Errorf("single-record token %v differs from the list's", r["email"])
		}
	})

	const natID, iban = "ZZ123456Q", "GB29NWBK60161331926819"
	var created string
	t.Run("hr write is encrypted upstream and decrypted for the hr manager", func(t *testing.T) {
		x := e.exchange(t, demo.HRManagerID, "hr_manager", "POST", "/hrm/employees", map[string]any{
			"name": "New Hire", "manager_id": demo.HRManagerID, "national_id": natID,
			"bank_account": map[string]any{"iban": iban, "bic": "NWBKGB2L"},
		})
		if bytes.Contains(x.sent, []byte(natID)) || bytes.Contains(x.sent, []byte(iban)) || bytes.Contains(x.upstream, []byte(natID)) || bytes.Contains(x.upstream, []byte(iban)) {
			t.Fatalf("plaintext reached the upstream: %s", x.upstream)
		}
		var stored demo.Employee
		if err := json.Unmarshal(x.upstream, &stored); err != nil {
			t.Fatal(err)
		}
		if !envRE.MatchString(stored.NationalID) || !envRE.MatchString(stored.BankAccount.IBAN) || stored.BankAccount.BIC != "NWBKGB2L" {
			t.Fatalf("upstream stored %q / %q", stored.NationalID, stored.BankAccount)
		}
		created = stored.ID
		echo := newBody(t, x.out)
		assertShown(t, echo, "hr: own new report in the POST echo", natID, iban, created)
		if x.res.Failed != 0 {
			t.Errorf("%d failed values", x.res.Failed)
		}

		for _, p := range []string{"/hrm/employees/" + created, "/hrm/employees?limit=1000&manager_id=" + demo.HRManagerID} {
			x := e.exchange(t, demo.HRManagerID, "hr_manager", "GET", p, nil)
			b := newBody(t, x.out)
			assertShown(t, b, "hr: decrypted report in "+p, natID, iban)
			if bytes.Contains(x.out, []byte("enc_v")) || x.res.Failed != 0 {
				t.Errorf("%s: envelope left or %d failed values", p, x.res.Failed)
			}
		}
		// Seed reports (stored in the clear) keep their plaintext.
		for _, s := range employees {
			if s.ManagerID == demo.HRManagerID {
				_, out, _ := e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees/"+s.ID)
				assertShown(t, newBody(t, out), "hr: seed report "+s.ID, s.NationalID, s.BankAccount.IBAN)
				break
			}
		}
	})
	if created == "" {
		t.Fatal("no employee created")
	}

	t.Run("everyone else sees neither the plaintext nor an opened envelope", func(t *testing.T) {
		in, out, _ := e.view(t, "u-01", "admin", "/hrm/employees/"+created)
		if !bytes.Equal(in, out) || !bytes.Contains(out, []byte(`"national_id":"enc_v1_`)) {
			t.Errorf("admin does not see what is stored: %s", out)
		}
		for _, v := range []struct{ id, role, path string }{
			{demo.HRManagerID, "hr_manager", "/hrm/employees?limit=1000"},
			{"u-42", "analyst", "/hrm/employees?limit=1000"},
			{"u-42", "analyst", "/hrm/employees/" + created},
		} {
			_, out, _ := e.view(t, v.id, v.role, v.path)
			assertHidden(t, newBody(t, out), v.role+" "+v.path, natID, iban)
			if bytes.Contains(out, []byte("enc_v")) {
				t.Errorf("%s %s: envelope shown", v.role, v.path)
			}
		}
	})

	t.Run("no decryption oracle", func(t *testing.T) {
		// Another manager's report, written through Veil by admin.
		x := e.exchange(t, "u-01", "admin", "POST", "/hrm/employees", map[string]any{
			"name": "Other Report", "manager_id": "e-0008", "national_id": natID + "X",
		})
		var stored demo.Employee
		if err := json.Unmarshal(x.out, &stored); err != nil || !envRE.MatchString(stored.NationalID) {
			t.Fatalf("admin echo %s", x.out)
		}
		// The HR manager reads it: masked, never opened.
		_, out, _ := e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees/"+stored.ID)
		assertHidden(t, newBody(t, out), "hr: non-report's national id", natID+"X", stored.NationalID)
		// The HR manager replays the envelope into an own report: it is
		// encrypted again, so reading it back yields the envelope only.
		x = e.exchange(t, demo.HRManagerID, "hr_manager", "PATCH", "/hrm/employees/"+created, map[string]any{"national_id": stored.NationalID})
		assertHidden(t, newBody(t, x.out), "hr: replayed envelope opened", natID+"X")
		assertShown(t, newBody(t, x.out), "hr: replayed envelope echoed as sent", stored.NationalID)
		_, out, _ = e.view(t, demo.HRManagerID, "hr_manager", "/hrm/employees/"+created)
		assertHidden(t, newBody(t, out), "hr: replayed envelope opened on read", natID+"X")
	})
}
