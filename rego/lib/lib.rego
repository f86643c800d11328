# METADATA
# title: Veil policy library
# description: |
#   Helpers shared by the shipped policies: who is calling, what the
#   request does, where it goes, and how decisions are shaped. Nothing here
#   allows anything on its own; the per-API packages (veil.crm, veil.hrm)
#   decide and veil (main.rego) picks the API.
package veil.lib

# --- subject ----------------------------------------------------------------

# authenticated holds for a verified subject with a non-empty id. The
# gateway has already rejected invalid credentials with 401; an absent
# credential arrives here as the anonymous subject.
authenticated if {
	input.subject.authenticated == true
	is_string(input.subject.id)
	input.subject.id != ""
}

# roles is the set of roles of the verified subject (empty for anyone
# else), built once per decision: role checks are set lookups.
roles contains r if {
	authenticated
	some r in input.subject.roles
}

# has_role(role) holds when the verified subject carries role.
has_role(role) if role in roles

# --- method -----------------------------------------------------------------

read_methods := {"GET", "HEAD"}

write_methods := {"POST", "PUT", "PATCH", "DELETE"}

# is_read holds for methods that must not change upstream state.
is_read if input.request.method in read_methods

# is_write holds for methods that change upstream state.
is_write if input.request.method in write_methods

# --- body-state guard -------------------------------------------------------

# A write is only as safe as the policy's view of its body: writes are
# refused unless the gateway parsed the body as JSON (body_state "parsed"),
# except a DELETE without any body.
body_visible if input.request.body_state == "parsed"

body_visible if {
	input.request.method == "DELETE"
	input.request.body_state == "absent"
}

# write_body_refused holds for a write whose body the policy cannot read.
write_body_refused if {
	is_write
	not body_visible
}

# body_status maps each unreadable body state to the status the client
# gets; an unknown state gets 400.
body_status := {
	"absent": 400,
	"not_json": 415,
	"too_large": 413,
	"invalid": 400,
}

# body_refusal is the decision for write_body_refused.
body_refusal := deny(
	object.get(body_status, input.request.body_state, 400),
	"write requests need a JSON body",
)

# --- resource ---------------------------------------------------------------

# prefix_segments are the segments of the route prefix ("/crm/" ->
# ["crm"]).
prefix_segments := [] if {
	prefix == ""
} else := split(prefix, "/")

prefix := trim(object.get(input.route, "prefix", ""), "/")

# resource is the path below the route prefix, as segments
# (/crm/customers/c-0001 -> ["customers", "c-0001"]). Undefined when the
# path does not start with the prefix, so nothing matches and the request
# is denied.
resource := array.slice(input.request.segments, n, count(input.request.segments)) if {
	n := count(prefix_segments)
	array.slice(input.request.segments, 0, n) == prefix_segments
}

# query_is(name, value) holds when the query has exactly one parameter name
# and its value is value (repeated parameters never match).
query_is(name, value) if input.request.query[name] == [value]

# --- decisions --------------------------------------------------------------

# deny(status, reason) is a refusal with a 4xx status and a fixed reason
# (never a value from the request).
deny(status, reason) := {"allow": false, "status": status, "reason": reason}

# route_root is the route prefix without its trailing slash ("/crm").
route_root := concat("", ["/", prefix]) if prefix != ""

route_root := "" if prefix == ""

# endpoint names the resource as a template: ids become "{id}"
# ("customers", "customers/{id}", "employees/{id}/reviews").
endpoint := resource[0] if {
	count(resource) == 1
} else := concat("", [resource[0], "/{id}"]) if {
	count(resource) == 2
} else := concat("", [resource[0], "/{id}/", resource[2]]) if {
	count(resource) == 3
}

# --- rule builders ----------------------------------------------------------

# unless_owned(path, field, action) applies action to every node at path
# whose field is not the subject id, or is missing. The subject id travels
# as a where value, never inside a JSONPath string.
unless_owned(path, field, action) := [
	{"path": path, "where": {"field": field, "op": "!=", "value": input.subject.id}, "action": action},
	{"path": path, "where": {"field": field, "op": "not_exists"}, "action": action},
]
