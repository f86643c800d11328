package demo

import (
	"time"

	"github.com/valyala/fasthttp"
)

// CRM is the sample customer-relationship API: customers, deals and
// tickets. Its handler serves, without any path prefix:
//
//	GET    /customers          ?limit (default 50, max 1000) &offset &owner_id
//	POST   /customers          201 with the created customer (id assigned)
//	GET    /customers/{id}
//	PUT    /customers/{id}     replace (the id never changes)
//	PATCH  /customers/{id}     merge
//	DELETE /customers/{id}     204
//	GET    /deals              ?limit &offset &owner_id &customer_id
//	GET    /deals/{id}
//	GET    /tickets            ?limit &offset &customer_id &status
//	POST   /tickets            201 with the created ticket
//	GET    /tickets/{id}
//
// Lists answer {"<collection>":[...],"total":N,"offset":o,"limit":l};
// errors answer {"error":{"code":...,"message":...}}. A CRM is safe for
// concurrent use; writes are visible to later reads.
type CRM struct {
	customers *table[Customer]
	deals     *table[Deal]
	tickets   *table[Ticket]
}

// NewCRM generates a CRM with the given number of customers (and as many
// deals and tickets) from seed: the same seed always yields the same data.
func NewCRM(seed uint64, customers int) *CRM {
	r := newRand(seed, 0xC0FFEE)
	cs := genCustomers(r, customers)
	var ds []Deal
	var ts []Ticket
	if len(cs) > 0 {
		ds = genDeals(r, cs)
		ts = genTickets(r, cs)
	}
	return &CRM{
		customers: newTable("c-", func(c *Customer) *string { return &c.ID }, cs),
		deals:     newTable("d-", func(d *Deal) *string { return &d.ID }, ds),
		tickets:   newTable("t-", func(t *Ticket) *string { return &t.ID }, ts),
	}
}

// Customers returns a copy of every stored customer, in id order of
// creation.
func (c *CRM) Customers() []Customer { return c.customers.snapshot() }

// Deals returns a copy of every stored deal.
func (c *CRM) Deals() []Deal { return c.deals.snapshot() }

// Tickets returns a copy of every stored ticket.
func (c *CRM) Tickets() []Ticket { return c.tickets.snapshot() }

// Handler returns the request handler serving the CRM API.
func (c *CRM) Handler() fasthttp.RequestHandler { return c.serve }

func (c *CRM) serve(ctx *fasthttp.RequestCtx) {
	seg := segments(ctx)
	switch {
	case len(seg) == 1 && seg[0] == "customers":
		switch {
		case ctx.IsGet() || ctx.IsHead():
			var keep func(*Customer) bool
			if owner, ok := query(ctx, "owner_id"); ok {
				keep = func(cu *Customer) bool { return cu.OwnerID == owner }
			}
			writeList(ctx, "customers", c.customers, keep)
		case ctx.IsPost():
			createOne(ctx, c.customers, checkCustomer)
		default:
			methodNotAllowed(ctx, "GET, HEAD, POST")
		}
	case len(seg) == 2 && seg[0] == "customers":
		switch {
		case ctx.IsGet() || ctx.IsHead():
			getOne(ctx, c.customers, seg[1], "customer")
		case ctx.IsPut() || ctx.IsPatch():
			updateOne(ctx, c.customers, seg[1], "customer", checkCustomerUpdate)
		case ctx.IsDelete():
			if !c.customers.remove(seg[1]) {
				notFound(ctx, "customer")
				return
			}
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			ctx.SetContentType(contentTypeJSON)
		default:
			methodNotAllowed(ctx, "GET, HEAD, PUT, PATCH, DELETE")
		}
	case len(seg) == 1 && seg[0] == "deals":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		owner, byOwner := query(ctx, "owner_id")
		cust, byCust := query(ctx, "customer_id")
		writeList(ctx, "deals", c.deals, func(d *Deal) bool {
			return (!byOwner || d.OwnerID == owner) && (!byCust || d.CustomerID == cust)
		})
	case len(seg) == 2 && seg[0] == "deals":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		getOne(ctx, c.deals, seg[1], "deal")
	case len(seg) == 1 && seg[0] == "tickets":
		switch {
		case ctx.IsGet() || ctx.IsHead():
			cust, byCust := query(ctx, "customer_id")
			status, byStatus := query(ctx, "status")
			writeList(ctx, "tickets", c.tickets, func(t *Ticket) bool {
				return (!byCust || t.CustomerID == cust) && (!byStatus || t.Status == status)
			})
		case ctx.IsPost():
			createOne(ctx, c.tickets, c.checkTicket)
		default:
			methodNotAllowed(ctx, "GET, HEAD, POST")
		}
	case len(seg) == 2 && seg[0] == "tickets":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		getOne(ctx, c.tickets, seg[1], "ticket")
	default:
		notFound(ctx, "resource")
	}
}

func checkCustomer(cu *Customer) error {
	if err := checkCustomerUpdate(cu); err != nil {
		return err
	}
	if cu.CreatedAt == "" {
		cu.CreatedAt = time.Now().UTC().Format(time.RFC3339)
	}
	return nil
}

func checkCustomerUpdate(cu *Customer) error {
	if cu.Name == "" {
		return validationError("name is required")
	}
	return nil
}

func (c *CRM) checkTicket(t *Ticket) error {
	if t.Subject == "" {
		return validationError("subject is required")
	}
	if _, ok := c.customers.get(t.CustomerID); !ok {
		return validationError("customer_id must name an existing customer")
	}
	if t.Status == "" {
		t.Status = "open"
	}
	return nil
}
