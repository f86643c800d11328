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
	"request_transforms": [],
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

hr_reports_view := lib.unless_owned("$.employees[*]", "manager_id", "redact")

hr_record_view := lib.unless_owned("$", "manager_id", "mask")

hr_may if {
	lib.is_read
	endpoint in {"employees", "employees/{id}"}
}

hr_may if {
	input.request.method == "POST"
	endpoint == "employees"
}

hr_may if {
	input.request.method in {"PUT", "PATCH"}
	endpoint == "employees/{id}"
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

views["analyst"] := [
	{"path": "$..id", "action": "hash", "key": "pii"},
	{"path": "$..employee_id", "action": "hash", "key": "pii"},
	{"path": "$..manager_id", "action": "hash", "key": "pii"},
	{"path": "$..name", "action": "redact"},
	{"path": "$..email", "action": "redact"},
	{"path": "$..phone", "action": "redact"},
	{"path": "$..national_id", "action": "redact"},
	{"path": "$..address.street", "action": "redact"},
	{"path": "$..bank_account", "action": "redact"},
	{"path": "$..comments", "action": "redact"},
	{"path": "$..date_of_birth", "action": "generalize", "date": "year"},
	{"path": "$..salary", "action": "generalize", "bucket": 10000},
	{"path": "$..address.zip", "action": "generalize", "keep_first": 2},
]
