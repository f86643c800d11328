# METADATA
# title: CRM access policy
# description: |
#   Who may do what on the sample CRM (customers, deals, tickets) and what
#   each role sees of the responses. A subject holding several roles gets
#   the first role below that allows the request, in this order:
#   admin, sales, support, analyst.
package veil.crm

import data.veil.lib

# endpoints are the CRM resources this policy knows (lib.endpoint
# templates), with the JSONPath of their record ids.
endpoints := {
	"customers": "$.customers[*].id",
	"customers/{id}": "$.id",
	"deals": "$.deals[*].id",
	"deals/{id}": "$.id",
	"tickets": "$.tickets[*].id",
	"tickets/{id}": "$.id",
}

endpoint := lib.endpoint

# known holds for the endpoints above. (A separate rule: "not
# endpoints[endpoint]" would be undefined, not true, when endpoint is.)
known if endpoints[endpoint]

# record_ids is where the response holds the records it discloses: a POST
# to a collection answers with the created record itself.
record_ids := "$.id" if {
	input.request.method == "POST"
	count(lib.resource) == 1
} else := endpoints[endpoint]

# audit_path is the path template the audit logs ("/crm/customers/{id}").
audit_path := concat("", [lib.route_root, "/", endpoint])

# decision is always defined for a CRM request.
decision := lib.deny(404, "unknown CRM resource") if {
	not known
} else := {
	"allow": true,
	"request_transforms": [],
	"response_transforms": view,
	"audit": {
		"record_ids": record_ids,
		"path": audit_path,
		"tags": {"purpose": purposes[role], "role": role},
	},
} if {
	is_string(role)
} else := lib.deny(403, "sales may read customers and deals and create customers they own") if {
	"sales" in lib.roles
} else := lib.deny(403, "support may read the CRM and open tickets") if {
	"support" in lib.roles
} else := lib.deny(403, "analysts have read-only access") if {
	"analyst" in lib.roles
} else := lib.deny(403, "no CRM role")

# --- who may do what ----------------------------------------------------------

# role is the first of the subject's roles, in the order admin, sales,
# support, analyst, that permits the request; view is what it sees.
role := "admin" if {
	"admin" in lib.roles
	admin_may
} else := "sales" if {
	"sales" in lib.roles
	sales_may
} else := "support" if {
	"support" in lib.roles
	support_may
} else := "analyst" if {
	"analyst" in lib.roles
	lib.is_read
}

purposes := {
	"admin": "administration",
	"sales": "sales",
	"support": "customer_support",
	"analyst": "analytics",
}

# view is what the role sees: a constant per role (views), except for
# sales, whose view depends on who is asking.
view := sales_view if {
	role == "sales"
} else := views[role]

# --- admin: everything in full, every method --------------------------------

views["admin"] := []

admin_may if lib.is_read

admin_may if lib.is_write

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

sales_may if {
	lib.is_read
	endpoint in {"customers", "customers/{id}", "deals", "deals/{id}"}
}

sales_may if {
	# New customers are created for oneself only.
	input.request.method == "POST"
	endpoint == "customers"
	input.request.body.owner_id == input.subject.id
}

sales_view := lib.unless_owned("$.customers[*]", "owner_id", "redact") if {
	lib.is_read
	endpoint == "customers"
} else := lib.unless_owned("$.deals[*]", "owner_id", "redact") if {
	lib.is_read
	endpoint == "deals"
} else := lib.unless_owned("$", "owner_id", "mask")

# --- support: the whole CRM with contact data masked; may open tickets ------
#
# national_id stays masked to its last 4 characters rather than fpe-encrypted
# (alphabet alphanumeric): fpe would hide those 4 characters but replace them
# with a deterministic, same-format value that links every record holding the
# same id and opens for anyone holding the "pii" key, and support agents need
# the last characters to verify a caller, which an fpe value cannot do. The
# mask discloses less that matters, so it stays.

views["support"] := [
	{"path": "$..email", "action": "mask", "format": "email"},
	{"path": "$..phone", "action": "mask", "keep_last": 2},
	{"path": "$..ssn", "action": "mask", "keep_last": 4, "ignore": "-"},
	{"path": "$..national_id", "action": "mask", "keep_last": 4},
	{"path": "$..date_of_birth", "action": "redact"},
	{"path": "$..notes", "action": "redact"},
]

support_may if lib.is_read

support_may if {
	input.request.method == "POST"
	endpoint == "tickets"
}

# --- analyst: read only, pseudonymous and generalised ------------------------
#
# Emails are tokenized (deterministic, key "pii"), not redacted: the same
# address gets the same token in the CRM and the HRM, so analysts can join
# datasets on it without ever seeing an address. Tokens are reversible only
# by a detokenize rule, which no shipped policy gives an analyst.
#
# Phone numbers are format-preserving encrypted (FF1, key "pii"): same
# length, separators and "+" in place, so data-quality checks on the shape
# still work, while the digits are a stable pseudonym no analyst can
# reverse (fpe_decrypt is in no shipped view).

views["analyst"] := [
	{"path": "$..id", "action": "hash", "key": "pii"},
	{"path": "$..customer_id", "action": "hash", "key": "pii"},
	{"path": "$..owner_id", "action": "hash", "key": "pii"},
	{"path": "$..assignee", "action": "hash", "key": "pii"},
	{"path": "$..email", "action": "tokenize", "key": "pii"},
	{"path": "$..name", "action": "redact"},
	{"path": "$..phone", "action": "fpe", "key": "pii", "alphabet": "digits"},
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
