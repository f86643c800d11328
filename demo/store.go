package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Address is a postal address of a customer or an employee.
type Address struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	Zip     string `json:"zip"`
	Country string `json:"country"`
}

// Customer is one CRM customer record.
type Customer struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Email       string  `json:"email"`
	Phone       string  `json:"phone"`
	SSN         string  `json:"ssn"`
	NationalID  string  `json:"national_id"`
	Address     Address `json:"address"`
	DateOfBirth string  `json:"date_of_birth"`
	CardLast4   string  `json:"card_last4"`
	OwnerID     string  `json:"owner_id"`
	Notes       string  `json:"notes"`
	CreatedAt   string  `json:"created_at"`
}

// Deal is one CRM sales opportunity; OwnerID is the customer's sales rep.
type Deal struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	OwnerID    string `json:"owner_id"`
	Amount     int    `json:"amount"`
	Stage      string `json:"stage"`
	Notes      string `json:"notes"`
}

// Ticket is one CRM support ticket; Assignee is a support agent id.
type Ticket struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
	Status     string `json:"status"`
	Assignee   string `json:"assignee"`
}

// BankAccount is where an employee's salary is paid.
type BankAccount struct {
	IBAN string `json:"iban"`
	BIC  string `json:"bic"`
}

// Review is one yearly performance review.
type Review struct {
	Year     int    `json:"year"`
	Rating   int    `json:"rating"`
	Comments string `json:"comments"`
}

// Employee is one HRM employee record; ManagerID is empty for the chief
// executive.
type Employee struct {
	ID                 string      `json:"id"`
	Name               string      `json:"name"`
	Email              string      `json:"email"`
	Phone              string      `json:"phone"`
	NationalID         string      `json:"national_id"`
	DateOfBirth        string      `json:"date_of_birth"`
	Address            Address     `json:"address"`
	Department         string      `json:"department"`
	Title              string      `json:"title"`
	ManagerID          string      `json:"manager_id"`
	Salary             int         `json:"salary"`
	BankAccount        BankAccount `json:"bank_account"`
	PerformanceReviews []Review    `json:"performance_reviews"`
	HiredAt            string      `json:"hired_at"`
}

// errBadBody is returned by decodeBody for anything but one JSON object
// that fits the record type.
var errBadBody = errors.New("demo: request body must be one JSON object with known fields")

// marshal is the single encoder of stored records: compact, HTML
// characters unescaped, no trailing newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only plain structs of strings and ints are encoded here.
		panic(fmt.Sprintf("demo: encoding a record: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

// decodeBody decodes exactly one JSON object into dst, which may already
// hold values (PATCH merges). Unknown fields, wrong types and trailing
// data are refused.
func decodeBody(body []byte, dst any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errBadBody
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return errBadBody
	}
	if dec.More() {
		return errBadBody
	}
	if _, err := dec.Token(); err == nil {
		return errBadBody
	}
	return nil
}

// row is one stored record and its JSON text, encoded once per write so
// that reads copy bytes instead of encoding.
type row[T any] struct {
	v   T
	raw []byte
}

// table is a thread-safe, insertion-ordered in-memory collection.
type table[T any] struct {
	prefix string           // id prefix, e.g. "c-"
	id     func(*T) *string // the record's id field

	mu    sync.RWMutex
	order []string // ids in insertion order (deleted ids removed)
	rows  map[string]*row[T]
	next  int // number of the next assigned id
}

func newTable[T any](prefix string, id func(*T) *string, vs []T) *table[T] {
	t := &table[T]{prefix: prefix, id: id, rows: make(map[string]*row[T], len(vs))}
	for i := range vs {
		t.putLocked(vs[i])
	}
	t.next = len(vs) + 1
	return t
}

func (t *table[T]) putLocked(v T) []byte {
	id := *t.id(&v)
	r := &row[T]{v: v, raw: marshal(&v)}
	if _, ok := t.rows[id]; !ok {
		t.order = append(t.order, id)
	}
	t.rows[id] = r
	return r.raw
}

// list appends the JSON texts of the records that match keep (nil: all),
// skipping offset of them and taking at most limit, to a JSON array; it
// returns the array and the number of matching records.
func (t *table[T]) list(dst []byte, keep func(*T) bool, offset, limit int) ([]byte, int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	dst = append(dst, '[')
	total, n := 0, 0
	for _, id := range t.order {
		r := t.rows[id]
		if keep != nil && !keep(&r.v) {
			continue
		}
		total++
		if total <= offset || n >= limit {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, r.raw...)
		n++
	}
	return append(dst, ']'), total
}

// get returns the JSON text of the record with this id (shared: do not
// modify).
func (t *table[T]) get(id string) ([]byte, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.rows[id]
	if !ok {
		return nil, false
	}
	return r.raw, true
}

// create assigns the next id to v, stores it and returns its JSON text.
func (t *table[T]) create(v T) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		id := fmt.Sprintf("%s%04d", t.prefix, t.next)
		t.next++
		if _, taken := t.rows[id]; !taken {
			*t.id(&v) = id
			return t.putLocked(v)
		}
	}
}

// update replaces (merge false) or merges (merge true) the record with
// this id with the JSON object body; the id never changes. It returns the
// stored JSON text, or found false.
func (t *table[T]) update(id string, body []byte, merge bool, check func(*T) error) (raw []byte, found bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rows[id]
	if !ok {
		return nil, false, nil
	}
	var v T
	if merge {
		// A fresh deep copy: decoding into r.v would write through its
		// slices into the stored record.
		if err := json.Unmarshal(r.raw, &v); err != nil {
			return nil, true, err
		}
	}
	if err := decodeBody(body, &v); err != nil {
		return nil, true, err
	}
	*t.id(&v) = id
	if check != nil {
		if err := check(&v); err != nil {
			return nil, true, err
		}
	}
	return t.putLocked(v), true, nil
}

// remove deletes the record with this id and reports whether it existed.
func (t *table[T]) remove(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.rows[id]; !ok {
		return false
	}
	delete(t.rows, id)
	for i, o := range t.order {
		if o == id {
			t.order = append(t.order[:i], t.order[i+1:]...)
			break
		}
	}
	return true
}

// snapshot returns a deep copy of every record in insertion order.
func (t *table[T]) snapshot() []T {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]T, len(t.order))
	for i, id := range t.order {
		if err := json.Unmarshal(t.rows[id].raw, &out[i]); err != nil {
			panic(fmt.Sprintf("demo: decoding a stored record: %v", err))
		}
	}
	return out
}
