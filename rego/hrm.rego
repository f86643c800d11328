# METADATA
# title: HRM access policy
# description: |
#   Who may do what on the sample HRM (employees and their reviews) and
#   what each role sees of the responses. A subject holding several roles
#   gets the first role below that allows the request, in this order:
#   admin, hr_manager, analyst. Sales and support have no HRM access.
package veil.hrm

import data.veil.lib

# endpoints are the HRM resources this policy knows (lib.endpoint
# templates), with the JSONPath of their record ids.
endpoints := {
	"employees": "$.employees[*].id",
	"employees/{id}": "$.id",
	"employees/{id}/reviews": "$.employee_id",
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

# audit_path is the path template the audit logs ("/hrm/employees/{id}").
audit_path := concat("", [lib.route_root, "/", endpoint])

# decision is always defined for an HRM request.
decision := lib.deny(404, "unknown HRM resource") if {
	not known
} else := {
	"allow": true,
	"request_transforms": request_transforms,
	"response_transforms": view,
	"audit": {
		"record_ids": record_ids,
		"path": audit_path,
		"tags": {"purpose": purposes[role], "role": role},
	},
} if {
	is_string(role)
} else := lib.deny(403, "reviews are only served within the employee record") if {
	"hr_manager" in lib.roles
	endpoint == "employees/{id}/reviews"
} else := lib.deny(400, "employee writes may only carry the fields of an employee record") if {
	"hr_manager" in lib.roles
	hr_write
	not employee_body
} else := lib.deny(403, "only admins may change an employee's manager") if {
	"hr_manager" in lib.roles
	reassigns
} else := lib.deny(403, "HR managers may read and write employees") if {
	"hr_manager" in lib.roles
} else := lib.deny(403, "analysts have read-only access") if {
	"analyst" in lib.roles
} else := lib.deny(403, "no HRM role")

# --- who may do what ----------------------------------------------------------

# role is the first of the subject's roles, in the order admin,
# hr_manager, analyst, that permits the request; view is what it sees.
role := "admin" if {
	"admin" in lib.roles
	admin_may
} else := "hr_manager" if {
	"hr_manager" in lib.roles
	hr_may
} else := "analyst" if {
	"analyst" in lib.roles
	lib.is_read
}

purposes := {
	"admin": "administration",
	"hr_manager": "hr_management",
	"analyst": "analytics",
}

# view is what the role sees: a constant per role (views), except for HR
# managers, whose view depends on who is asking.
view := hr_view if {
	role == "hr_manager"
} else := views[role]

# --- encryption at rest ---------------------------------------------------------
#
# The HRM never stores a national id or an IBAN in the clear when it is
# written through Veil: every write (POST/PUT/PATCH, by any role) encrypts
# them on the request (randomised AES-256-GCM envelopes "enc_v<N>_...",
# key "pii"). Only the HR manager's views of their own reports decrypt them
# (below); the directory, the analyst and the masked single records hide
# them as before, and admin sees what is stored.
#
# Decrypting a response field is a decryption oracle for whoever can put an
# envelope there. Through Veil nobody can: the field is encrypted again on
# every write, so a replayed envelope comes back as that envelope, never as
# its plaintext. Writes by HR managers must also name every field exactly
# (employee_body): an upstream that matches names loosely (Go's
# encoding/json folds case: "National_ID" fills national_id) would
# otherwise store a value that bypassed the encryption.

request_transforms := at_rest if {
	input.request.method in {"POST", "PUT", "PATCH"}
} else := []

at_rest := [
	{"path": "$.national_id", "action": "encrypt", "key": "pii"},
	{"path": "$.bank_account.iban", "action": "encrypt", "key": "pii"},
]

# envelope matches (whole-string, I-Regexp) what encrypt produces; only
# such values are decrypted, so records stored before encryption was
# introduced keep their plaintext for the roles that may see it, and an
# envelope-shaped value that does not open is redacted and counted.
envelope := "enc_v[0-9]+_.+"

# employee_fields are the fields of an employee record, spelt exactly.
employee_fields := {
	"id", "name", "email", "phone", "national_id", "date_of_birth", "address", "department",
	"title", "manager_id", "salary", "bank_account", "performance_reviews", "hired_at",
}

# employee_body holds for a write body whose field names are all exact
# employee fields, with bank_account (when present) an object of iban and
# bic only.
employee_body if {
	is_object(input.request.body)
	every k, _ in input.request.body {
		k in employee_fields
	}
	bank_account_ok
}

bank_account_ok if not "bank_account" in object.keys(input.request.body)

bank_account_ok if {
	is_object(input.request.body.bank_account)
	every k, _ in input.request.body.bank_account {
		k in {"iban", "bic"}
	}
}

# hr_write holds for the writes an HR manager may make, whatever the body.
hr_write if {
	input.request.method == "POST"
	endpoint == "employees"
}

hr_write if {
	input.request.method in {"PUT", "PATCH"}
	endpoint == "employees/{id}"
}

# --- admin: everything in full, every method --------------------------------

views["admin"] := []

admin_may if lib.is_read

admin_may if lib.is_write

# --- hr_manager: own reports in full, others without protected fields -------
#
# "Is this my report?" is a property of each record (manager_id), so it is
# decided on the response with where conditions, and a where condition
# only sees the node it selects: it cannot make a record's salary depend
# on the same record's manager_id. Hence three views, none of which leaks:
# * reports list (GET /employees?manager_id=<own id>): records whose
#   manager_id is not the subject (or is missing) are removed in case the
#   upstream ignores the filter; the rest is shown in full;
# * directory (every other list): the protected fields are removed from
#   every record, reports included (use the reports list for them);
# * single records ($: GET, and the echo of POST/PUT/PATCH): a record of
#   someone who is not a report is masked entirely (every scalar leaf).
# The reviews endpoint carries no manager_id, so it is not served to HR
# managers: reviews come with the employee record instead.

hr_directory_view := [
	{"path": "$.employees[*].salary", "action": "redact"},
	{"path": "$.employees[*].bank_account", "action": "redact"},
	{"path": "$.employees[*].national_id", "action": "redact"},
	{"path": "$.employees[*].performance_reviews", "action": "redact"},
	{"path": "$.employees[*].date_of_birth", "action": "redact"},
	{"path": "$.employees[*].address", "action": "redact"},
]

# Reports (lists and single records) decrypt the envelopes written
# through Veil, so the round trip is invisible to the HR manager. In the
# reports list a non-report record is removed as a whole, which wins over
# any rule inside it. A single record's decrypt rules cannot depend on its
# manager_id, but the mask of a non-report's root wins over them on every
# leaf (mask is more protective than decrypt): a non-report's envelope is
# masked, never opened.
hr_reports_view := array.concat(
	lib.unless_owned("$.employees[*]", "manager_id", "redact"),
	[
		{"path": sprintf("$.employees[?match(@.national_id, '%s')].national_id", [envelope]), "action": "decrypt", "key": "pii"},
		{"path": sprintf("$.employees[?match(@.bank_account.iban, '%s')].bank_account.iban", [envelope]), "action": "decrypt", "key": "pii"},
	],
)

# A filter selects children of a node by value, not by name: in a single
# record, "the national_id member if it is an envelope" is "every member
# equal to national_id that is an envelope". Another member can only equal
# it by holding the same envelope, which opens to the same record's
# national id.
hr_record_view := array.concat(
	lib.unless_owned("$", "manager_id", "mask"),
	[
		{"path": sprintf("$[?@ == $.national_id && match(@, '%s')]", [envelope]), "action": "decrypt", "key": "pii"},
		{"path": sprintf("$.bank_account[?@ == $.bank_account.iban && match(@, '%s')]", [envelope]), "action": "decrypt", "key": "pii"},
	],
)

hr_may if {
	lib.is_read
	endpoint in {"employees", "employees/{id}"}
}

hr_may if {
	hr_write
	employee_body
	not reassigns
}

# reassigns holds for an update that sets manager_id. Reports are whose
# manager_id names the HR manager, and the request does not say who
# manages the record today: an HR manager who could set manager_id on an
# existing record could make anyone a report and read it in full
# (decrypted national id and IBAN included). Reassignment is for admins;
# a new hire (POST) may name its manager.
reassigns if {
	input.request.method in {"PUT", "PATCH"}
	"manager_id" in object.keys(input.request.body)
}

hr_view := hr_reports_view if {
	lib.is_read
	endpoint == "employees"
	lib.query_is("manager_id", input.subject.id)
} else := hr_directory_view if {
	lib.is_read
	endpoint == "employees"
} else := hr_record_view

# --- analyst: read only, pseudonymous and generalised ------------------------
#
# Emails are tokenized like in the CRM (same key, so the same address gets
# the same token in both): a join key, never an address. National ids and
# bank accounts stay redacted, envelopes included.

views["analyst"] := [
	{"path": "$..id", "action": "hash", "key": "pii"},
	{"path": "$..employee_id", "action": "hash", "key": "pii"},
	{"path": "$..manager_id", "action": "hash", "key": "pii"},
	{"path": "$..email", "action": "tokenize", "key": "pii"},
	{"path": "$..name", "action": "redact"},
	{"path": "$..phone", "action": "fpe", "key": "pii", "alphabet": "digits"},
	{"path": "$..national_id", "action": "redact"},
	{"path": "$..address.street", "action": "redact"},
	{"path": "$..bank_account", "action": "redact"},
	{"path": "$..comments", "action": "redact"},
	{"path": "$..date_of_birth", "action": "generalize", "date": "year"},
	{"path": "$..salary", "action": "generalize", "bucket": 10000},
	{"path": "$..address.zip", "action": "generalize", "keep_first": 2},
]
