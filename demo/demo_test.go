package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve runs h on a loopback listener until the test ends.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, CloseOnShutdown: true}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

var client = &http.Client{Timeout: 5 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, addr, method, path, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T from %s: %v", v, b, err)
	}
	return v
}

type customerList struct {
	Customers []Customer `json:"customers"`
	Total     int        `json:"total"`
	Offset    int        `json:"offset"`
	Limit     int        `json:"limit"`
}

type dealList struct {
	Deals  []Deal `json:"deals"`
	Total  int    `json:"total"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
}

type ticketList struct {
	Tickets []Ticket `json:"tickets"`
	Total   int      `json:"total"`
	Offset  int      `json:"offset"`
	Limit   int      `json:"limit"`
}

type employeeList struct {
	Employees []Employee `json:"employees"`
	Total     int        `json:"total"`
	Offset    int        `json:"offset"`
	Limit     int        `json:"limit"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if e := decode[apiError](t, r.body); e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q", e, code)
	}
}

func ids[T any](vs []T, id func(*T) string) []string {
	out := make([]string, len(vs))
	for i := range vs {
		out[i] = id(&vs[i])
	}
	return out
}

func customerIDs(cs []Customer) []string { return ids(cs, func(c *Customer) string { return c.ID }) }

func TestDeterministicData(t *testing.T) {
	t.Parallel()
	a, b, c := NewCRM(7, 40), NewCRM(7, 40), NewCRM(8, 40)
	if !reflect.DeepEqual(a.Customers(), b.Customers()) || !reflect.DeepEqual(a.Deals(), b.Deals()) || !reflect.DeepEqual(a.Tickets(), b.Tickets()) {
		t.Error("same seed, different CRM data")
	}
	if reflect.DeepEqual(a.Customers(), c.Customers()) {
		t.Error("different seeds, same CRM data")
	}
	h1, h2, h3 := NewHRM(7, 40), NewHRM(7, 40), NewHRM(8, 40)
	if !reflect.DeepEqual(h1.Employees(), h2.Employees()) {
		t.Error("same seed, different HRM data")
	}
	if reflect.DeepEqual(h1.Employees(), h3.Employees()) {
		t.Error("different seeds, same HRM data")
	}
	// A fixed seed pins the data: a change of generator shows up here.
	if got := a.Customers()[0]; got.ID != "c-0001" || got.Name == "" || got.OwnerID != "u-17" {
		t.Errorf("first customer %+v", got)
	}
	if NewCRM(DefaultSeed, DefaultCustomers).Customers()[0].SSN != NewCRM(DefaultSeed, 1).Customers()[0].SSN {
		t.Error("the first records depend on the number of records")
	}
}

var (
	ssnRE   = regexp.MustCompile(`^(\d{3})-(\d{2})-(\d{4})$`)
	emailRE = regexp.MustCompile(`^[a-z.]+\d+@[a-z.]+\.[a-z]+$`)
	dateRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	last4RE = regexp.MustCompile(`^\d{4}$`)
)

