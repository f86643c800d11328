// Package audit owns Veil's audit trail: the event schema, its JSON
// encoding (zap), and the sinks events are written to.
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
	// Direction is "request" or "response".
	Direction string
	Path      string
	Action    string
	Count     int
}

// Event is one request's audit record (README "Audit event").
type Event struct {
	Time           time.Time
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
	RecordIDs      []string
	RecordIDsCut   bool
	Tags           map[string]string
	BytesIn        int64
	BytesOut       int64
	Duration       time.Duration
	UpstreamStatus int
}

// Reset clears e for reuse, keeping slice capacity.
func (e *Event) Reset() {
	roles, tr, ids := e.SubjectRoles[:0], e.Transforms[:0], e.RecordIDs[:0]
	*e = Event{SubjectRoles: roles, Transforms: tr, RecordIDs: ids}
}

// MarshalLogObject encodes the event's fields (zapcore.ObjectMarshaler),
// in schema order, without reflection.
func (e *Event) MarshalLogObject(enc zapcore.ObjectEncoder) error {
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
	_ = enc.AddObject("subject", zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
		o.AddString("id", e.SubjectID)
		_ = o.AddArray("roles", stringArray(e.SubjectRoles))
		if e.SubjectMethod != "" {
			o.AddString("method", e.SubjectMethod)
		}
		return nil
	}))
	enc.AddString("client_ip", e.ClientIP)
	enc.AddString("policy_revision", e.PolicyRevision)
	_ = enc.AddArray("transforms", zapcore.ArrayMarshalerFunc(func(a zapcore.ArrayEncoder) error {
		for i := range e.Transforms {
			t := &e.Transforms[i]
			_ = a.AppendObject(zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
				o.AddString("direction", t.Direction)
				o.AddString("path", t.Path)
				o.AddString("action", t.Action)
				o.AddInt("count", t.Count)
				return nil
			}))
		}
		return nil
	}))
	enc.AddInt("failed_values", e.FailedValues)
	_ = enc.AddArray("record_ids", stringArray(e.RecordIDs))
	if e.RecordIDsCut {
		enc.AddBool("record_ids_truncated", true)
	}
	if len(e.Tags) > 0 {
		_ = enc.AddObject("tags", zapcore.ObjectMarshalerFunc(func(o zapcore.ObjectEncoder) error {
			for k, v := range e.Tags {
				o.AddString(k, v)
			}
			return nil
		}))
	}
	enc.AddInt64("bytes_in", e.BytesIn)
	enc.AddInt64("bytes_out", e.BytesOut)
	enc.AddInt64("duration_us", e.Duration.Microseconds())
	enc.AddInt("upstream_status", e.UpstreamStatus)
	return nil
}

type stringArray []string

func (s stringArray) MarshalLogArray(a zapcore.ArrayEncoder) error {
	for _, v := range s {
		a.AppendString(v)
	}
	return nil
}
