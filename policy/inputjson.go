package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/veilgw/veil/identity"
)

// inputDoc is the DESIGN "Policy input" JSON shape, for InputFromJSON.
type inputDoc struct {
	Request struct {
		Method    string          `json:"method"`
		Host      string          `json:"host"`
		Path      string          `json:"path"`
		Segments  []string        `json:"segments"`
		Query     multiValues     `json:"query"`
		Headers   multiValues     `json:"headers"`
		BodyState string          `json:"body_state"`
		Body      json.RawMessage `json:"body"`
		ClientIP  string          `json:"client_ip"`
		ID        string          `json:"id"`
	} `json:"request"`
	Route struct {
		Name   string `json:"name"`
		Prefix string `json:"prefix"`
	} `json:"route"`
	Subject identity.Subject `json:"subject"`
	TimeNS  int64            `json:"time_ns"`
}

// multiValues is {name: [values...]}; a single string is accepted for one
// value.
type multiValues map[string][]string

func (m *multiValues) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = make(multiValues, len(raw))
	for k, v := range raw {
		var one string
		if err := json.Unmarshal(v, &one); err == nil {
			(*m)[k] = []string{one}
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil {
			return fmt.Errorf("%q must be a string or an array of strings", k)
		}
		(*m)[k] = many
	}
	return nil
}

// pairs flattens m into (name, value) pairs sorted by name, values in
// order; lowerNames lower-cases the names (headers).
func (m multiValues) pairs(lowerNames bool) [][2]string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var out [][2]string
	for _, k := range names {
		name := k
		if lowerNames {
			name = strings.ToLower(k)
		}
		for _, v := range m[k] {
			out = append(out, [2]string{name, v})
		}
	}
	return out
}

// InputFromJSON reads an Input from the DESIGN "Policy input" JSON shape
// (for `veil policy eval --input req.json`). Unknown keys are errors.
// Missing segments are derived from path; a body without body_state means
// parsed; no body and no body_state means absent. Query and header values
// may be a string or an array of strings; header names are lower-cased.
func InputFromJSON(data []byte) (*Input, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var doc inputDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("policy: input: %w", err)
	}
	if dec.More() {
		return nil, errors.New("policy: input: more than one JSON document")
	}
	r := &doc.Request
	in := &Input{
		Method:      r.Method,
		Host:        r.Host,
		Path:        r.Path,
		Segments:    r.Segments,
		Query:       r.Query.pairs(false),
		Headers:     r.Headers.pairs(true),
		BodyState:   r.BodyState,
		ClientIP:    r.ClientIP,
		RequestID:   r.ID,
		RouteName:   doc.Route.Name,
		RoutePrefix: doc.Route.Prefix,
		Subject:     doc.Subject,
		TimeNS:      doc.TimeNS,
	}
	if in.Segments == nil {
		for s := range strings.SplitSeq(r.Path, "/") {
			if s != "" {
				in.Segments = append(in.Segments, s)
			}
		}
	}
	hasBody := len(r.Body) > 0
	switch {
	case in.BodyState == "" && hasBody:
		in.BodyState = BodyParsed
	case in.BodyState == "":
		in.BodyState = BodyAbsent
	}
	switch in.BodyState {
	case BodyParsed:
		if !hasBody {
			return nil, errors.New("policy: input: body_state is parsed but body is missing")
		}
		in.Body = []byte(r.Body)
	case BodyAbsent, BodyNotJSON, BodyTooLarge, BodyInvalid:
		if hasBody {
			return nil, fmt.Errorf("policy: input: body given with body_state %q", in.BodyState)
		}
	default:
		return nil, fmt.Errorf("policy: input: unknown body_state %q", in.BodyState)
	}
	return in, nil
}
