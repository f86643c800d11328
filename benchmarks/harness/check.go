package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// maskedCustomer is benchCustomer after maskRules4: notes removed, the
// other members in their original order.
type maskedCustomer struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Email   string       `json:"email"`
	Phone   string       `json:"phone"`
	SSN     string       `json:"ssn"`
	Address benchAddress `json:"address"`
	OwnerID string       `json:"owner_id"`
}

type maskedPage struct {
	Customers []maskedCustomer `json:"customers"`
	Total     int              `json:"total"`
	Offset    int              `json:"offset"`
	Limit     int              `json:"limit"`
}

// maskKeepLast is Veil's mask with keep_last (ASCII fixtures: bytes are
// code points).
func maskKeepLast(s string, keep int) string {
	if len(s) <= keep {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-keep) + s[len(s)-keep:]
}

func maskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", at) + s[at:]
}

// expectedMasked computes, independently of Veil and njs, the exact bytes
// a correct contender returns for doc under maskRules4.
func expectedMasked(doc []byte) ([]byte, error) {
	var p page
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("check: fixture: %w", err)
	}
	m := maskedPage{Total: p.Total, Offset: p.Offset, Limit: p.Limit, Customers: make([]maskedCustomer, len(p.Customers))}
	for i, c := range p.Customers {
		m.Customers[i] = maskedCustomer{
			ID: c.ID, Name: c.Name, Email: maskEmail(c.Email), Phone: maskKeepLast(c.Phone, 2),
			SSN: maskKeepLast(c.SSN, 4), Address: c.Address, OwnerID: c.OwnerID,
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("check: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// expectedLengths are the exact response lengths per path, checked on
// every request of the load (a cheap guard against a contender that
// breaks under load).
func expectedLengths(b *body, e expect) (map[string]int, error) {
	if e != expectIdentity && e != expectMasked {
		return nil, nil
	}
	out := make(map[string]int, len(b.Paths))
	for _, p := range b.Paths {
		doc := b.Docs[p]
		if e == expectMasked {
			m, err := expectedMasked(doc)
			if err != nil {
				return nil, err
			}
			doc = m
		}
		out[p] = len(doc)
	}
	return out, nil
}

func get(addr, path, bearer string) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + path)
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	resp.SkipBody = false
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		return 0, nil, fmt.Errorf("check: GET %s: %w", path, err)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// check proves a contender does its job before it is timed: the right
// bytes for an allowed subject, a 403 for the suspended one where a policy
// is evaluated, and audit events where a file sink is configured.
func check(c *contender, b *body, s *subjects) error {
	path := b.Paths[len(b.Paths)/2]
	doc := b.Docs[path]
	for i := 0; i < len(roleMix); i++ { // one subject of every role mix
		status, got, err := get(c.Addr, path, s.Bearer[i])
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("check %s: status %d for %s (%v): %.200s", c.label(), status, s.IDs[i], s.Roles[i], got)
		}
		if err := checkBody(c.Expect, doc, got); err != nil {
			return fmt.Errorf("check %s (subject %s): %w", c.label(), s.IDs[i], err)
		}
	}
	if c.Denies {
		status, _, err := get(c.Addr, path, s.Suspended)
		if err != nil {
			return err
		}
		if status != 403 {
			return fmt.Errorf("check %s: the suspended subject got %d, want 403", c.label(), status)
		}
	}
	if c.AuditFile != "" {
		deadline := time.Now().Add(5 * time.Second)
		for {
			data, _ := os.ReadFile(c.AuditFile)
			if bytes.Contains(data, []byte(`"prev_hash"`)) && bytes.Contains(data, []byte(`"record_ids"`)) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("check %s: no chained audit event in %s", c.label(), c.AuditFile)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func checkBody(e expect, doc, got []byte) error {
	switch e {
	case expectIdentity:
		if !bytes.Equal(doc, got) {
			return fmt.Errorf("body differs from the upstream's (%d vs %d bytes)", len(got), len(doc))
		}
	case expectMasked:
		want, err := expectedMasked(doc)
		if err != nil {
			return err
		}
		// njs re-emits members in its own order: equal JSON values and
		// equal lengths (the load checks lengths) are what must hold.
		if !bytes.Equal(want, got) && !(len(want) == len(got) && jsonEqual(want, got)) {
			return fmt.Errorf("masked body differs from the expected one:\n got  %.300s\n want %.300s", got, want)
		}
	case expectCrypto:
		return checkCrypto(doc, got)
	case expectJSON:
		var p page
		if err := json.Unmarshal(got, &p); err != nil {
			return fmt.Errorf("response is not the page JSON: %w", err)
		}
		if len(p.Customers) == 0 || !strings.HasPrefix(p.Customers[0].SSN, "*") {
			return errors.New("ssn not masked")
		}
	}
	return nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkCrypto: email and phone tokenized, ssn and notes encrypted, the
// rest as stored.
func checkCrypto(doc, got []byte) error {
	var orig, p page
	if err := json.Unmarshal(doc, &orig); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	if err := json.Unmarshal(got, &p); err != nil {
		return fmt.Errorf("response is not the page JSON: %w", err)
	}
	if len(p.Customers) != len(orig.Customers) {
		return fmt.Errorf("%d customers, want %d", len(p.Customers), len(orig.Customers))
	}
	for i, c := range p.Customers {
		o := orig.Customers[i]
		switch {
		case !strings.HasPrefix(c.Email, "tok_v"), !strings.HasPrefix(c.Phone, "tok_v"):
			return fmt.Errorf("customer %s: email/phone not tokenized", o.ID)
		case !strings.HasPrefix(c.SSN, "enc_v"), !strings.HasPrefix(c.Notes, "enc_v"):
			return fmt.Errorf("customer %s: ssn/notes not encrypted", o.ID)
		case c.Name != o.Name || c.ID != o.ID || c.Address != o.Address:
			return fmt.Errorf("customer %s: an untouched field changed", o.ID)
		}
	}
	return nil
}
