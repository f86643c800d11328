package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Defaults used by StartUpstreams.
const (
	// DefaultSeed seeds the generated data of StartUpstreams.
	DefaultSeed uint64 = 42
	// DefaultCustomers is the number of CRM customers StartUpstreams
	// generates (as many deals and tickets).
	DefaultCustomers = 300
	// DefaultEmployees is the number of HRM employees StartUpstreams
	// generates.
	DefaultEmployees = 200
)

// SalesRepIDs are the owner ids of generated customers and deals, in
// round-robin order; "u-17" is the sales rep of Users.
var SalesRepIDs = []string{"u-17", "u-18", "u-19", "u-20", "u-21"}

// SupportAgentIDs are the assignees of generated tickets; "u-03" is the
// support agent of Users.
var SupportAgentIDs = []string{"u-03", "u-04", "u-05"}

// HRManagerID is the employee id of the HR manager (also a dev identity).
const HRManagerID = "e-0007"

var (
	firstNames = []string{
		"Ava", "Liam", "Olivia", "Noah", "Emma", "Lucas", "Mia", "Ethan", "Sofia", "Mateo",
		"Amelia", "Hiroshi", "Chloe", "Omar", "Isabella", "Kwame", "Hannah", "Diego", "Priya", "Jonas",
		"Fatima", "Leon", "Camille", "Arjun", "Grace", "Mohammed", "Elena", "Tomasz", "Zoe", "Samuel",
	}
	lastNames = []string{
		"Nguyen", "Smith", "Garcia", "Müller", "Dubois", "Johnson", "Kowalski", "Okafor", "Rossi", "Tanaka",
		"Brown", "Martin", "Schmidt", "Patel", "Lefebvre", "Wilson", "Silva", "Andersen", "Khan", "O'Brien",
		"Moreau", "Fischer", "Davies", "Hernández", "Kim", "Novak", "Bernard", "Cohen", "Walker", "Sato",
	}
	emailDomains = []string{"example.com", "example.org", "mail.example.net"}
	dealStages   = []string{"prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"}
	ticketStatus = []string{"open", "pending", "resolved", "closed"}
	subjects     = []string{
		"Cannot log in to the portal", "Invoice shows the wrong amount", "Request to update billing address",
		"Card payment declined", "Export of order history", "Delivery delayed", "Question about contract renewal",
		"Duplicate charge on statement",
	}
	noteTemplates = []string{
		"Called on %s about invoice %d; prefers contact by email.",
		"Met at the %s trade fair; interested in the premium plan (quote %d).",
		"Asked to pause the subscription until %s; reference %d.",
		"VIP since %s; escalate complaints to the account manager (case %d).",
		"Disputed charge on %s, refunded under case %d.",
	}
	reviewComments = []string{
		"Consistently exceeds expectations; led the %s migration (goal %d).",
		"Solid year; needs to improve estimates for %s projects (goal %d).",
		"Struggled with deadlines after the %s reorganisation; improvement plan %d agreed.",
		"Great mentor to new hires; promoted to lead the %s initiative (goal %d).",
	}
	departments = []string{"Engineering", "Sales", "Finance", "Marketing", "Operations", "Support", "Legal"}
	titles      = map[string][]string{
		"Engineering":     {"Software Engineer", "Senior Software Engineer", "Site Reliability Engineer", "QA Engineer"},
		"Sales":           {"Account Executive", "Sales Development Rep", "Sales Engineer"},
		"Finance":         {"Accountant", "Financial Analyst", "Payroll Specialist"},
		"Marketing":       {"Marketing Specialist", "Content Writer", "Product Marketing Manager"},
		"Operations":      {"Operations Analyst", "Facilities Coordinator", "Logistics Planner"},
		"Support":         {"Support Specialist", "Support Engineer", "Customer Success Manager"},
		"Legal":           {"Paralegal", "Counsel", "Compliance Analyst"},
		"Human Resources": {"HR Generalist", "Recruiter", "HR Business Partner"},
	}
)

// country describes how generated addresses and ids look in one country.
type country struct {
	code    string
	cities  []string
	streets []string
	phone   func(r *rand.Rand) string
	zip     func(r *rand.Rand) string
	natID   func(r *rand.Rand) string
	iban    func(r *rand.Rand) string
	bic     string
}

