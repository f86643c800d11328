package demo

import (
	"time"

	"github.com/valyala/fasthttp"
)

// HRM is the sample human-resources API. Its handler serves, without any
// path prefix:
//
//	GET    /employees               ?limit (default 50, max 1000) &offset &department &manager_id
//	POST   /employees               201 with the created employee (id assigned)
//	GET    /employees/{id}
//	PUT    /employees/{id}          replace (the id never changes)
//	PATCH  /employees/{id}          merge
//	GET    /employees/{id}/reviews  {"employee_id":"e-0001","reviews":[...]}
//
// Employee e-0001 is the chief executive; e-0002 up to about e-(n/11) are
// managers with about ten reports each; e-0007 is the HR manager. An HRM is
// safe for concurrent use; writes are visible to later reads.
type HRM struct {
	employees *table[Employee]
}

// NewHRM generates an HRM with the given number of employees from seed:
// the same seed always yields the same data.
func NewHRM(seed uint64, employees int) *HRM {
	r := newRand(seed, 0xBEEF)
	return &HRM{employees: newTable("e-", func(e *Employee) *string { return &e.ID }, genEmployees(r, employees))}
}

// Employees returns a copy of every stored employee, in order of creation.
func (h *HRM) Employees() []Employee { return h.employees.snapshot() }

// Handler returns the request handler serving the HRM API.
func (h *HRM) Handler() fasthttp.RequestHandler { return h.serve }

func (h *HRM) serve(ctx *fasthttp.RequestCtx) {
	seg := segments(ctx)
	if len(seg) == 0 || seg[0] != "employees" {
		notFound(ctx, "resource")
		return
	}
	switch len(seg) {
	case 1:
		switch {
		case ctx.IsGet() || ctx.IsHead():
			dept, byDept := query(ctx, "department")
			mgr, byMgr := query(ctx, "manager_id")
			writeList(ctx, "employees", h.employees, func(e *Employee) bool {
				return (!byDept || e.Department == dept) && (!byMgr || e.ManagerID == mgr)
			})
		case ctx.IsPost():
			createOne(ctx, h.employees, checkEmployee)
		default:
			methodNotAllowed(ctx, "GET, HEAD, POST")
		}
	case 2:
		switch {
		case ctx.IsGet() || ctx.IsHead():
			getOne(ctx, h.employees, seg[1], "employee")
		case ctx.IsPut() || ctx.IsPatch():
			updateOne(ctx, h.employees, seg[1], "employee", checkEmployeeUpdate)
		default:
			methodNotAllowed(ctx, "GET, HEAD, PUT, PATCH")
		}
	case 3:
		if seg[2] != "reviews" {
			notFound(ctx, "resource")
			return
		}
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		h.reviews(ctx, seg[1])
	default:
		notFound(ctx, "resource")
	}
}

func (h *HRM) reviews(ctx *fasthttp.RequestCtx, id string) {
	raw, ok := h.employees.get(id)
	if !ok {
		notFound(ctx, "employee")
		return
	}
	var e Employee
	if err := decodeBody(raw, &e); err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "stored record unreadable")
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, marshal(struct {
		EmployeeID string   `json:"employee_id"`
		Reviews    []Review `json:"reviews"`
	}{e.ID, e.PerformanceReviews}))
}

func checkEmployee(e *Employee) error {
	if err := checkEmployeeUpdate(e); err != nil {
		return err
	}
	if e.HiredAt == "" {
		e.HiredAt = time.Now().UTC().Format(time.DateOnly)
	}
	return nil
}

func checkEmployeeUpdate(e *Employee) error {
	if e.Name == "" {
		return validationError("name is required")
	}
	if e.PerformanceReviews == nil {
		e.PerformanceReviews = []Review{}
	}
	return nil
}
