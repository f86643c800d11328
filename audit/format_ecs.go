package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The ECS format (sink option format: ecs) re-encodes each record with
// Elastic Common Schema field names for a SIEM that expects them. The
// canonical line stays the source of truth: the hash chain covers it, not
// the ECS document, so the chain fields travel along under veil.* and the
// verifiable trail is the one a "veil"-format sink writes. The conversion
// runs in the sink's delivery goroutine, off the request path.

const ecsVersion = "8.11.0"

type ecsDoc struct {
	Timestamp time.Time         `json:"@timestamp"`
	ECS       ecsVersionField   `json:"ecs"`
	Event     ecsEvent          `json:"event"`
	Observer  ecsObserver       `json:"observer"`
	HTTP      *ecsHTTP          `json:"http,omitempty"`
	URL       *ecsURL           `json:"url,omitempty"`
	User      *ecsUser          `json:"user,omitempty"`
	Source    *ecsSource        `json:"source,omitempty"`
	Rule      *ecsRule          `json:"rule,omitempty"`
	Error     *ecsError         `json:"error,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Veil      json.RawMessage   `json:"veil"`
}

type (
	ecsVersionField struct {
		Version string `json:"version"`
	}
	ecsEvent struct {
		Kind     string   `json:"kind"`
		Category []string `json:"category,omitempty"`
		Type     []string `json:"type,omitempty"`
		Outcome  string   `json:"outcome,omitempty"`
		Action   string   `json:"action"`
		ID       string   `json:"id,omitempty"`
		Dataset  string   `json:"dataset"`
		Duration int64    `json:"duration,omitempty"` // ns
		Reason   string   `json:"reason,omitempty"`
	}
	ecsObserver struct {
		Product string `json:"product"`
		Type    string `json:"type"`
	}
	ecsHTTP struct {
		Request  ecsHTTPReq  `json:"request"`
		Response ecsHTTPResp `json:"response"`
	}
	ecsHTTPReq struct {
		Method string `json:"method"`
		Bytes  int64  `json:"bytes"`
	}
	ecsHTTPResp struct {
		StatusCode int   `json:"status_code"`
		Bytes      int64 `json:"bytes"`
	}
	ecsURL struct {
		Path string `json:"path"`
	}
	ecsUser struct {
		ID    string   `json:"id,omitempty"`
		Roles []string `json:"roles,omitempty"`
	}
	ecsSource struct {
		IP string `json:"ip"`
	}
	ecsRule struct {
		Ruleset string `json:"ruleset"`
		Version string `json:"version"`
	}
	ecsError struct {
		Code string `json:"code"`
	}
	// ecsVeil is what ECS has no field for.
	ecsVeil struct {
		ChainID            string            `json:"chain_id"`
		Seq                uint64            `json:"seq"`
		PrevHash           string            `json:"prev_hash"`
		Hash               string            `json:"hash"`
		Route              string            `json:"route"`
		DecisionID         string            `json:"decision_id,omitempty"`
		Allowed            bool              `json:"allowed"`
		SubjectMethod      string            `json:"subject_method,omitempty"`
		Transforms         []RecordTransform `json:"transforms"`
		FailedValues       int               `json:"failed_values"`
		RecordIDs          []string          `json:"record_ids"`
		RecordIDsTruncated bool              `json:"record_ids_truncated,omitempty"`
		UpstreamStatus     int               `json:"upstream_status"`
	}
)

// ecsLine converts one canonical record (event, checkpoint or segment) to
// an ECS JSON line.
func ecsLine(line []byte) ([]byte, error) {
	var doc ecsDoc
	doc.ECS.Version = ecsVersion
	doc.Observer = ecsObserver{Product: "veil", Type: "proxy"}
	if !bytes.Contains(line, []byte(`"prev_hash":`)) {
		// A checkpoint or segment record: a state document carrying it.
		var head struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("ecs: %w", err)
		}
		kind := "checkpoint"
		if bytes.Contains(line, []byte(`"segment":{`)) {
			kind = "segment"
		}
		doc.Timestamp = head.Time
		doc.Event = ecsEvent{Kind: "state", Action: "veil-audit-" + kind, Dataset: "veil.audit"}
		doc.Veil = json.RawMessage(bytes.TrimSpace(line))
		return marshalLine(&doc)
	}
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("ecs: %w", err)
	}
	outcome, typ := "success", "allowed"
	if r.Status >= 400 {
		outcome = "failure"
	}
	if !r.Allowed {
		typ = "denied"
	}
	doc.Timestamp = r.Time
	doc.Event = ecsEvent{Kind: "event", Category: []string{"web"}, Type: []string{"access", typ}, Outcome: outcome,
		Action: "veil-request", ID: r.RequestID, Dataset: "veil.audit", Duration: r.DurationUS * 1000, Reason: r.Reason}
	doc.HTTP = &ecsHTTP{Request: ecsHTTPReq{Method: r.Method, Bytes: r.BytesIn}, Response: ecsHTTPResp{StatusCode: r.Status, Bytes: r.BytesOut}}
	doc.URL = &ecsURL{Path: r.Path}
	if r.Subject.ID != "" || len(r.Subject.Roles) > 0 {
		doc.User = &ecsUser{ID: r.Subject.ID, Roles: r.Subject.Roles}
	}
	if r.ClientIP != "" {
		doc.Source = &ecsSource{IP: r.ClientIP}
	}
	if r.PolicyRevision != "" {
		doc.Rule = &ecsRule{Ruleset: "veil", Version: r.PolicyRevision}
	}
	if r.ErrorCode != "" {
		doc.Error = &ecsError{Code: r.ErrorCode}
	}
	doc.Labels = r.Tags
	v, err := json.Marshal(ecsVeil{ChainID: r.ChainID, Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Route: r.Route,
		DecisionID: r.DecisionID, Allowed: r.Allowed, SubjectMethod: r.Subject.Method, Transforms: r.Transforms,
		FailedValues: r.FailedValues, RecordIDs: r.RecordIDs, RecordIDsTruncated: r.RecordIDsTruncated, UpstreamStatus: r.UpstreamStatus})
	if err != nil {
		return nil, err
	}
	doc.Veil = v
	return marshalLine(&doc)
}

func marshalLine(doc *ecsDoc) ([]byte, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