var countries = []country{
	{
		code:    "US",
		cities:  []string{"Springfield", "Portland", "Austin", "Denver", "Boston"},
		streets: []string{"Maple Ave", "Oak Street", "Cedar Lane", "Pine Court", "Elm Street"},
		phone:   func(r *rand.Rand) string { return fmt.Sprintf("+1-%03d-555-%04d", 200+r.IntN(800), r.IntN(10000)) },
		zip:     func(r *rand.Rand) string { return fmt.Sprintf("%05d", 10000+r.IntN(89999)) },
		natID:   func(r *rand.Rand) string { return fmt.Sprintf("D%08d", r.IntN(100000000)) }, // driver licence
		iban:    func(r *rand.Rand) string { return "US" + digits(r, 20) },
		bic:     "BOFAUS3N",
	},
	{
		code:    "GB",
		cities:  []string{"London", "Manchester", "Leeds", "Bristol"},
		streets: []string{"High Street", "Station Road", "King Street", "Church Lane"},
		phone:   func(r *rand.Rand) string { return fmt.Sprintf("+44-20-7946-%04d", r.IntN(10000)) },
		zip: func(r *rand.Rand) string {
			return fmt.Sprintf("%c%c%d %d%c%c", 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)), 1+r.IntN(9), r.IntN(10), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
		},
		natID: func(r *rand.Rand) string { // National Insurance number
			return fmt.Sprintf("%c%c%06d%c", 'A'+rune(r.IntN(20)), 'A'+rune(r.IntN(20)), r.IntN(1000000), 'A'+rune(r.IntN(4)))
		},
		iban: func(r *rand.Rand) string { return "GB" + digits(r, 2) + "NWBK" + digits(r, 14) },
		bic:  "NWBKGB2L",
	},
	{
		code:    "FR",
		cities:  []string{"Paris", "Lyon", "Marseille", "Toulouse"},
		streets: []string{"rue de la Paix", "boulevard Voltaire", "avenue Jean Jaurès", "rue Victor Hugo"},
		phone: func(r *rand.Rand) string {
			return fmt.Sprintf("+33-6-%02d-%02d-%02d-%02d", r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100))
		},
		zip:   func(r *rand.Rand) string { return fmt.Sprintf("%05d", 1000+r.IntN(94000)) },
		natID: func(r *rand.Rand) string { return fmt.Sprintf("%d%s", 1+r.IntN(2), digits(r, 14)) }, // INSEE number
		iban:  func(r *rand.Rand) string { return "FR76" + digits(r, 23) },
		bic:   "BNPAFRPP",
	},
	{
		code:    "DE",
		cities:  []string{"Berlin", "Hamburg", "München", "Köln"},
		streets: []string{"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße"},
		phone:   func(r *rand.Rand) string { return fmt.Sprintf("+49-30-%07d", r.IntN(10000000)) },
		zip:     func(r *rand.Rand) string { return fmt.Sprintf("%05d", 10000+r.IntN(89999)) },
		natID:   func(r *rand.Rand) string { return "L" + alnum(r, 8) }, // identity card number
		iban:    func(r *rand.Rand) string { return "DE" + digits(r, 20) },
		bic:     "COBADEFF",
	},
}

func digits(r *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte('0' + byte(r.IntN(10)))
	}
	return b.String()
}

func alnum(r *rand.Rand, n int) string {
	const set = "CFGHJKLMNPRTVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = set[r.IntN(len(set))]
	}
	return string(b)
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// newRand returns the deterministic source for one data set.
func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// person is the identity part shared by customers and employees.
type person struct {
	name, email, phone, nationalID, dob string
	addr                                Address
	c                                   *country
}

func genPerson(r *rand.Rand, n int) person {
	first, last := pick(r, firstNames), pick(r, lastNames)
	c := &countries[r.IntN(len(countries))]
	local := strings.ToLower(asciiFold(first) + "." + asciiFold(last))
	return person{
		name:       first + " " + last,
		email:      fmt.Sprintf("%s%d@%s", local, n, pick(r, emailDomains)),
		phone:      c.phone(r),
		nationalID: c.natID(r),
		dob:        genDate(r, 1950, 2003),
		addr: Address{
			Street:  fmt.Sprintf("%d %s", 1+r.IntN(250), pick(r, c.streets)),
			City:    pick(r, c.cities),
			Zip:     c.zip(r),
			Country: c.code,
		},
		c: c,
	}
}

// asciiFold keeps email local parts ASCII: letters outside a-z are dropped.
func asciiFold(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c)
		case c == 'ü':
			b.WriteString("ue")
		case c == 'á', c == 'à':
			b.WriteByte('a')
		}
	}
	return b.String()
}

// genSSN returns a US SSN from the ranges the SSA assigns: area 001-899
// except 666, group 01-99, serial 0001-9999.
func genSSN(r *rand.Rand) string {
	area := 1 + r.IntN(898)
	if area == 666 {
		area = 667
	}
	return fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999))
}

func genDate(r *rand.Rand, fromYear, toYear int) string {
	from := time.Date(fromYear, 1, 1, 0, 0, 0, 0, time.UTC)
	days := int(time.Date(toYear, 12, 31, 0, 0, 0, 0, time.UTC).Sub(from).Hours() / 24)
	return from.AddDate(0, 0, r.IntN(days+1)).Format(time.DateOnly)
}

func genTimestamp(r *rand.Rand, fromYear, toYear int) string {
	d := genDate(r, fromYear, toYear)
	return fmt.Sprintf("%sT%02d:%02d:%02dZ", d, 8+r.IntN(10), r.IntN(60), r.IntN(60))
}