func TestGeneratedCustomers(t *testing.T) {
	t.Parallel()
	crm := NewCRM(DefaultSeed, DefaultCustomers)
	cs := crm.Customers()
	if len(cs) != DefaultCustomers || len(crm.Deals()) != DefaultCustomers || len(crm.Tickets()) != DefaultCustomers {
		t.Fatalf("%d customers, %d deals, %d tickets", len(cs), len(crm.Deals()), len(crm.Tickets()))
	}
	emails := map[string]bool{}
	owners := map[string]int{}
	for i, c := range cs {
		if c.ID != fmt.Sprintf("c-%04d", i+1) {
			t.Fatalf("customer %d has id %q", i, c.ID)
		}
		m := ssnRE.FindStringSubmatch(c.SSN)
		if m == nil || m[1] == "000" || m[1] == "666" || m[1] >= "900" || m[2] == "00" || m[3] == "0000" {
			t.Errorf("%s: SSN %q outside the assigned ranges", c.ID, c.SSN)
		}
		if !emailRE.MatchString(c.Email) || emails[c.Email] {
			t.Errorf("%s: email %q malformed or duplicated", c.ID, c.Email)
		}
		emails[c.Email] = true
		if _, err := time.Parse(time.DateOnly, c.DateOfBirth); err != nil {
			t.Errorf("%s: date_of_birth %q", c.ID, c.DateOfBirth)
		}
		if _, err := time.Parse(time.RFC3339, c.CreatedAt); err != nil {
			t.Errorf("%s: created_at %q", c.ID, c.CreatedAt)
		}
		if !last4RE.MatchString(c.CardLast4) || !strings.HasPrefix(c.Phone, "+") || len(c.NationalID) < 8 {
			t.Errorf("%s: card %q phone %q national id %q", c.ID, c.CardLast4, c.Phone, c.NationalID)
		}
		if c.Address.Street == "" || c.Address.City == "" || c.Address.Zip == "" || c.Address.Country == "" || c.Notes == "" || c.Name == "" {
			t.Errorf("%s: incomplete %+v", c.ID, c)
		}
		owners[c.OwnerID]++
	}
	if len(owners) != len(SalesRepIDs) || owners["u-17"] != DefaultCustomers/len(SalesRepIDs) {
		t.Errorf("owners %v", owners)
	}
	known := map[string]Customer{}
	for _, c := range cs {
		known[c.ID] = c
	}
	for _, d := range crm.Deals() {
		c, ok := known[d.CustomerID]
		if !ok || d.OwnerID != c.OwnerID || d.Amount <= 0 || d.Notes == "" {
			t.Errorf("deal %+v does not match its customer", d)
		}
	}
	for _, tk := range crm.Tickets() {
		if _, ok := known[tk.CustomerID]; !ok || !slices.Contains(SupportAgentIDs, tk.Assignee) || tk.Body == "" {
			t.Errorf("ticket %+v", tk)
		}
	}
}

func TestGeneratedEmployees(t *testing.T) {
	t.Parallel()
	es := NewHRM(DefaultSeed, DefaultEmployees).Employees()
	byID := map[string]Employee{}
	for _, e := range es {
		byID[e.ID] = e
	}
	reports := map[string]int{}
	for i, e := range es {
		if e.ID != fmt.Sprintf("e-%04d", i+1) {
			t.Fatalf("employee %d has id %q", i, e.ID)
		}
		if e.ID == "e-0001" {
			if e.ManagerID != "" {
				t.Errorf("the chief executive has a manager")
			}
		} else if _, ok := byID[e.ManagerID]; !ok {
			t.Errorf("%s: unknown manager %q", e.ID, e.ManagerID)
		}
		reports[e.ManagerID]++
		if e.Salary <= 0 || e.Salary%10000 == 0 {
			t.Errorf("%s: salary %d", e.ID, e.Salary)
		}
		if len(e.BankAccount.IBAN) < 15 || e.BankAccount.BIC == "" || !dateRE.MatchString(e.DateOfBirth) || !dateRE.MatchString(e.HiredAt) {
			t.Errorf("%s: incomplete %+v", e.ID, e)
		}
		if e.PerformanceReviews == nil {
			t.Errorf("%s: performance_reviews is null", e.ID)
		}
		for _, r := range e.PerformanceReviews {
			if r.Rating < 1 || r.Rating > 5 || r.Comments == "" || r.Year < 2021 {
				t.Errorf("%s: review %+v", e.ID, r)
			}
		}
	}
	hr := byID[HRManagerID]
	if hr.Department != "Human Resources" || hr.Title != "HR Manager" {
		t.Errorf("e-0007 is %q in %q", hr.Title, hr.Department)
	}
	if n := reports[HRManagerID]; n < 8 || n > 14 {
		t.Errorf("the HR manager has %d reports, want about ten", n)
	}
	for _, e := range es {
		if e.ManagerID == HRManagerID && e.Department != "Human Resources" {
			t.Errorf("%s reports to HR but works in %q", e.ID, e.Department)
		}
	}
}

