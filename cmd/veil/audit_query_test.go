package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/veilgw/veil/audit"
)

// The fixture's events, as the gateway writes them (member order, record
// ids as JSON text), in 2020 so that relative --since/--until flags select
// all or nothing whatever the clock says.
var auditFixtureOld = []string{
	`{"time":"2020-03-01T10:00:00.123456789Z","request_id":"q1","decision_id":"d1","route":"crm","method":"GET","path":"/crm/customers","status":200,"allowed":true,"subject":{"id":"u-42","roles":["analyst"],"method":"jwt"},"client_ip":"127.0.0.1","policy_revision":"r-1","transforms":[{"direction":"response","path":"$.customers[*].email","action":"tokenize","count":10},{"direction":"response","path":"$.customers[*].name","action":"redact","count":10}],"failed_values":0,"record_ids":["\"c-0001\"","\"c-0002\"","\"c-0003\"","\"c-0004\""],"bytes_in":0,"bytes_out":2400,"duration_us":812,"upstream_status":200}`,
	`{"time":"2020-03-01T10:00:01Z","checkpoint":{"chain_id":"9f","seq":1,"hash":"aa"},"sig":"c2ln"}`,
	`{"time":"2020-03-01T10:01:00Z","request_id":"q2","decision_id":"d2","route":"hrm","method":"GET","path":"/hrm/employees","status":403,"allowed":false,"reason":"analysts may not read HRM","error_code":"policy_denied","subject":{"id":"u-42","roles":["analyst"],"method":"jwt"},"client_ip":"127.0.0.1","policy_revision":"r-1","transforms":[],"failed_values":0,"record_ids":[],"bytes_in":0,"bytes_out":90,"duration_us":300,"upstream_status":0}`,
}

var auditFixtureCur = []string{
	`{"time":"2020-03-01T10:01:30Z","segment":{"chain_id":"9g","prev_chain_id":"9f"},"sig":"c2ln"}`,
	`{"time":"2020-03-01T10:02:00Z","request_id":"q3","decision_id":"d3","route":"hrm","method":"GET","path":"/hrm/employees/{id}","status":200,"allowed":true,"subject":{"id":"e-0007","roles":["hr_manager","employee"],"method":"jwt"},"client_ip":"127.0.0.1","policy_revision":"r-1","transforms":[{"direction":"response","path":"$.national_id","action":"decrypt","count":1},{"direction":"response","path":"$.bank_account.iban","action":"decrypt","count":1}],"failed_values":0,"record_ids":["\"e-0101\""],"tags":{"purpose":"hr"},"bytes_in":0,"bytes_out":700,"duration_us":900,"upstream_status":200}`,
	`{"broken`,
	`{"time":"2020-03-01T10:03:00Z","chain_id":"9g","seq":2,"prev_hash":"ab","request_id":"q4","decision_id":"d4","route":"crm","method":"GET","path":"/crm/customers/{id}","status":200,"allowed":true,"subject":{"id":"u-42","roles":["analyst"],"method":"jwt"},"client_ip":"127.0.0.1","policy_revision":"r-1","transforms":[{"direction":"response","path":"$.customers[*].email","action":"tokenize","count":1},{"direction":"response","path":"$['phone']","action":"fpe","count":1}],"failed_values":0,"record_ids":["\"c-0003\""],"bytes_in":0,"bytes_out":300,"duration_us":500,"upstream_status":200,"hash":"cd"}`,
}

