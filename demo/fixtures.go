package demo

import (
	"slices"
	"strconv"
)

// SensitiveFixtureValues returns, sorted and without duplicates, every
// protected value currently stored in crm and hrm (either may be nil):
// customer SSNs, national ids, emails, phone numbers, card_last4 values and
// notes; deal notes; employee national ids, emails, phone numbers, salaries
// (as decimal strings), IBANs and review comments. The gateway's end-to-end
// tests scan responses and audit logs for them. Short values (card_last4
// has four digits) can occur by chance inside longer unrelated ones, so
// scan with the subset a role must not see.
func SensitiveFixtureValues(crm *CRM, hrm *HRM) []string {
	var out []string
	if crm != nil {
		for _, c := range crm.Customers() {
			out = append(out, c.SSN, c.NationalID, c.Email, c.Phone, c.CardLast4, c.Notes)
		}
		for _, d := range crm.Deals() {
			out = append(out, d.Notes)
		}
	}
	if hrm != nil {
		for _, e := range hrm.Employees() {
			out = append(out, e.NationalID, e.Email, e.Phone, strconv.Itoa(e.Salary), e.BankAccount.IBAN)
			for _, r := range e.PerformanceReviews {
				out = append(out, r.Comments)
			}
		}
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}