// TestResponsesEchoTheStore: the list endpoint serves exactly the stored
// records, in order (the gateway's tests rely on an honest upstream).
func TestResponsesEchoTheStore(t *testing.T) {
	t.Parallel()
	crm, hrm := NewCRM(3, 120), NewHRM(3, 120)
	ca, ha := serve(t, crm.Handler()), serve(t, hrm.Handler())
	cl := decode[customerList](t, do(t, ca, "GET", "/customers?limit=1000", "").body)
	if !reflect.DeepEqual(cl.Customers, crm.Customers()) {
		t.Error("customer list differs from the store")
	}
	el := decode[employeeList](t, do(t, ha, "GET", "/employees?limit=1000", "").body)
	if !reflect.DeepEqual(el.Employees, hrm.Employees()) {
		t.Error("employee list differs from the store")
	}
	for _, want := range crm.Customers()[:5] {
		if got := decode[Customer](t, do(t, ca, "GET", "/customers/"+want.ID, "").body); !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s = %+v, want %+v", want.ID, got, want)
		}
	}
}

func TestCRMCustomers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		errCode      string                                   // for error responses
		check        func(t *testing.T, crm *CRM, r response) // for others
	}{
		{name: "list default page", method: "GET", path: "/customers", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			l := decode[customerList](t, r.body)
			if l.Total != 60 || l.Offset != 0 || l.Limit != DefaultLimit || len(l.Customers) != DefaultLimit || l.Customers[0].ID != "c-0001" {
				t.Errorf("total %d offset %d limit %d len %d", l.Total, l.Offset, l.Limit, len(l.Customers))
			}
		}},
		{name: "list page", method: "GET", path: "/customers?limit=3&offset=10", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			l := decode[customerList](t, r.body)
			if got := customerIDs(l.Customers); !slices.Equal(got, []string{"c-0011", "c-0012", "c-0013"}) || l.Total != 60 || l.Offset != 10 || l.Limit != 3 {
				t.Errorf("ids %v total %d", got, l.Total)
			}
		}},
		{name: "offset past the end", method: "GET", path: "/customers?offset=500", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			if l := decode[customerList](t, r.body); len(l.Customers) != 0 || l.Total != 60 || l.Customers == nil {
				t.Errorf("%s", r.body)
			}
		}},
		{name: "limit clamped", method: "GET", path: "/customers?limit=5000", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			if l := decode[customerList](t, r.body); l.Limit != MaxLimit || len(l.Customers) != 60 {
				t.Errorf("limit %d len %d", l.Limit, len(l.Customers))
			}
		}},
		{name: "limit zero", method: "GET", path: "/customers?limit=0", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			if l := decode[customerList](t, r.body); l.Limit != 0 || len(l.Customers) != 0 || l.Total != 60 {
				t.Errorf("%s", r.body)
			}
		}},
		{name: "negative limit", method: "GET", path: "/customers?limit=-1", status: 400, errCode: "bad_query"},
		{name: "bad offset", method: "GET", path: "/customers?offset=x", status: 400, errCode: "bad_query"},
		{name: "owner filter", method: "GET", path: "/customers?owner_id=u-17&limit=1000", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			l := decode[customerList](t, r.body)
			if l.Total != 12 || len(l.Customers) != 12 {
				t.Errorf("total %d", l.Total)
			}
			for _, c := range l.Customers {
				if c.OwnerID != "u-17" {
					t.Errorf("%s owned by %s", c.ID, c.OwnerID)
				}
			}
		}},
		{name: "owner filter no match", method: "GET", path: "/customers?owner_id=nobody", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			if string(r.body) != `{"customers":[],"total":0,"offset":0,"limit":50}` {
				t.Errorf("%s", r.body)
			}
		}},
		{name: "get", method: "GET", path: "/customers/c-0002", status: 200, check: func(t *testing.T, crm *CRM, r response) {
			if got := decode[Customer](t, r.body); !reflect.DeepEqual(got, crm.Customers()[1]) {
				t.Errorf("%+v", got)
			}
		}},
		{name: "head", method: "HEAD", path: "/customers/c-0002", status: 200},
		{name: "get missing", method: "GET", path: "/customers/c-9999", status: 404, errCode: "not_found"},
		{name: "create", method: "POST", path: "/customers", status: 201,
			body: `{"name":"Nova Ltd","email":"ops@nova.example","ssn":"123-45-6789","owner_id":"u-17","address":{"city":"Lyon"}}`,
			check: func(t *testing.T, crm *CRM, r response) {
				c := decode[Customer](t, r.body)
				if c.ID != "c-0061" || c.Name != "Nova Ltd" || c.SSN != "123-45-6789" || c.Address.City != "Lyon" || c.CreatedAt == "" {
					t.Errorf("%+v", c)
				}
				if got := crm.Customers(); len(got) != 61 || !reflect.DeepEqual(got[60], c) {
					t.Errorf("not stored as answered")
				}
			}},
		{name: "create ignores client id", method: "POST", path: "/customers", status: 201, body: `{"id":"c-0001","name":"X"}`,
			check: func(t *testing.T, crm *CRM, r response) {
				if c := decode[Customer](t, r.body); c.ID != "c-0061" || crm.Customers()[0].Name == "X" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "create bad JSON", method: "POST", path: "/customers", body: `{"name":`, status: 400, errCode: "invalid_body"},
		{name: "create not an object", method: "POST", path: "/customers", body: `["name"]`, status: 400, errCode: "invalid_body"},
		{name: "create two documents", method: "POST", path: "/customers", body: `{"name":"a"} {"name":"b"}`, status: 400, errCode: "invalid_body"},
		{name: "create unknown field", method: "POST", path: "/customers", body: `{"name":"a","nmae":"b"}`, status: 400, errCode: "invalid_body"},
		{name: "create wrong type", method: "POST", path: "/customers", body: `{"name":42}`, status: 400, errCode: "invalid_body"},
		{name: "create without name", method: "POST", path: "/customers", body: `{"email":"a@b.c"}`, status: 400, errCode: "invalid_body"},
		{name: "create empty body", method: "POST", path: "/customers", status: 400, errCode: "invalid_body"},
		{name: "put replaces", method: "PUT", path: "/customers/c-0003", body: `{"id":"c-0009","name":"Only Name"}`, status: 200,
			check: func(t *testing.T, crm *CRM, r response) {
				want := Customer{ID: "c-0003", Name: "Only Name"}
				if got := decode[Customer](t, r.body); got != want || crm.Customers()[2] != want {
					t.Errorf("%+v", got)
				}
				if crm.Customers()[8].Name == "Only Name" {
					t.Error("PUT wrote through the body id")
				}
			}},
		{name: "patch merges", method: "PATCH", path: "/customers/c-0004", body: `{"email":"new@example.com","address":{"city":"Paris"}}`, status: 200,
			check: func(t *testing.T, crm *CRM, r response) {
				want := NewCRM(11, 60).Customers()[3]
				want.Email, want.Address.City = "new@example.com", "Paris"
				if got := decode[Customer](t, r.body); got != want || crm.Customers()[3] != want {
					t.Errorf("%+v, want %+v", got, want)
				}
			}},
		{name: "patch bad JSON keeps record", method: "PATCH", path: "/customers/c-0004", body: `{"email":1}`, status: 400, errCode: "invalid_body"},
		{name: "put missing", method: "PUT", path: "/customers/c-9999", body: `{"name":"x"}`, status: 404, errCode: "not_found"},
		{name: "delete", method: "DELETE", path: "/customers/c-0005", status: 204, check: func(t *testing.T, crm *CRM, r response) {
			if len(r.body) != 0 || len(crm.Customers()) != 59 || slices.Contains(customerIDs(crm.Customers()), "c-0005") {
				t.Errorf("not deleted")
			}
		}},
		{name: "delete missing", method: "DELETE", path: "/customers/c-9999", status: 404, errCode: "not_found"},
		{name: "method not allowed", method: "DELETE", path: "/customers", status: 405, errCode: "method_not_allowed"},
		{name: "unknown path", method: "GET", path: "/customers/c-0001/orders", status: 404, errCode: "not_found"},
		{name: "root", method: "GET", path: "/", status: 404, errCode: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			crm := NewCRM(11, 60)
			r := do(t, serve(t, crm.Handler()), tt.method, tt.path, tt.body)
			if tt.errCode != "" {
				wantError(t, r, tt.status, tt.errCode)
				if !reflect.DeepEqual(crm.Customers(), NewCRM(11, 60).Customers()) {
					t.Error("a failed request changed the store")
				}
				return
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.check != nil {
				tt.check(t, crm, r)
			}
		})
	}
}