// auditFiles writes the rotated file gzip-compressed and the current one
// plain; it returns them in the order given on the command line.
func auditFiles(t *testing.T) (gz, plain string) {
	t.Helper()
	dir := t.TempDir()
	gz = filepath.Join(dir, "audit-2020-03-01T10-01-30.000.log.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(strings.Join(auditFixtureOld, "\n") + "\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	plain = filepath.Join(dir, "audit.log")
	if err := os.WriteFile(plain, []byte(strings.Join(auditFixtureCur, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return gz, plain
}

// runCmd executes cmd with args and returns stdout, stderr and the error.
func runCmd(cmd *cobra.Command, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestAuditQueryTable(t *testing.T) {
	t.Parallel()
	gz, plain := auditFiles(t)
	out, stderr, err := runCmd(auditQueryCmd(), "--subject", "u-42", gz, plain)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", out)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "TIME SUBJECT ROLES METHOD PATH STATUS RESULT ROUTE TRANSFORMS RECORDS" {
		t.Errorf("header %q", lines[0])
	}
	for i, want := range []string{
		"2020-03-01T10:00:00Z u-42 analyst GET /crm/customers 200 allowed crm tokenize:email x10, redact:name x10 c-0001,c-0002,c-0003 +1",
		"2020-03-01T10:01:00Z u-42 analyst GET /hrm/employees 403 denied policy_denied hrm - -",
		"2020-03-01T10:03:00Z u-42 analyst GET /crm/customers/{id} 200 allowed crm tokenize:email x1, fpe:phone x1 c-0003",
	} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
			t.Errorf("row %d\n got %q\nwant %q", i+1, got, want)
		}
	}
	// The columns line up: every row's PATH starts where the header's does.
	col := strings.Index(lines[0], "PATH")
	for _, l := range lines[1:] {
		if l[col] != '/' {
			t.Errorf("misaligned row %q", l)
		}
	}
	// The malformed line is reported with its position, not fatal.
	if stderr != "warning: "+plain+":3: not an audit event, skipped\n" {
		t.Errorf("stderr %q", stderr)
	}
}

func TestAuditQueryTableFilters(t *testing.T) {
	t.Parallel()
	gz, plain := auditFiles(t)
	for _, c := range []struct {
		name string
		args []string
		want []string // request paths of the rows, in order
	}{
		{"files in any order", []string{plain, gz}, []string{"/hrm/employees/{id}", "/crm/customers/{id}", "/crm/customers", "/hrm/employees"}},
		{"role", []string{"--role", "employee", gz, plain}, []string{"/hrm/employees/{id}"}},
		{"route and path glob", []string{"--route", "crm", "--path", "/crm/*/*", gz, plain}, []string{"/crm/customers/{id}"}},
		{"double star", []string{"--path", "/hrm/**", gz, plain}, []string{"/hrm/employees", "/hrm/employees/{id}"}},
		{"record", []string{"--record", "c-0003", gz, plain}, []string{"/crm/customers", "/crm/customers/{id}"}},
		{"denied", []string{"--denied", gz, plain}, []string{"/hrm/employees"}},
		{"action", []string{"--action", "decrypt", gz, plain}, []string{"/hrm/employees/{id}"}},
		{"time range", []string{"--since", "2020-03-01T10:01:00Z", "--until", "2020-03-01T10:03:00Z", gz, plain}, []string{"/hrm/employees", "/hrm/employees/{id}"}},
		{"date", []string{"--since", "2020-03-01", "--until", "2020-03-02", "--subject", "e-0007", gz, plain}, []string{"/hrm/employees/{id}"}},
		{"relative until", []string{"--until", "1h", "--denied", gz, plain}, []string{"/hrm/employees"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := runCmd(auditQueryCmd(), c.args...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:]
			var got []string
			for _, l := range lines {
				got = append(got, strings.Fields(l)[4])
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q\n%s", got, c.want, out)
			}
		})
	}
}

func TestAuditQueryNoMatch(t *testing.T) {
	t.Parallel()
	gz, plain := auditFiles(t)
	// Every event is from 2020: "the last hour" selects none, and that is
	// not an error.
	out, stderr, err := runCmd(auditQueryCmd(), "--since", "1h", gz, plain)
	if err != nil || out != "" || !strings.HasSuffix(stderr, "no events matched\n") {
		t.Fatalf("err %v, out %q, stderr %q", err, out, stderr)
	}
	out, stderr, err = runCmd(auditQueryCmd(), "--output", "json", "--subject", "nobody", gz)
	if err != nil || out != "" || stderr != "" {
		t.Fatalf("json: err %v, out %q, stderr %q", err, out, stderr)
	}
}

func TestAuditQueryJSON(t *testing.T) {
	t.Parallel()
	gz, plain := auditFiles(t)
	out, _, err := runCmd(auditQueryCmd(), "--output", "json", "--record", `"c-0003"`, gz, plain)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines:\n%s", out)
	}
	// Each line is the event as logged: same members, same values.
	for i, src := range []string{auditFixtureOld[0], auditFixtureCur[3]} {
		var got, want map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if err := json.Unmarshal([]byte(src), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d\n got %v\nwant %v", i, got, want)
		}
	}
}

func TestAuditQueryErrors(t *testing.T) {
	t.Parallel()
	gz, _ := auditFiles(t)
	missing := filepath.Join(t.TempDir(), "gone.log")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{gz, missing}, "gone.log: no such file or directory"},
		{"no file", []string{"--subject", "u-42"}, "requires at least 1 arg"},
		{"bad output", []string{"--output", "yaml", gz}, `--output "yaml": want table or json`},
		{"bad since", []string{"--since", "yesterday", gz}, `--since: "yesterday" is neither`},
		{"bad glob", []string{"--path", "/crm/[", gz}, `path glob "/crm/["`},
		{"empty range", []string{"--since", "2020-03-02", "--until", "2020-03-01", gz}, "must be after since"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(auditQueryCmd(), c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
	if _, _, err := runCmd(auditReportCmd(), missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report, missing file: %v", err)
	}
}

func TestAuditQueryParseWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"24h":                       now.Add(-24 * time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		"2026-11-21":                time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		"2026-11-21T08:00:00+01:00": time.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC),
		"2026-11-21T08:00:00.5Z":    time.Date(2026, 11, 21, 8, 0, 0, 5e8, time.UTC),
	} {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1h", "soon", "2026-13-01"} {
		if _, err := parseWhen(in, now); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestAuditReportTable(t *testing.T) {
	t.Parallel()
	gz, plain := auditFiles(t)
	out, stderr, err := runCmd(auditReportCmd(), "--since", "2020-03-01T00:00:00Z", "--until", "2020-03-02T00:00:00Z", plain, gz)
	if err != nil {
		t.Fatal(err)
	}
	want := `audit report from 2020-03-01T00:00:00Z until 2020-03-02T00:00:00Z: 2 subject(s)

subject e-0007: 1 request(s), 0 denied
  PATH                 CLEAR  MASKED  TOKENIZED  OTHER
  $.bank_account.iban  1      0       0          0
  $.national_id        1      0       0          0
  records (1): e-0101
  records seen in clear (1): e-0101

subject u-42: 3 request(s), 1 denied
  PATH                  CLEAR  MASKED  TOKENIZED  OTHER
  $.customers[*].email  0      0       11         0
  $.customers[*].name   0      10      0          0
  $['phone']            0      0       1          0
  records (4): c-0001, c-0002, c-0003, c-0004
  records seen in clear (0): -
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(stderr, plain+":3:") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestAuditReportJSON(t *testing.T) {
	t.Parallel()
	gz, plain := auditFiles(t)
	out, _, err := runCmd(auditReportCmd(), "--output", "json", "--subject", "u-42", "--since", "2020-03-01T10:01:00Z", gz, plain)
	if err != nil {
		t.Fatal(err)
	}
	var rep audit.AccessReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := audit.AccessReport{Since: time.Date(2020, 3, 1, 10, 1, 0, 0, time.UTC), Subjects: []audit.SubjectReport{{
		Subject: "u-42", Requests: 2, Denied: 1,
		Fields:  []audit.FieldReport{{Path: "$.customers[*].email", Tokenized: 1}, {Path: "$['phone']", Tokenized: 1}},
		Records: []string{`"c-0003"`}, ClearRecords: []string{},
	}}}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("got %+v\nwant %+v", rep, want)
	}
	if strings.Contains(out, `"until"`) {
		t.Errorf("an unbounded until is omitted:\n%s", out)
	}
}
