package audit

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// qt is the fixture's clock: minute m of 2026-11-22 10:00 UTC.
func qt(m int) time.Time { return time.Date(2026, 11, 22, 10, m, 0, 0, time.UTC) }

// encodeEvent writes e as the gateway does (Event.MarshalLogObject through
// the audit encoder), without a hash chain.
func encodeEvent(t *testing.T, e *Event) string {
	t.Helper()
	buf, err := newEncoder().EncodeEntry(zapcore.Entry{Time: e.Time}, []zapcore.Field{{Type: zapcore.InlineMarshalerType, Interface: e}})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Free()
	return strings.TrimSuffix(buf.String(), "\n")
}

func qev(id string, m int, subject string, roles []string, route, method, p string, status int, allowed bool) *Event {
	return &Event{Time: qt(m), RequestID: id, DecisionID: "d-" + id, Route: route, Method: method, Path: p, Status: status,
		Allowed: allowed, SubjectID: subject, SubjectRoles: roles, SubjectMethod: "jwt", ClientIP: "127.0.0.1",
		PolicyRevision: "r-1", BytesOut: 512, Duration: 800 * time.Microsecond, UpstreamStatus: status}
}

func tr(dir, p, action string, n int) TransformCount {
	return TransformCount{Direction: dir, Path: p, Action: action, Count: n}
}

// jsonIDs returns record ids as the gateway logs them: JSON text.
func jsonIDs(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = `"` + id + `"`
	}
	return out
}

// e12 is a chained event exactly as Logger.Log writes one (chain fields,
// optional members, truncated record ids, tags).
const e12 = `{"time":"2026-11-22T10:11:00.5Z","chain_id":"9f0a","seq":12,"prev_hash":"ab01","request_id":"e12","decision_id":"d-e12","route":"crm","method":"GET","path":"/crm/customers/{id}","status":200,"allowed":true,"subject":{"id":"u-42","roles":["analyst"],"method":"jwt"},"client_ip":"127.0.0.1","policy_revision":"r-1","transforms":[{"direction":"response","path":"$.customers[*].email","action":"tokenize","count":10}],"failed_values":0,"record_ids":["\"c-0001\"","\"c-0006\""],"record_ids_truncated":true,"tags":{"purpose":"analytics"},"bytes_in":0,"bytes_out":2400,"duration_us":812,"upstream_status":200,"hash":"cd02"}`

