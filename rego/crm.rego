# METADATA
# title: CRM access policy
# description: |
#   Who may do what on the sample CRM (customers, deals, tickets) and what
#   each role sees of the responses. A subject holding several roles gets
#   the first role below that allows the request, in this order:
#   admin, sales, support, analyst.
package veil.crm

import data.veil.lib

# endpoints are the CRM resources this policy knows, as lib.endpoint
# templates joined with "/", with the JSONPath of their record ids.
endpoints := {
	"customers": "$.customers[*].id",
	"customers/{id}": "$.id",
	"deals": "$.deals[*].id",
	"deals/{id}": "$.id",
	"tickets": "$.tickets[*].id",
	"tickets/{id}": "$.id",
}

endpoint := concat("/", lib.endpoint)

# known holds for the endpoints above. (A separate rule: "not
# endpoints[endpoint]" would be undefined, not true, when endpoint is.)
known if endpoints[endpoint]

audit(purpose, role) := lib.audit(lib.endpoint, endpoints[endpoint], purpose, role)

# decision is always defined for a CRM request.
decision := lib.deny(404, "unknown CRM resource") if {
	not known
} else := admin if {
	lib.has_role("admin")
} else := sales if {
	lib.has_role("sales")
} else := support if {
	lib.has_role("support")
} else := analyst if {
	lib.has_role("analyst")
} else := lib.deny(403, "sales may read the CRM and create customers they own") if {
	lib.has_role("sales")
} else := lib.deny(403, "support may read the CRM and open tickets") if {
	lib.has_role("support")
} else := lib.deny(403, "analysts have read-only access") if {
	lib.has_role("analyst")
} else := lib.deny(403, "no CRM role")

# --- admin: everything in full, every method --------------------------------

admin := lib.allow([], audit("administration", "admin")) if {
	lib.is_read
} else := lib.allow([], audit("administration", "admin")) if {
	lib.is_write
}

# --- sales: own accounts in full, nothing of other reps' accounts -----------
#
# Ownership lives in the upstream's records, not in the request, so it is
# enforced on the response with where conditions on owner_id:
# * lists: records of other owners (or without an owner) are removed;
# * single records ($): the policy cannot refuse a record it has not seen
#   and cannot remove the document root, so every value of a record the
#   subject does not own is masked (mask applies to every scalar leaf of
#   the selected node). The client gets a same-shaped document of "*"s;
#   only value lengths remain. Nothing of another rep's account leaks.
# Updates and deletes are refused: the request does not say who owns the
# record, and a write cannot be undone by masking its response.

sales_list_view(path) := lib.unless_owned(path, "owner_id", "redact")

sales_record_view := lib.unless_owned("$", "owner_id", "mask")

sales := lib.allow(sales_list_view("$.customers[*]"), audit("sales", "sales")) if {
	lib.is_read
	endpoint == "customers"
} else := lib.allow(sales_list_view("$.deals[*]"), audit("sales", "sales")) if {
	lib.is_read
	endpoint == "deals"
} else := lib.allow(sales_record_view, audit("sales", "sales")) if {
	lib.is_read
	endpoint in {"customers/{id}", "deals/{id}"}
} else := lib.allow(sales_record_view, audit("sales", "sales")) if {
	# New customers are created for oneself only.
	input.request.method == "POST"
	endpoint == "customers"
	input.request.body.owner_id == input.subject.id
}

# --- support: the whole CRM with contact data masked; may open tickets ------

support_view := [
	{"path": "$..email", "action": "mask", "format": "email"},
	{"path": "$..phone", "action": "mask", "keep_last": 2},
	{"path": "$..ssn", "action": "mask", "keep_last": 4, "ignore": "-"},
	{"path": "$..national_id", "action": "mask", "keep_last": 4},
	{"path": "$..date_of_birth", "action": "redact"},
	{"path": "$..notes", "action": "redact"},
]

support := lib.allow(support_view, audit("customer_support", "support")) if {
	lib.is_read
} else := lib.allow(support_view, audit("customer_support", "support")) if {
	input.request.method == "POST"
	endpoint == "tickets"
}

# --- analyst: read only, pseudonymous and generalised ------------------------

analyst_view := [
	{"path": "$..id", "action": "hash", "key": "pii"},
	{"path": "$..customer_id", "action": "hash", "key": "pii"},
	{"path": "$..owner_id", "action": "hash", "key": "pii"},
	{"path": "$..assignee", "action": "hash", "key": "pii"},
	{"path": "$..name", "action": "redact"},
	{"path": "$..email", "action": "redact"},
	{"path": "$..phone", "action": "redact"},
	{"path": "$..ssn", "action": "redact"},
	{"path": "$..national_id", "action": "redact"},
	{"path": "$..card_last4", "action": "redact"},
	{"path": "$..address.street", "action": "redact"},
	{"path": "$..notes", "action": "redact"},
	{"path": "$..subject", "action": "redact"},
	{"path": "$..body", "action": "redact"},
	{"path": "$..date_of_birth", "action": "generalize", "date": "year"},
	{"path": "$..address.zip", "action": "generalize", "keep_first": 2},
]

analyst := lib.allow(analyst_view, audit("analytics", "analyst")) if {
	lib.is_read
}
