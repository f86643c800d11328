# METADATA
# title: HRM access policy
# description: |
#   Who may do what on the sample HRM (employees and their reviews) and
#   what each role sees of the responses. A subject holding several roles
#   gets the first role below that allows the request, in this order:
#   admin, hr_manager, analyst. Sales and support have no HRM access.
package veil.hrm

import data.veil.lib

# endpoints are the HRM resources this policy knows, as lib.endpoint
# templates joined with "/", with the JSONPath of their record ids.
endpoints := {
	"employees": "$.employees[*].id",
	"employees/{id}": "$.id",
	"employees/{id}/reviews": "$.employee_id",
}

endpoint := concat("/", lib.endpoint)

# known holds for the endpoints above. (A separate rule: "not
# endpoints[endpoint]" would be undefined, not true, when endpoint is.)
known if endpoints[endpoint]

audit(purpose, role) := lib.audit(lib.endpoint, endpoints[endpoint], purpose, role)

# decision is always defined for an HRM request.
decision := lib.deny(404, "unknown HRM resource") if {
	not known
} else := admin if {
	lib.has_role("admin")
} else := hr_manager if {
	lib.has_role("hr_manager")
} else := analyst if {
	lib.has_role("analyst")
} else := lib.deny(403, "reviews are only served within the employee record") if {
	lib.has_role("hr_manager")
	endpoint == "employees/{id}/reviews"
} else := lib.deny(403, "HR managers may read and write employees") if {
	lib.has_role("hr_manager")
} else := lib.deny(403, "analysts have read-only access") if {
	lib.has_role("analyst")
} else := lib.deny(403, "no HRM role")

# --- admin: everything in full, every method --------------------------------

admin := lib.allow([], audit("administration", "admin")) if {
	lib.is_read
} else := lib.allow([], audit("administration", "admin")) if {
	lib.is_write
}

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

hr_protected := ["salary", "bank_account", "national_id", "performance_reviews", "date_of_birth", "address"]

hr_directory_view := [{"path": sprintf("$.employees[*].%s", [f]), "action": "redact"} | some f in hr_protected]

hr_reports_view := lib.unless_owned("$.employees[*]", "manager_id", "redact")

hr_record_view := lib.unless_owned("$", "manager_id", "mask")

hr_manager := lib.allow(hr_reports_view, audit("hr_management", "hr_manager")) if {
	lib.is_read
	endpoint == "employees"
	lib.query_is("manager_id", input.subject.id)
} else := lib.allow(hr_directory_view, audit("hr_management", "hr_manager")) if {
	lib.is_read
	endpoint == "employees"
} else := lib.allow(hr_record_view, audit("hr_management", "hr_manager")) if {
	lib.is_read
	endpoint == "employees/{id}"
} else := lib.allow(hr_record_view, audit("hr_management", "hr_manager")) if {
	input.request.method == "POST"
	endpoint == "employees"
} else := lib.allow(hr_record_view, audit("hr_management", "hr_manager")) if {
	input.request.method in {"PUT", "PATCH"}
	endpoint == "employees/{id}"
}

# --- analyst: read only, pseudonymous and generalised ------------------------

analyst_view := [
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

analyst := lib.allow(analyst_view, audit("analytics", "analyst")) if {
	lib.is_read
}