// queryFixture writes a rotated, gzip-compressed file (e1..e5, 10:00-10:04)
// and the current plain file (e6..e12, 10:05-10:11) with a checkpoint, a
// segment, two malformed lines and a blank line, and returns them newest
// first (Query takes files in any order).
func queryFixture(t *testing.T) (plain, gz string) {
	t.Helper()
	dir := t.TempDir()

	e1 := qev("e1", 0, "u-42", []string{"analyst"}, "crm", "GET", "/crm/customers", 200, true)
	e1.Transforms = []TransformCount{tr("response", "$.customers[*].email", "tokenize", 10),
		tr("response", "$.customers[*].phone", "fpe", 10), tr("response", "$.customers[*].name", "redact", 10)}
	e1.RecordIDs = jsonIDs("c-0001", "c-0002", "c-0003", "c-0004")
	e2 := qev("e2", 1, "u-03", []string{"support"}, "crm", "GET", "/crm/customers/{id}", 200, true)
	e2.Transforms = []TransformCount{tr("response", "$..ssn", "mask", 1), tr("response", "$..email", "mask", 1)}
	e2.RecordIDs = jsonIDs("c-0002")
	e3 := qev("e3", 2, "u-42", []string{"analyst"}, "hrm", "GET", "/hrm/employees", 403, false)
	e3.Reason, e3.ErrorCode, e3.UpstreamStatus = "analysts may not read HRM", "policy_denied", 0
	e4 := qev("e4", 3, "e-0007", []string{"hr_manager"}, "hrm", "GET", "/hrm/employees/{id}", 200, true)
	e4.Transforms = []TransformCount{tr("response", "$.national_id", "decrypt", 1), tr("response", "$.bank_account.iban", "decrypt", 1)}
	e4.RecordIDs = jsonIDs("e-0101")
	e5 := qev("e5", 4, "e-0007", []string{"hr_manager"}, "hrm", "POST", "/hrm/employees", 201, true)
	e5.Transforms = []TransformCount{tr("request", "$.national_id", "encrypt", 1), tr("request", "$.bank_account.iban", "encrypt", 1)}
	e5.RecordIDs = jsonIDs("e-0102")
	old := []string{
		encodeEvent(t, e1),
		encodeEvent(t, e2),
		encodeEvent(t, e3),
		`{"time":"2026-11-22T10:02:30Z","checkpoint":{"chain_id":"9f0a","seq":3,"hash":"aa"},"sig":"c2ln"}`,
		encodeEvent(t, e4),
		encodeEvent(t, e5),
		`not json{`, // line 7
	}

	e6 := qev("e6", 5, "u-42", []string{"analyst"}, "crm", "GET", "/crm/customers", 200, true)
	e6.Transforms = []TransformCount{tr("response", "$.customers[*].email", "tokenize", 2),
		tr("response", "$.customers[*].phone", "fpe", 2), tr("response", "$.customers[*].zip", "shuffle", 2)}
	e6.RecordIDs = jsonIDs("c-0003", "c-0005")
	e7 := qev("e7", 6, "", nil, "crm", "GET", "/crm/customers", 401, false)
	e7.ErrorCode, e7.SubjectMethod, e7.UpstreamStatus = "unauthenticated", "", 0
	e8 := qev("e8", 7, "e-0007", []string{"hr_manager", "employee"}, "hrm", "GET", "/hrm/employees/{id}", 200, true)
	e8.Transforms = []TransformCount{tr("response", "$.national_id", "decrypt", 1), tr("response", "$.salary", "generalize", 1)}
	e8.RecordIDs = []string{"42"}
	e9 := qev("e9", 8, "u-01", []string{"admin"}, "crm", "DELETE", "/crm/customers/{id}", 204, true)
	e10 := qev("e10", 9, "u-17", []string{"sales"}, "crm", "GET", "/crm/deals", 502, false)
	e10.ErrorCode = "upstream_bad_body"
	e11 := qev("e11", 10, "u-42", []string{"analyst"}, "crm", "GET", "/crm/customers/{id}/notes", 200, true)
	e11.Transforms = []TransformCount{tr("response", "$.notes", "redact", 3), tr("response", "$.email", "detokenize", 0)}
	e11.RecordIDs = jsonIDs("c-0005")
	cur := []string{
		`{"time":"2026-11-22T10:04:59Z","segment":{"chain_id":"9f0a","prev_chain_id":"77","prev_seq":5,"prev_hash":"bb"},"sig":"c2ln"}`,
		encodeEvent(t, e6),
		encodeEvent(t, e7),
		`{"time":"2026-11-22T10:06:30Z","foo":1}`, // line 4: JSON, but no event
		``,
		encodeEvent(t, e8),
		encodeEvent(t, e9),
		encodeEvent(t, e10),
		encodeEvent(t, e11),
		e12,
	}

	plain = filepath.Join(dir, "audit.log")
	if err := os.WriteFile(plain, []byte(strings.Join(cur, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gz = filepath.Join(dir, "audit-2026-11-22T10-04-59.000.log.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(strings.Join(old, "\n") + "\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return plain, gz
}

func queryIDs(t *testing.T, files []string, f Filter) ([]string, QueryStats) {
	t.Helper()
	var ids []string
	st, err := Query(files, f, func(r *Record) error {
		ids = append(ids, r.RequestID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, st
}

func TestQueryFilters(t *testing.T) {
	t.Parallel()
	plain, gz := queryFixture(t)
	files := []string{plain, gz}
	for _, c := range []struct {
		name string
		f    Filter
		want string
	}{
		{"none", Filter{}, "e6 e7 e8 e9 e10 e11 e12 e1 e2 e3 e4 e5"},
		{"subject", Filter{Subject: "u-42"}, "e6 e11 e12 e1 e3"},
		{"subject is exact", Filter{Subject: "u-4"}, ""},
		{"role", Filter{Role: "hr_manager"}, "e8 e4 e5"},
		{"second role", Filter{Role: "employee"}, "e8"},
		{"route", Filter{Route: "hrm"}, "e8 e3 e4 e5"},
		{"path exact", Filter{PathGlob: "/crm/customers"}, "e6 e7 e1"},
		{"path star stays in a segment", Filter{PathGlob: "/crm/*"}, "e6 e7 e10 e1"},
		{"path star matches a template", Filter{PathGlob: "/crm/customers/*"}, "e9 e12 e2"},
		{"path star inside", Filter{PathGlob: "/crm/customers/*/notes"}, "e11"},
		{"path double star", Filter{PathGlob: "/crm/**"}, "e6 e7 e9 e10 e11 e12 e1 e2"},
		{"path double star in the middle", Filter{PathGlob: "/**/{id}"}, "e8 e9 e12 e2 e4"},
		{"path braces are literal", Filter{PathGlob: "/hrm/employees/{id}"}, "e8 e4"},
		{"record as JSON text", Filter{RecordID: `"c-0003"`}, "e6 e1"},
		{"record as value", Filter{RecordID: "c-0003"}, "e6 e1"},
		{"numeric record", Filter{RecordID: "42"}, "e8"},
		{"record from a chained event", Filter{RecordID: "c-0006"}, "e12"},
		{"denied", Filter{DeniedOnly: true}, "e7 e10 e3"},
		{"action", Filter{Action: "decrypt"}, "e8 e4"},
		{"action with a zero count", Filter{Action: "detokenize"}, "e11"},
		{"since is inclusive, until exclusive", Filter{Since: qt(5), Until: qt(8)}, "e6 e7 e8"},
		{"since only", Filter{Since: qt(10)}, "e11 e12"},
		{"until only", Filter{Until: qt(1)}, "e1"},
		{"sub-second time", Filter{Since: qt(11).Add(500 * time.Millisecond)}, "e12"},
		{"combined", Filter{Subject: "u-42", Route: "crm", Action: "tokenize"}, "e6 e12 e1"},
		{"combined with time", Filter{Subject: "u-42", Route: "crm", Action: "tokenize", Since: qt(5)}, "e6 e12"},
		{"combined with record", Filter{Subject: "u-42", Action: "tokenize", Since: qt(5), RecordID: "c-0001"}, "e12"},
		{"combined denied and role", Filter{DeniedOnly: true, Role: "analyst"}, "e3"},
		{"nothing", Filter{Subject: "u-42", Role: "admin"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids, st := queryIDs(t, files, c.f)
			if got := strings.Join(ids, " "); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if st.Matched != len(ids) || st.Events != 12 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestQueryStatsAndMalformedLines(t *testing.T) {
	t.Parallel()
	plain, gz := queryFixture(t)
	_, st := queryIDs(t, []string{gz, plain}, Filter{})
	want := QueryStats{Lines: 17, Events: 12, Matched: 12, Skipped: 2, Malformed: 2,
		MalformedAt: []LinePos{{File: gz, Line: 7}, {File: plain, Line: 4}}}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
	if s := st.MalformedAt[1].String(); s != plain+":4" {
		t.Errorf("position %q", s)
	}
}

func TestQueryParsesEveryField(t *testing.T) {
	t.Parallel()
	plain, _ := queryFixture(t)
	var got []*Record
	if _, err := Query([]string{plain}, Filter{RecordID: "c-0006"}, func(r *Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
	want := Record{Time: qt(11).Add(500 * time.Millisecond), ChainID: "9f0a", Seq: 12, PrevHash: "ab01", RequestID: "e12",
		DecisionID: "d-e12", Route: "crm", Method: "GET", Path: "/crm/customers/{id}", Status: 200, Allowed: true,
		Subject: RecordSubject{ID: "u-42", Roles: []string{"analyst"}, Method: "jwt"}, ClientIP: "127.0.0.1", PolicyRevision: "r-1",
		Transforms:   []RecordTransform{{Direction: "response", Path: "$.customers[*].email", Action: "tokenize", Count: 10}},
		FailedValues: 0, RecordIDs: []string{`"c-0001"`, `"c-0006"`}, RecordIDsTruncated: true, Tags: map[string]string{"purpose": "analytics"},
		BytesOut: 2400, DurationUS: 812, UpstreamStatus: 200, Hash: "cd02"}
	if !reflect.DeepEqual(*got[0], want) {
		t.Fatalf("got  %+v\nwant %+v", *got[0], want)
	}
	// Re-encoded, a record keeps the logged member names and values.
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	var a, w map[string]any
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(e12), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, w) {
		t.Errorf("re-encoded\n got %v\nwant %v", a, w)
	}
}

func TestQueryDetectsGzipByContent(t *testing.T) {
	t.Parallel()
	plain, gz := queryFixture(t)
	dir := t.TempDir()
	// Swap the names: the gzip stream in a .log file, plain text in a .gz.
	for src, dst := range map[string]string{plain: "current.log.gz", gz: "rotated.log"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids, st := queryIDs(t, []string{filepath.Join(dir, "rotated.log"), filepath.Join(dir, "current.log.gz")}, Filter{})
	if got := strings.Join(ids, " "); got != "e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 e11 e12" || st.Malformed != 2 {
		t.Fatalf("got %q, stats %+v", got, st)
	}
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	plain, _ := queryFixture(t)
	missing := filepath.Join(t.TempDir(), "nope.log")
	_, err := Query([]string{plain, missing}, Filter{}, func(*Record) error { t.Error("called before the missing file was noticed"); return nil })
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.log") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Query([]string{plain}, Filter{PathGlob: "/crm/[a"}, func(*Record) error { t.Error("called"); return nil })
	if err == nil || !strings.Contains(err.Error(), `path glob "/crm/[a"`) {
		t.Errorf("bad glob: %v", err)
	}
	_, err = Query([]string{plain}, Filter{Since: qt(5), Until: qt(5)}, func(*Record) error { t.Error("called"); return nil })
	if err == nil || !strings.Contains(err.Error(), "must be after since") {
		t.Errorf("empty range: %v", err)
	}
	// A callback error ends the query and is returned; ErrStop ends it quietly.
	boom := errors.New("boom")
	n := 0
	_, err = Query([]string{plain}, Filter{}, func(*Record) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("callback error: %v after %d", err, n)
	}
	n = 0
	st, err := Query([]string{plain}, Filter{}, func(*Record) error {
		n++
		if n == 2 {
			return ErrStop
		}
		return nil
	})
	if err != nil || n != 2 || st.Matched != 2 {
		t.Errorf("stop: %v after %d, %+v", err, n, st)
	}
	// A damaged gzip stream is an error naming the file, not silence.
	bad := filepath.Join(t.TempDir(), "bad.log.gz")
	if err := os.WriteFile(bad, []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Query([]string{bad}, Filter{}, func(*Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "bad.log.gz") {
		t.Errorf("damaged gzip: %v", err)
	}
}

func TestReportAggregates(t *testing.T) {
	t.Parallel()
	plain, gz := queryFixture(t)
	rep, st, err := BuildAccessReport([]string{plain, gz}, Filter{Since: qt(0), Until: qt(60)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Matched != 12 || st.Malformed != 2 {
		t.Errorf("stats %+v", st)
	}
	want := &AccessReport{Since: qt(0), Until: qt(60), Subjects: []SubjectReport{
		{Subject: "", Requests: 1, Denied: 1, Fields: []FieldReport{}, Records: []string{}, ClearRecords: []string{}},
		{Subject: "e-0007", Requests: 3, Fields: []FieldReport{
			{Path: "$.bank_account.iban", Clear: 1, Tokenized: 1},
			{Path: "$.national_id", Clear: 2, Tokenized: 1},
			{Path: "$.salary", Masked: 1},
		}, Records: []string{`"e-0101"`, `"e-0102"`, `42`}, ClearRecords: []string{`"e-0101"`, `42`}},
		{Subject: "u-01", Requests: 1, Fields: []FieldReport{}, Records: []string{}, ClearRecords: []string{}},
		{Subject: "u-03", Requests: 1, Fields: []FieldReport{
			{Path: "$..email", Masked: 1},
			{Path: "$..ssn", Masked: 1},
		}, Records: []string{`"c-0002"`}, ClearRecords: []string{}},
		{Subject: "u-17", Requests: 1, Denied: 1, Fields: []FieldReport{}, Records: []string{}, ClearRecords: []string{}},
		{Subject: "u-42", Requests: 5, Denied: 1, Fields: []FieldReport{
			{Path: "$.customers[*].email", Tokenized: 22},
			{Path: "$.customers[*].name", Masked: 10},
			{Path: "$.customers[*].phone", Tokenized: 12},
			{Path: "$.customers[*].zip", Other: 2},
			{Path: "$.email"},
			{Path: "$.notes", Masked: 3},
		}, Records: jsonIDs("c-0001", "c-0002", "c-0003", "c-0004", "c-0005", "c-0006"), RecordsTruncated: true, ClearRecords: []string{}},
	}}
	if !reflect.DeepEqual(rep, want) {
		g, _ := json.MarshalIndent(rep, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("got %s\nwant %s", g, w)
	}

	// A narrower range and a subject filter.
	rep, _, err = BuildAccessReport([]string{gz, plain}, Filter{Since: qt(5), Until: qt(11), Subject: "u-42"})
	if err != nil {
		t.Fatal(err)
	}
	wantU42 := []SubjectReport{{Subject: "u-42", Requests: 2, Fields: []FieldReport{
		{Path: "$.customers[*].email", Tokenized: 2},
		{Path: "$.customers[*].phone", Tokenized: 2},
		{Path: "$.customers[*].zip", Other: 2},
		{Path: "$.email"},
		{Path: "$.notes", Masked: 3},
	}, Records: jsonIDs("c-0003", "c-0005"), ClearRecords: []string{}}}
	if !reflect.DeepEqual(rep.Subjects, wantU42) {
		t.Fatalf("u-42 10:05-10:11: %+v", rep.Subjects)
	}
}

func TestReportCapsRecords(t *testing.T) {
	t.Parallel()
	e := qev("big", 0, "e-0007", []string{"hr_manager"}, "hrm", "GET", "/hrm/employees", 200, true)
	e.Transforms = []TransformCount{tr("response", "$.employees[*].iban", "decrypt", 1200)}
	for i := 0; i < 1200; i++ {
		e.RecordIDs = append(e.RecordIDs, jsonIDs(fmt.Sprintf("e-%04d", i))...)
	}
	name := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(name, []byte(encodeEvent(t, e)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, _, err := BuildAccessReport([]string{name}, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Subjects[0]
	if len(s.Records) != MaxReportRecords || !s.RecordsTruncated || len(s.ClearRecords) != MaxReportRecords || !s.ClearRecordsTruncated {
		t.Fatalf("%d records (cut %v), %d clear (cut %v)", len(s.Records), s.RecordsTruncated, len(s.ClearRecords), s.ClearRecordsTruncated)
	}
	if s.Records[0] != `"e-0000"` || s.Records[999] != `"e-0999"` || s.Fields[0].Clear != 1200 {
		t.Errorf("first %s last %s fields %+v", s.Records[0], s.Records[999], s.Fields)
	}
}

func TestReportActionCategory(t *testing.T) {
	t.Parallel()
	for action, want := range map[string]string{
		"decrypt": CategoryClear, "detokenize": CategoryClear, "fpe_decrypt": CategoryClear,
		"redact": CategoryMasked, "mask": CategoryMasked, "replace": CategoryMasked, "generalize": CategoryMasked,
		"tokenize": CategoryTokenized, "hash": CategoryTokenized, "fpe": CategoryTokenized, "encrypt": CategoryTokenized,
		"shuffle": CategoryOther, "": CategoryOther,
	} {
		if got := ActionCategory(action); got != want {
			t.Errorf("%q: %s, want %s", action, got, want)
		}
	}
}
