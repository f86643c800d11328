package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Record is one audit event as read back from an audit file: the JSON line
// written by Logger.Log, with the same member names (README "Audit event").
// Optional members are omitted when empty, as when written (re-encoded,
// prev_hash is omitted also for the first event of a chain, logged as "").
type Record struct {
	Time               time.Time         `json:"time"`
	ChainID            string            `json:"chain_id,omitempty"`
	Seq                uint64            `json:"seq,omitempty"`
	PrevHash           string            `json:"prev_hash,omitempty"`
	RequestID          string            `json:"request_id"`
	DecisionID         string            `json:"decision_id,omitempty"`
	Route              string            `json:"route"`
	Method             string            `json:"method"`
	Path               string            `json:"path"`
	Status             int               `json:"status"`
	Allowed            bool              `json:"allowed"`
	Reason             string            `json:"reason,omitempty"`
	ErrorCode          string            `json:"error_code,omitempty"`
	Subject            RecordSubject     `json:"subject"`
	ClientIP           string            `json:"client_ip"`
	PolicyRevision     string            `json:"policy_revision"`
	Transforms         []RecordTransform `json:"transforms"`
	FailedValues       int               `json:"failed_values"`
	RecordIDs          []string          `json:"record_ids"`
	RecordIDsTruncated bool              `json:"record_ids_truncated,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	BytesIn            int64             `json:"bytes_in"`
	BytesOut           int64             `json:"bytes_out"`
	DurationUS         int64             `json:"duration_us"`
	UpstreamStatus     int               `json:"upstream_status"`
	Hash               string            `json:"hash,omitempty"`
}

// RecordSubject is the event's subject: never claims or credentials.
type RecordSubject struct {
	ID     string   `json:"id"`
	Roles  []string `json:"roles"`
	Method string   `json:"method,omitempty"`
}

// RecordTransform is one rule's effect on one body.
type RecordTransform struct {
	Direction string `json:"direction"`
	Path      string `json:"path"`
	Action    string `json:"action"`
	Count     int    `json:"count"`
}

// Filter selects events. A zero field matches everything; set fields must
// all match.
type Filter struct {
	// Subject matches subject.id exactly.
	Subject string
	// Role matches when subject.roles contains it.
	Role string
	// Route matches the route name exactly.
	Route string
	// PathGlob is matched against the event's path with path.Match, one
	// path segment at a time: `*` and `?` never cross a `/`
	// ("/crm/*" matches "/crm/customers" but not "/crm/customers/{id}").
	// A segment that is exactly `**` matches any number of segments,
	// including none ("/crm/**" matches "/crm" and everything under it).
	PathGlob string
	// RecordID matches when record_ids contains it, either as logged (the
	// JSON text, e.g. `"c-0001"` or `42`) or, for a JSON string, its value
	// (c-0001).
	RecordID string
	// DeniedOnly keeps events with allowed == false (denied, rejected and
	// failed requests).
	DeniedOnly bool
	// Action matches when any transform has that action (e.g. "decrypt").
	Action string
	// Since keeps events at or after it; zero: no lower bound.
	Since time.Time
	// Until keeps events strictly before it; zero: no upper bound.
	Until time.Time
}

// Validate reports a malformed PathGlob, or Until not after Since.
func (f *Filter) Validate() error {
	if f.PathGlob != "" {
		for _, seg := range strings.Split(f.PathGlob, "/") {
			if _, err := path.Match(seg, ""); err != nil {
				return fmt.Errorf("audit query: path glob %q: %w", f.PathGlob, err)
			}
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return fmt.Errorf("audit query: until (%s) must be after since (%s)", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	return nil
}

// Match reports whether r passes every set field of f (f must be valid).
func (f *Filter) Match(r *Record) bool {
	switch {
	case f.Subject != "" && r.Subject.ID != f.Subject,
		f.Route != "" && r.Route != f.Route,
		f.DeniedOnly && r.Allowed,
		!f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	}
	if f.Role != "" && !contains(r.Subject.Roles, f.Role) {
		return false
	}
	if f.Action != "" && !hasAction(r.Transforms, f.Action) {
		return false
	}
	if f.RecordID != "" && !hasRecordID(r.RecordIDs, f.RecordID) {
		return false
	}
	if f.PathGlob != "" && !globMatch(strings.Split(f.PathGlob, "/"), strings.Split(r.Path, "/")) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasAction(ts []RecordTransform, action string) bool {
	for i := range ts {
		if ts[i].Action == action {
			return true
		}
	}
	return false
}

func hasRecordID(ids []string, want string) bool {
	for _, id := range ids {
		if id == want || RecordIDText(id) == want {
			return true
		}
	}
	return false
}

// RecordIDText returns a logged record id for display: the value of a JSON
// string, anything else (a number) as logged.
func RecordIDText(id string) string {
	if len(id) >= 2 && id[0] == '"' {
		var s string
		if json.Unmarshal([]byte(id), &s) == nil {
			return s
		}
	}
	return id
}

// globMatch matches path segments against pattern segments; a "**"
// segment matches zero or more segments. Backtracking is bounded by the
// few segments a path has.
func globMatch(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if globMatch(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// LinePos names one line of one file.
type LinePos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p LinePos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// maxMalformedPos caps QueryStats.MalformedAt: a badly damaged file must
// not grow the stats without bound.
const maxMalformedPos = 100

// QueryStats counts what Query read.
type QueryStats struct {
	// Lines is the number of lines read (blank ones included).
	Lines int `json:"lines"`
	// Events is the number of well-formed events read.
	Events int `json:"events"`
	// Matched is the number of events that passed the filter.
	Matched int `json:"matched"`
	// Skipped counts checkpoint and segment lines.
	Skipped int `json:"skipped"`
	// Malformed counts lines that are neither an event, a checkpoint nor
	// a segment.
	Malformed int `json:"malformed"`
	// MalformedAt holds the positions of the first 100 malformed lines.
	MalformedAt []LinePos `json:"malformed_at,omitempty"`
}

// ErrStop may be returned by a Query callback to end the query early
// without an error.
var ErrStop = errors.New("audit query: stop")

// Query streams the audit events of files (in the order given, each read
// from start to end; plain or gzip-compressed, told apart by the gzip magic
// bytes, not the name) and calls fn with each event that f matches, in the
// order found. Checkpoint and segment lines are skipped; any other line
// that is not an event is counted as malformed and reading goes on. An
// unreadable file, a damaged gzip stream, a line over 16 MiB or an error
// from fn ends the query (ErrStop ends it without an error). fn may keep
// the *Record: each event gets its own.
func Query(files []string, f Filter, fn func(*Record) error) (QueryStats, error) {
	var st QueryStats
	if err := f.Validate(); err != nil {
		return st, err
	}
	// A missing file fails before any output: a typo must not yield half
	// an answer.
	for _, name := range files {
		if _, err := os.Stat(name); err != nil {
			return st, fmt.Errorf("audit query: %w", err)
		}
	}
	for _, name := range files {
		if err := queryFile(name, &f, &st, fn); err != nil {
			if errors.Is(err, ErrStop) {
				return st, nil
			}
			return st, err
		}
	}
	return st, nil
}

// lineProbe decodes an event and tells the other record kinds apart in one
// pass: the outer request_id shadows Record's so its presence is known.
type lineProbe struct {
	Record
	RequestID  *string         `json:"request_id"`
	Checkpoint json.RawMessage `json:"checkpoint"`
	Segment    json.RawMessage `json:"segment"`
}

func queryFile(name string, f *Filter, st *QueryStats, fn func(*Record) error) error {
	var fnErr error // fn's own error goes back unwrapped (ErrStop)
	err := readLines(name, func(n int, line []byte) error {
		st.Lines++
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		var p lineProbe
		err := json.Unmarshal(line, &p)
		switch {
		case err == nil && (p.Checkpoint != nil || p.Segment != nil):
			st.Skipped++
			return nil
		case err != nil || p.RequestID == nil || p.Time.IsZero():
			st.Malformed++
			if len(st.MalformedAt) < maxMalformedPos {
				st.MalformedAt = append(st.MalformedAt, LinePos{File: name, Line: n})
			}
			return nil
		}
		st.Events++
		rec := p.Record
		rec.RequestID = *p.RequestID
		if !f.Match(&rec) {
			return nil
		}
		st.Matched++
		fnErr = fn(&rec)
		return fnErr
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil:
		return fnErr
	default:
		return fmt.Errorf("audit query: %w", err)
	}
}

// Transform categories of an AccessReport.
const (
	CategoryClear     = "clear"     // a protected value revealed: decrypt, detokenize, fpe_decrypt
	CategoryMasked    = "masked"    // redact, mask, replace, generalize
	CategoryTokenized = "tokenized" // pseudonymised or enciphered: tokenize, hash, fpe, encrypt
	CategoryOther     = "other"     // an action this version does not know
)

// ActionCategory returns the report category of a transform action.
func ActionCategory(action string) string {
	switch action {
	case "decrypt", "detokenize", "fpe_decrypt":
		return CategoryClear
	case "redact", "mask", "replace", "generalize":
		return CategoryMasked
	case "tokenize", "hash", "fpe", "encrypt":
		return CategoryTokenized
	}
	return CategoryOther
}

// MaxReportRecords caps each record id list of a SubjectReport.
const MaxReportRecords = 1000

// AccessReport says, per subject, what the gateway let each subject see
// over a time range.
type AccessReport struct {
	// Since and Until are the filter's range (zero: unbounded).
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Subjects is sorted by subject id ("" — no subject — first).
	Subjects []SubjectReport `json:"subjects"`
}

// SubjectReport aggregates one subject's events.
type SubjectReport struct {
	Subject string `json:"subject"`
	// Requests counts every matched event of the subject.
	Requests int `json:"requests"`
	// Denied counts the events with allowed == false (denied, rejected or
	// failed requests).
	Denied int `json:"denied"`
	// Fields sums transform counts per protected field, sorted by path.
	// Only allowed events count: a refused or failed request delivered no
	// body.
	Fields []FieldReport `json:"fields"`
	// Records holds the distinct record ids (as logged: JSON text) of the
	// subject's allowed events — the records it was shown in any form:
	// the first MaxReportRecords distinct ids found, sorted.
	Records          []string `json:"records"`
	RecordsTruncated bool     `json:"records_truncated,omitempty"`
	// ClearRecords holds the record ids of the allowed events in which a
	// clear-category transform changed at least one value: the records
	// of which the subject saw some protected value in clear. An event
	// whose record_ids were cut by record_ids_max also sets the flag.
	ClearRecords          []string `json:"clear_records"`
	ClearRecordsTruncated bool     `json:"clear_records_truncated,omitempty"`
}

// FieldReport sums the values of one protected field (a transform's path,
// both directions together) by category.
type FieldReport struct {
	Path      string `json:"path"`
	Clear     int64  `json:"clear"`
	Masked    int64  `json:"masked"`
	Tokenized int64  `json:"tokenized"`
	Other     int64  `json:"other"`
}

type subjectAgg struct {
	rep      SubjectReport
	fields   map[string]*FieldReport
	records  map[string]struct{}
	clear    map[string]struct{}
	recCut   bool
	clearCut bool
}

// BuildAccessReport reads files like Query and aggregates the events f
// matches (f.Since/f.Until give the range) per subject.
func BuildAccessReport(files []string, f Filter) (*AccessReport, QueryStats, error) {
	subjects := map[string]*subjectAgg{}
	st, err := Query(files, f, func(r *Record) error {
		a := subjects[r.Subject.ID]
		if a == nil {
			a = &subjectAgg{rep: SubjectReport{Subject: r.Subject.ID}, fields: map[string]*FieldReport{},
				records: map[string]struct{}{}, clear: map[string]struct{}{}}
			subjects[r.Subject.ID] = a
		}
		a.rep.Requests++
		if !r.Allowed {
			a.rep.Denied++
			return nil
		}
		clear := false
		for _, t := range r.Transforms {
			fr := a.fields[t.Path]
			if fr == nil {
				fr = &FieldReport{Path: t.Path}
				a.fields[t.Path] = fr
			}
			n := int64(t.Count)
			switch ActionCategory(t.Action) {
			case CategoryClear:
				fr.Clear += n
				clear = clear || t.Count > 0
			case CategoryMasked:
				fr.Masked += n
			case CategoryTokenized:
				fr.Tokenized += n
			default:
				fr.Other += n
			}
		}
		a.recCut = addIDs(a.records, r.RecordIDs) || a.recCut || r.RecordIDsTruncated
		if clear {
			a.clearCut = addIDs(a.clear, r.RecordIDs) || a.clearCut || r.RecordIDsTruncated
		}
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	rep := &AccessReport{Since: f.Since, Until: f.Until, Subjects: make([]SubjectReport, 0, len(subjects))}
	for _, a := range subjects {
		s := a.rep
		s.Fields = make([]FieldReport, 0, len(a.fields))
		for _, fr := range a.fields {
			s.Fields = append(s.Fields, *fr)
		}
		sort.Slice(s.Fields, func(i, j int) bool { return s.Fields[i].Path < s.Fields[j].Path })
		s.Records, s.RecordsTruncated = sortedIDs(a.records, a.recCut)
		s.ClearRecords, s.ClearRecordsTruncated = sortedIDs(a.clear, a.clearCut)
		rep.Subjects = append(rep.Subjects, s)
	}
	sort.Slice(rep.Subjects, func(i, j int) bool { return rep.Subjects[i].Subject < rep.Subjects[j].Subject })
	return rep, st, nil
}

// addIDs adds ids to set, keeping at most MaxReportRecords+1 entries (one
// over the cap, so sortedIDs knows the cap was exceeded, whatever the
// order ids arrive in); it reports whether an id was dropped.
func addIDs(set map[string]struct{}, ids []string) (dropped bool) {
	for _, id := range ids {
		if _, ok := set[id]; ok {
			continue
		}
		if len(set) > MaxReportRecords {
			dropped = true
			continue
		}
		set[id] = struct{}{}
	}
	return dropped
}

func sortedIDs(set map[string]struct{}, cut bool) ([]string, bool) {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) > MaxReportRecords {
		ids, cut = ids[:MaxReportRecords], true
	}
	return ids, cut
}