func TestCRMWritesVisibleToReads(t *testing.T) {
	t.Parallel()
	crm := NewCRM(5, 10)
	addr := serve(t, crm.Handler())
	created := decode[Customer](t, do(t, addr, "POST", "/customers", `{"name":"Later Read","owner_id":"u-18"}`).body)
	if got := decode[Customer](t, do(t, addr, "GET", "/customers/"+created.ID, "").body); got != created {
		t.Errorf("GET after POST = %+v, want %+v", got, created)
	}
	l := decode[customerList](t, do(t, addr, "GET", "/customers?owner_id=u-18", "").body)
	if !slices.Contains(customerIDs(l.Customers), created.ID) {
		t.Errorf("created customer missing from the filtered list")
	}
	do(t, addr, "PATCH", "/customers/"+created.ID, `{"notes":"updated"}`)
	if got := decode[Customer](t, do(t, addr, "GET", "/customers/"+created.ID, "").body); got.Notes != "updated" || got.Name != "Later Read" {
		t.Errorf("after PATCH: %+v", got)
	}
	if r := do(t, addr, "DELETE", "/customers/"+created.ID, ""); r.status != 204 {
		t.Fatalf("DELETE: %d", r.status)
	}
	wantError(t, do(t, addr, "GET", "/customers/"+created.ID, ""), 404, "not_found")
	// Ids are never reused.
	if again := decode[Customer](t, do(t, addr, "POST", "/customers", `{"name":"Next"}`).body); again.ID == created.ID {
		t.Errorf("id %s reused", again.ID)
	}
}