func genNote(r *rand.Rand, templates []string, what string) string {
	return fmt.Sprintf(pick(r, templates), what, 10000+r.IntN(90000))
}

func customerID(n int) string { return fmt.Sprintf("c-%04d", n) }
func dealID(n int) string     { return fmt.Sprintf("d-%04d", n) }
func ticketID(n int) string   { return fmt.Sprintf("t-%04d", n) }
func employeeID(n int) string { return fmt.Sprintf("e-%04d", n) }

func genCustomers(r *rand.Rand, n int) []Customer {
	out := make([]Customer, 0, n)
	for i := 1; i <= n; i++ {
		p := genPerson(r, i)
		out = append(out, Customer{
			ID:          customerID(i),
			Name:        p.name,
			Email:       p.email,
			Phone:       p.phone,
			SSN:         genSSN(r),
			NationalID:  p.nationalID,
			Address:     p.addr,
			DateOfBirth: p.dob,
			CardLast4:   fmt.Sprintf("%04d", r.IntN(10000)),
			OwnerID:     SalesRepIDs[(i-1)%len(SalesRepIDs)],
			Notes:       genNote(r, noteTemplates, genDate(r, 2021, 2025)),
			CreatedAt:   genTimestamp(r, 2019, 2025),
		})
	}
	return out
}

func genDeals(r *rand.Rand, customers []Customer) []Deal {
	out := make([]Deal, 0, len(customers))
	for i := range customers {
		c := &customers[r.IntN(len(customers))]
		out = append(out, Deal{
			ID:         dealID(i + 1),
			CustomerID: c.ID,
			OwnerID:    c.OwnerID,
			Amount:     500 + 50*r.IntN(2000),
			Stage:      pick(r, dealStages),
			Notes:      genNote(r, noteTemplates, genDate(r, 2023, 2025)),
		})
	}
	return out
}

func genTickets(r *rand.Rand, customers []Customer) []Ticket {
	out := make([]Ticket, 0, len(customers))
	for i := range customers {
		c := &customers[r.IntN(len(customers))]
		subj := pick(r, subjects)
		out = append(out, Ticket{
			ID:         ticketID(i + 1),
			CustomerID: c.ID,
			Subject:    subj,
			Body:       fmt.Sprintf("Hello, %s. Order %d. Thanks.", strings.ToLower(subj[:1])+subj[1:], 100000+r.IntN(900000)),
			Status:     pick(r, ticketStatus),
			Assignee:   SupportAgentIDs[r.IntN(len(SupportAgentIDs))],
		})
	}
	return out
}

// genEmployees builds an org chart: e-0001 leads managers e-0002..e-K (K is
// about n/11, at least 7), each of whom manages about ten reports in their
// department; e-0007 is the HR manager.
func genEmployees(r *rand.Rand, n int) []Employee {
	k := max(7, n/11)
	k = min(k, n)
	out := make([]Employee, 0, n)
	for i := 1; i <= n; i++ {
		p := genPerson(r, i)
		e := Employee{
			ID:          employeeID(i),
			Name:        p.name,
			Email:       p.email[:strings.IndexByte(p.email, '@')] + "@corp.example.com",
			Phone:       p.phone,
			NationalID:  p.nationalID,
			DateOfBirth: p.dob,
			Address:     p.addr,
			// Salaries are never a multiple of 10000, so a generalized bucket
			// ("60000-70000") never contains the exact figure.
			Salary:      35000 + 250*(1+r.IntN(639)),
			BankAccount: BankAccount{IBAN: p.c.iban(r), BIC: p.c.bic},
			HiredAt:     genDate(r, 2010, 2025),
		}
		if e.Salary%10000 == 0 {
			e.Salary += 250
		}
		switch {
		case i == 1:
			e.Department, e.Title = "Executive", "Chief Executive Officer"
		case i <= k:
			e.ManagerID = employeeID(1)
			if e.ID == HRManagerID {
				e.Department, e.Title = "Human Resources", "HR Manager"
			} else {
				e.Department = departments[(i-2)%len(departments)]
				e.Title = e.Department + " Manager"
			}
		default:
			mgr := 2 + (i-k-1)%(k-1)
			e.ManagerID = employeeID(mgr)
			e.Department = out[mgr-1].Department
			e.Title = pick(r, titles[e.Department])
		}
		for y := max(2021, atoiYear(e.HiredAt)+1); y <= 2025; y++ {
			e.PerformanceReviews = append(e.PerformanceReviews, Review{
				Year:     y,
				Rating:   1 + r.IntN(5),
				Comments: genNote(r, reviewComments, pick(r, []string{"billing", "warehouse", "CRM", "payroll", "cloud"})),
			})
		}
		if e.PerformanceReviews == nil {
			e.PerformanceReviews = []Review{}
		}
		out = append(out, e)
	}
	return out
}

func atoiYear(date string) int {
	y := 0
	for i := 0; i < 4 && i < len(date); i++ {
		y = y*10 + int(date[i]-'0')
	}
	return y
}
