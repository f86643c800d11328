package veil.lib_test

import data.veil.lib

req(method, segments, body_state) := {
	"request": {"method": method, "segments": segments, "query": {}, "headers": {}, "body_state": body_state},
	"route": {"name": "crm", "prefix": "/crm/"},
	"subject": {"authenticated": true, "id": "u-03", "roles": ["support", "analyst"], "claims": {}},
}

test_authenticated if {
	lib.authenticated with input as req("GET", ["crm"], "absent")
}

test_anonymous_not_authenticated if {
	not lib.authenticated with input as {"subject": {"authenticated": false, "id": "", "roles": []}}
}

test_authenticated_needs_id if {
	not lib.authenticated with input as {"subject": {"authenticated": true, "id": "", "roles": ["admin"]}}
}

test_has_role if {
	lib.has_role("analyst") with input as req("GET", ["crm"], "absent")
	not lib.has_role("admin") with input as req("GET", ["crm"], "absent")
}

test_has_role_needs_authentication if {
	not lib.has_role("admin") with input as {"subject": {"authenticated": false, "id": "x", "roles": ["admin"]}}
}

test_has_role_without_roles if {
	not lib.has_role("admin") with input as {"subject": {"authenticated": true, "id": "x", "roles": null}}
}

test_methods if {
	every m in ["GET", "HEAD"] {
		lib.is_read with input as req(m, [], "absent")
		not lib.is_write with input as req(m, [], "absent")
	}
	every m in ["POST", "PUT", "PATCH", "DELETE"] {
		lib.is_write with input as req(m, [], "parsed")
		not lib.is_read with input as req(m, [], "parsed")
	}
	not lib.is_read with input as req("OPTIONS", [], "absent")
	not lib.is_write with input as req("OPTIONS", [], "absent")
}

test_write_body_guard if {
	every state in ["absent", "not_json", "too_large", "invalid", "surprise"] {
		every m in ["POST", "PUT", "PATCH"] {
			lib.write_body_refused with input as req(m, [], state)
		}
	}
	every m in ["POST", "PUT", "PATCH", "DELETE"] {
		not lib.write_body_refused with input as req(m, [], "parsed")
	}
	not lib.write_body_refused with input as req("DELETE", [], "absent")
	lib.write_body_refused with input as req("DELETE", [], "not_json")
	not lib.write_body_refused with input as req("GET", [], "not_json")
}

test_body_refusal_status if {
	lib.body_refusal == {"allow": false, "status": 413, "reason": "write requests need a JSON body"} with input as req("POST", [], "too_large")
	lib.body_refusal.status == 415 with input as req("POST", [], "not_json")
	lib.body_refusal.status == 400 with input as req("POST", [], "invalid")
	lib.body_refusal.status == 400 with input as req("POST", [], "something new")
}

test_resource_strips_prefix if {
	lib.resource == ["customers", "c-0001"] with input as req("GET", ["crm", "customers", "c-0001"], "absent")
	lib.endpoint == "customers/{id}" with input as req("GET", ["crm", "customers", "c-0001"], "absent")
	lib.endpoint == "customers" with input as req("GET", ["crm", "customers"], "absent")
}

test_resource_undefined_outside_prefix if {
	not lib.resource with input as req("GET", ["hrm", "employees"], "absent")
	not lib.endpoint with input as req("GET", ["hrm", "employees"], "absent")
}

test_resource_with_root_prefix if {
	inp := object.union(req("GET", ["customers"], "absent"), {"route": {"prefix": "/"}})
	lib.resource == ["customers"] with input as inp
	lib.route_root == "" with input as inp
}

test_resource_with_deep_prefix if {
	inp := object.union(req("GET", ["api", "crm", "deals", "d-1"], "absent"), {"route": {"prefix": "/api/crm/"}})
	lib.endpoint == "deals/{id}" with input as inp
}

test_query_is if {
	inp := object.union(req("GET", [], "absent"), {"request": {"query": {"manager_id": ["e-0007"], "dup": ["a", "a"]}}})
	lib.query_is("manager_id", "e-0007") with input as inp
	not lib.query_is("manager_id", "e-0008") with input as inp
	not lib.query_is("dup", "a") with input as inp
	not lib.query_is("missing", "a") with input as inp
}

test_route_root if {
	lib.route_root == "/crm" with input as req("GET", ["crm", "customers", "c-1"], "absent")
}

test_deny_shape if {
	lib.deny(403, "no") == {"allow": false, "status": 403, "reason": "no"}
}

test_unless_owned_uses_where_values if {
	rules := lib.unless_owned("$.customers[*]", "owner_id", "redact") with input as {"subject": {"id": "it's \"quoted\""}}
	rules == [
		{"path": "$.customers[*]", "where": {"field": "owner_id", "op": "!=", "value": "it's \"quoted\""}, "action": "redact"},
		{"path": "$.customers[*]", "where": {"field": "owner_id", "op": "not_exists"}, "action": "redact"},
	]
}