func TestCRMDealsAndTickets(t *testing.T) {
	t.Parallel()
	crm := NewCRM(9, 50)
	addr := serve(t, crm.Handler())

	dl := decode[dealList](t, do(t, addr, "GET", "/deals?owner_id=u-18&limit=1000", "").body)
	n := 0
	for _, d := range crm.Deals() {
		if d.OwnerID == "u-18" {
			n++
		}
	}
	if dl.Total != n || len(dl.Deals) != n || n == 0 {
		t.Errorf("owner filter: %d of %d", dl.Total, n)
	}
	d0 := crm.Deals()[0]
	byCust := decode[dealList](t, do(t, addr, "GET", "/deals?customer_id="+d0.CustomerID+"&owner_id="+d0.OwnerID, "").body)
	if byCust.Total == 0 || !slices.ContainsFunc(byCust.Deals, func(d Deal) bool { return d == d0 }) {
		t.Errorf("customer filter lost %s", d0.ID)
	}
	if got := decode[Deal](t, do(t, addr, "GET", "/deals/"+d0.ID, "").body); got != d0 {
		t.Errorf("GET deal %+v", got)
	}
	wantError(t, do(t, addr, "GET", "/deals/d-9999", ""), 404, "not_found")
	wantError(t, do(t, addr, "POST", "/deals", `{"amount":1}`), 405, "method_not_allowed")

	tl := decode[ticketList](t, do(t, addr, "GET", "/tickets?status=open&limit=1000", "").body)
	for _, tk := range tl.Tickets {
		if tk.Status != "open" {
			t.Errorf("status filter let %s (%s) through", tk.ID, tk.Status)
		}
	}
	r := do(t, addr, "POST", "/tickets", `{"customer_id":"c-0002","subject":"Refund","body":"Please refund order 1."}`)
	if r.status != 201 {
		t.Fatalf("POST ticket: %d %s", r.status, r.body)
	}
	tk := decode[Ticket](t, r.body)
	if tk.ID != "t-0051" || tk.Status != "open" || tk.CustomerID != "c-0002" {
		t.Errorf("%+v", tk)
	}
	if got := decode[Ticket](t, do(t, addr, "GET", "/tickets/"+tk.ID, "").body); got != tk {
		t.Errorf("GET ticket %+v", got)
	}
	wantError(t, do(t, addr, "POST", "/tickets", `{"customer_id":"c-9999","subject":"x"}`), 400, "invalid_body")
	wantError(t, do(t, addr, "POST", "/tickets", `{"customer_id":"c-0001"}`), 400, "invalid_body")
	wantError(t, do(t, addr, "PUT", "/tickets/t-0001", `{"subject":"x"}`), 405, "method_not_allowed")
}

