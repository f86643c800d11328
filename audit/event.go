// Package audit owns Veil's audit trail: the event schema, its JSON
// encoding (zap), the hash chain with signed checkpoints and segment
// records (chain.go, checkpoint.go, segment.go), delivery through a
// bounded queue per sink with a disk spool (queue.go), the sinks (sink_*.go),
// and reading the trail back: Verify (verify.go), Query and the access
// report (query.go).
//
// One event is written per request, after the response completes, for
// allowed, denied, rejected and failed requests alike. An event never holds
// a protected value: it carries paths (or the policy's path template),
// actions and counts, record identifiers as the decision names them, and
// never a query string, a body value or a credential. The package knows
// nothing about HTTP or policies: the gateway fills Event and calls Log.
package audit

import (
	"time"

	"go.uber.org/zap/zapcore"
)

// TransformCount summarises one rule's effect on one body.
type TransformCount struct {
	// Direction is "query", "request" or "response".
	Direction string
	Path      string
	Action    string
	Count     int
	// Head, when set, is TransformHead(Direction, Path, Action): the line's
	// encoding of the fields before the count, kept by a caller that logs
	// one rule set many times, so each event copies it instead of encoding
	// three strings. Nil: encoded from the fields.
	Head []byte
}

// Event is one request's audit record (README "Audit event").
type Event struct {
	Time           time.Time
	ChainID        string // set by Logger.Log
	Seq            uint64 // set by Logger.Log
	prevHash       []byte // set by Logger.Log (hex, encoded unescaped), valid while it encodes
	reserved       bool   // a queue slot is held (Logger.Reserve)
	RequestID      string
	DecisionID     string
	Route          string
	Method         string
	Path           string // the decision's audit.path template, else the normalised path; never a query string
	Status         int
	Allowed        bool
	Reason         string
	ErrorCode      string
	SubjectID      string
	SubjectRoles   []string
	SubjectMethod  string
	ClientIP       string
	PolicyRevision string
	Transforms     []TransformCount
	FailedValues   int
	RecordIDs      []string // JSON texts; encoded up to recordIDsMaxBytes (a prefix; the rest sets record_ids_truncated)
	RecordIDsCut   bool     // the caller capped RecordIDs (record_ids_max): record_ids_truncated
	Tags           map[string]string
	BytesIn        int64
	BytesOut       int64
	Duration       time.Duration
	UpstreamStatus int
}

// MarshalLogObject encodes the event's fields (zapcore.ObjectMarshaler),
// in schema order, without reflection.
func (e *Event) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	if e.ChainID != "" {
		enc.AddString("chain_id", e.ChainID)
		enc.AddUint64("seq", e.Seq)
		enc.AddByteString("prev_hash", e.prevHash)
	}
	enc.AddString("request_id", e.RequestID)
	if e.DecisionID != "" {
		enc.AddString("decision_id", e.DecisionID)
	}
	enc.AddString("route", e.Route)
	enc.AddString("method", e.Method)
	enc.AddString("path", e.Path)
	enc.AddInt("status", e.Status)
	enc.AddBool("allowed", e.Allowed)
	if e.Reason != "" {
		enc.AddString("reason", e.Reason)
	}
	if e.ErrorCode != "" {
		enc.AddString("error_code", e.ErrorCode)
	}
	_ = enc.AddObject("subject", (*subjectObject)(e))
	enc.AddString("client_ip", e.ClientIP)
	enc.AddString("policy_revision", e.PolicyRevision)
	_ = enc.AddArray("transforms", (*transformsArray)(e))
	enc.AddInt("failed_values", e.FailedValues)
	_ = enc.AddArray("record_ids", (*recordIDsArray)(e))
	if e.RecordIDsCut || recordIDsFit(e.RecordIDs) < len(e.RecordIDs) {
		enc.AddBool("record_ids_truncated", true)
	}
	if len(e.Tags) > 0 {
		_ = enc.AddObject("tags", (*tagsObject)(e))
	}
	enc.AddInt64("bytes_in", e.BytesIn)
	enc.AddInt64("bytes_out", e.BytesOut)
	enc.AddInt64("duration_us", e.Duration.Microseconds())
	enc.AddInt("upstream_status", e.UpstreamStatus)
	return nil
}

type (
	rolesArray     Event
	recordIDsArray Event
)

func (r *rolesArray) MarshalLogArray(a zapcore.ArrayEncoder) error {
	for _, v := range r.SubjectRoles {
		a.AppendString(v)
	}
	return nil
}

// MarshalLogArray encodes the record ids within recordIDsMaxBytes.
func (r *recordIDsArray) MarshalLogArray(a zapcore.ArrayEncoder) error {
	for _, v := range r.RecordIDs[:recordIDsFit(r.RecordIDs)] {
		a.AppendString(v)
	}
	return nil
}

// The named views below let the encoder reach parts of an Event through a
// pointer conversion instead of a closure, so encoding does not allocate.
type (
	subjectObject   Event
	transformsArray Event
	tagsObject      Event
	transformObject TransformCount
)

func (s *subjectObject) MarshalLogObject(o zapcore.ObjectEncoder) error {
	o.AddString("id", s.SubjectID)
	_ = o.AddArray("roles", (*rolesArray)(s))
	if s.SubjectMethod != "" {
		o.AddString("method", s.SubjectMethod)
	}
	return nil
}

func (t *transformsArray) MarshalLogArray(a zapcore.ArrayEncoder) error {
	for i := range t.Transforms {
		_ = a.AppendObject((*transformObject)(&t.Transforms[i]))
	}
	return nil
}

func (t *transformObject) MarshalLogObject(o zapcore.ObjectEncoder) error {
	o.AddString("direction", t.Direction)
	o.AddString("path", t.Path)
	o.AddString("action", t.Action)
	o.AddInt("count", t.Count)
	return nil
}

func (t *tagsObject) MarshalLogObject(o zapcore.ObjectEncoder) error {
	for k, v := range t.Tags {
		o.AddString(k, v)
	}
	return nil
}
