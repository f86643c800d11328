package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/veilgw/veil/demo"
	"github.com/veilgw/veil/identity"
)

// fixtureSeed makes every run serve the same bytes.
const fixtureSeed uint64 = 7

// pool is how many distinct demo customers the pages are cut from; larger
// pages cycle through it with fresh ids.
const pool = 2000

// body is one fixture size: Pages distinct JSON documents of Customers
// customers each, served by the upstream under Paths.
type body struct {
	// Label names the size in tables ("2.4KB").
	Label string `json:"label"`
	// Customers per page.
	Customers int `json:"customers"`
	// Bytes is the mean page size.
	Bytes int `json:"bytes"`
	// Paths are the request paths, one per page.
	Paths []string `json:"-"`
	// Docs maps a path to its exact upstream bytes (for the checks).
	Docs map[string][]byte `json:"-"`
}

// benchAddress and benchCustomer are the demo CRM's customer cut to the
// fields of the fixture (about 240 bytes each, so that 10 customers
// make the 2.4 KB body and 1000 the 250 KB one).
type benchAddress struct {
	Street string `json:"street"`
	City   string `json:"city"`
	Zip    string `json:"zip"`
}

type benchCustomer struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Email   string       `json:"email"`
	Phone   string       `json:"phone"`
	SSN     string       `json:"ssn"`
	Address benchAddress `json:"address"`
	OwnerID string       `json:"owner_id"`
	Notes   string       `json:"notes"`
}

func fromDemo(c demo.Customer, id string) benchCustomer {
	notes := c.Notes
	// A short free-text note: the first words of the demo's.
	if len(notes) > 20 {
		if i := strings.LastIndexByte(notes[:20], ' '); i > 0 {
			notes = notes[:i]
		} else {
			notes = notes[:20]
		}
	}
	return benchCustomer{ID: id, Name: c.Name, Email: c.Email, Phone: c.Phone, SSN: c.SSN,
		Address: benchAddress{Street: c.Address.Street, City: c.Address.City, Zip: c.Address.Zip},
		OwnerID: c.OwnerID, Notes: notes}
}

// page is the list shape of the demo CRM.
type page struct {
	Customers []benchCustomer `json:"customers"`
	Total     int             `json:"total"`
	Offset    int             `json:"offset"`
	Limit     int             `json:"limit"`
}

var customerPool []demo.Customer

// makeBody writes pages of n customers under wwwDir and returns them. The
// path carries the page size so one upstream serves every size.
func makeBody(wwwDir string, n, pages int) (*body, error) {
	if customerPool == nil {
		customerPool = demo.NewCRM(fixtureSeed, pool).Customers()
	}
	b := &body{Customers: n, Docs: make(map[string][]byte, pages)}
	rel := fmt.Sprintf("crm/customers/n%d/page", n)
	dir := filepath.Join(wwwDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	total := 0
	for p := 0; p < pages; p++ {
		pg := page{Customers: make([]benchCustomer, n), Total: n * pages, Offset: p * n, Limit: n}
		for j := range n {
			k := p*n + j
			// Distinct ids across pages keep records distinct for the audit.
			pg.Customers[j] = fromDemo(customerPool[k%pool], fmt.Sprintf("c-%07d", k))
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // byte-identical to what njs and Veil re-emit
		if err := enc.Encode(pg); err != nil {
			return nil, fmt.Errorf("fixtures: encode: %w", err)
		}
		doc := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		name := fmt.Sprint(p)
		if err := writeIfChanged(filepath.Join(dir, name), doc); err != nil {
			return nil, err
		}
		path := "/" + rel + "/" + name
		b.Paths = append(b.Paths, path)
		b.Docs[path] = doc
		total += len(doc)
	}
	b.Bytes = total / pages
	b.Label = sizeLabel(b.Bytes)
	return b, nil
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("fixtures: %w", err)
	}
	return nil
}

func sizeLabel(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.1fKB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%dB", n)
	}
}

// customersFor returns how many customers make a page of about size bytes.
func customersFor(size int) int {
	per := 0
	for _, c := range customerPool[:100] {
		j, _ := json.Marshal(fromDemo(c, "c-0000000"))
		per += len(j) + 1
	}
	per /= 100
	n := size / per
	if n < 1 {
		n = 1
	}
	return n
}

// subjects are the load's callers: HS256 JWTs with varying roles, so that
// identity and decision caches see a realistic spread.
type subjects struct {
	// Bearer holds "Bearer <jwt>" per subject.
	Bearer []string
	// IDs and Roles describe each subject (for the checks).
	IDs   []string
	Roles [][]string
	// Suspended is a token the policies deny (proves they are evaluated).
	Suspended string
}

var roleMix = [][]string{{"analyst"}, {"support"}, {"admin"}, {"sales"}, {"support", "analyst"}}

// suspendedID is the subject every generated policy denies.
const suspendedID = "u-suspended-1"

func mintSubjects(secret []byte, n int) (*subjects, error) {
	s := &subjects{}
	for i := range n {
		id := fmt.Sprintf("u-%04d", i)
		roles := roleMix[i%len(roleMix)]
		tok, err := identity.MintHS256(secret, id, roles, 24*time.Hour, nil)
		if err != nil {
			return nil, fmt.Errorf("fixtures: mint: %w", err)
		}
		s.Bearer = append(s.Bearer, "Bearer "+tok)
		s.IDs = append(s.IDs, id)
		s.Roles = append(s.Roles, roles)
	}
	tok, err := identity.MintHS256(secret, suspendedID, []string{"support"}, 24*time.Hour, nil)
	if err != nil {
		return nil, fmt.Errorf("fixtures: mint: %w", err)
	}
	s.Suspended = "Bearer " + tok
	return s, nil
}

// jwtSecret is the dev HS256 secret of every generated Veil config; it only
// ever protects loopback benchmark traffic.
var jwtSecret = []byte(strings.Repeat("veil-bench-dev-secret-", 2))