func TestHRM(t *testing.T) {
	t.Parallel()
	hrm := NewHRM(DefaultSeed, 110)
	addr := serve(t, hrm.Handler())
	all := hrm.Employees()

	l := decode[employeeList](t, do(t, addr, "GET", "/employees?manager_id=e-0007&limit=1000", "").body)
	if l.Total < 8 || len(l.Employees) != l.Total {
		t.Fatalf("reports of e-0007: %d", l.Total)
	}
	for _, e := range l.Employees {
		if e.ManagerID != "e-0007" {
			t.Errorf("%s reports to %s", e.ID, e.ManagerID)
		}
	}
	d := decode[employeeList](t, do(t, addr, "GET", "/employees?department=Human%20Resources&limit=1000", "").body)
	if d.Total != l.Total+1 {
		t.Errorf("HR department has %d people, want the manager and %d reports", d.Total, l.Total)
	}
	p := decode[employeeList](t, do(t, addr, "GET", "/employees?limit=2&offset=1", "").body)
	if p.Total != 110 || len(p.Employees) != 2 || p.Employees[0].ID != "e-0002" {
		t.Errorf("page: total %d first %v", p.Total, p.Employees)
	}
	if got := decode[Employee](t, do(t, addr, "GET", "/employees/e-0050", "").body); !reflect.DeepEqual(got, all[49]) {
		t.Errorf("GET e-0050: %+v", got)
	}
	wantError(t, do(t, addr, "GET", "/employees/e-9999", ""), 404, "not_found")

	type reviews struct {
		EmployeeID string   `json:"employee_id"`
		Reviews    []Review `json:"reviews"`
	}
	rv := decode[reviews](t, do(t, addr, "GET", "/employees/e-0050/reviews", "").body)
	if rv.EmployeeID != "e-0050" || !reflect.DeepEqual(rv.Reviews, all[49].PerformanceReviews) || rv.Reviews == nil {
		t.Errorf("reviews %+v", rv)
	}
	wantError(t, do(t, addr, "GET", "/employees/e-9999/reviews", ""), 404, "not_found")
	wantError(t, do(t, addr, "GET", "/employees/e-0050/salary", ""), 404, "not_found")
	wantError(t, do(t, addr, "GET", "/payroll", ""), 404, "not_found")
	wantError(t, do(t, addr, "DELETE", "/employees/e-0050", ""), 405, "method_not_allowed")

	r := do(t, addr, "POST", "/employees", `{"name":"New Hire","manager_id":"e-0007","department":"Human Resources","salary":51250,"bank_account":{"iban":"FR7612345"}}`)
	if r.status != 201 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	e := decode[Employee](t, r.body)
	if e.ID != "e-0111" || e.Salary != 51250 || e.BankAccount.IBAN != "FR7612345" || e.HiredAt == "" || e.PerformanceReviews == nil {
		t.Errorf("created %+v", e)
	}
	wantError(t, do(t, addr, "POST", "/employees", `{"name":"x","salary":"lots"}`), 400, "invalid_body")

	// PATCH merges into nested objects and replaces arrays.
	r = do(t, addr, "PATCH", "/employees/e-0050", `{"salary":99250,"bank_account":{"bic":"NEWBIC"},"performance_reviews":[{"year":2026,"rating":5,"comments":"ok"}]}`)
	want := all[49]
	want.Salary, want.BankAccount.BIC, want.PerformanceReviews = 99250, "NEWBIC", []Review{{2026, 5, "ok"}}
	if got := decode[Employee](t, r.body); !reflect.DeepEqual(got, want) {
		t.Errorf("PATCH: %+v, want %+v", got, want)
	}
	if got := hrm.Employees()[49]; !reflect.DeepEqual(got, want) {
		t.Errorf("stored after PATCH: %+v", got)
	}
	r = do(t, addr, "PUT", "/employees/e-0051", `{"name":"Replaced"}`)
	if got := decode[Employee](t, r.body); got.ID != "e-0051" || got.Name != "Replaced" || got.Salary != 0 || got.PerformanceReviews == nil {
		t.Errorf("PUT: %+v", got)
	}
	wantError(t, do(t, addr, "PUT", "/employees/e-0051", `{"salary":1}`), 400, "invalid_body")
}

// TestConcurrentUse hammers one CRM with writers and readers (run with
// -race): every write lands once and lists stay valid JSON.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	crm := NewCRM(1, 20)
	addr := serve(t, crm.Handler())
	const writers, perWriter = 4, 10
	var wg sync.WaitGroup
	errs := make(chan string, writers*perWriter*2)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				body := fmt.Sprintf(`{"customer_id":"c-0001","subject":"w%d-%d"}`, w, i)
				if r := do(t, addr, "POST", "/tickets", body); r.status != 201 {
					errs <- fmt.Sprintf("POST: %d", r.status)
				}
				if r := do(t, addr, "GET", "/tickets?limit=1000", ""); !json.Valid(r.body) {
					errs <- "invalid list JSON"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	tl := decode[ticketList](t, do(t, addr, "GET", "/tickets?limit=1000", "").body)
	seen := map[string]bool{}
	for _, tk := range tl.Tickets {
		if seen[tk.ID] {
			t.Errorf("duplicate id %s", tk.ID)
		}
		seen[tk.ID] = true
	}
	if tl.Total != 20+writers*perWriter {
		t.Errorf("total %d, want %d", tl.Total, 20+writers*perWriter)
	}
}

func TestStartUpstreams(t *testing.T) {
	t.Parallel()
	u, err := StartUpstreams("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if u.CRMAddr() == u.HRMAddr() {
		t.Fatal("CRM and HRM share an address")
	}
	cl := decode[customerList](t, do(t, u.CRMAddr(), "GET", "/customers?limit=1", "").body)
	if cl.Total != DefaultCustomers || cl.Customers[0] != NewCRM(DefaultSeed, 1).Customers()[0] {
		t.Errorf("CRM: total %d", cl.Total)
	}
	if e := decode[Employee](t, do(t, u.HRMAddr(), "GET", "/employees/e-0007", "").body); e.Title != "HR Manager" {
		t.Errorf("HRM: %+v", e)
	}
	crmAddr := u.CRMAddr()
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", crmAddr, time.Second); err == nil {
		c.Close()
		t.Error("CRM still accepts connections after Close")
	}
}

func TestStartUpstreamsErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	if _, err := StartUpstreams(busy, "127.0.0.1:0"); err == nil || !strings.HasPrefix(err.Error(), "demo: CRM listener: ") {
		t.Errorf("busy CRM address: %v", err)
	}
	if _, err := StartUpstreams("127.0.0.1:0", busy); err == nil || !strings.HasPrefix(err.Error(), "demo: HRM listener: ") {
		t.Errorf("busy HRM address: %v", err)
	}
}

func TestSensitiveFixtureValues(t *testing.T) {
	t.Parallel()
	crm, hrm := NewCRM(4, 30), NewHRM(4, 30)
	vals := SensitiveFixtureValues(crm, hrm)
	if !slices.IsSorted(vals) || len(slices.Compact(slices.Clone(vals))) != len(vals) || slices.Contains(vals, "") {
		t.Error("values not sorted, unique and non-empty")
	}
	c, e, d := crm.Customers()[3], hrm.Employees()[5], crm.Deals()[2]
	for _, want := range []string{c.SSN, c.NationalID, c.Email, c.Phone, c.CardLast4, c.Notes, d.Notes,
		e.NationalID, e.Email, e.Phone, strconv.Itoa(e.Salary), e.BankAccount.IBAN} {
		if _, ok := slices.BinarySearch(vals, want); !ok {
			t.Errorf("missing %q", want)
		}
	}
	for _, r := range hrm.Employees()[20].PerformanceReviews {
		if _, ok := slices.BinarySearch(vals, r.Comments); !ok {
			t.Errorf("missing review comment")
		}
	}
	for _, public := range []string{c.ID, c.Name, c.Address.City, c.OwnerID, e.Department, e.Title} {
		if _, ok := slices.BinarySearch(vals, public); ok {
			t.Errorf("%q is not a protected value", public)
		}
	}
	// The list follows the store: a new record's values appear.
	addr := serve(t, crm.Handler())
	do(t, addr, "POST", "/customers", `{"name":"Z","ssn":"219-09-9999"}`)
	if !slices.Contains(SensitiveFixtureValues(crm, nil), "219-09-9999") {
		t.Error("created customer's SSN missing")
	}
	if got := SensitiveFixtureValues(nil, nil); len(got) != 0 {
		t.Errorf("nil stores: %v", got)
	}
}
