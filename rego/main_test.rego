package veil_test

import data.veil

inp(route, method, segments, body_state, subject) := {
	"request": {
		"method": method,
		"path": concat("/", array.concat([""], segments)),
		"segments": segments,
		"query": {},
		"headers": {"content-type": "application/json"},
		"body_state": body_state,
		"client_ip": "10.0.0.7",
		"id": "req-1",
	},
	"route": {"name": route, "prefix": concat("", ["/", route, "/"])},
	"subject": subject,
	"time_ns": 0,
}

anonymous := {"authenticated": false, "id": "", "roles": [], "claims": {}}

admin := {"authenticated": true, "id": "u-01", "roles": ["admin"], "claims": {}}

test_decision_defined_for_empty_input if {
	veil.decision == {"allow": false, "status": 401, "reason": "authentication required"} with input as {}
}

test_anonymous_gets_401_on_every_route if {
	every route in ["crm", "hrm", "billing"] {
		every m in ["GET", "POST", "DELETE"] {
			d := veil.decision with input as inp(route, m, [route, "customers"], "absent", anonymous)
			d == {"allow": false, "status": 401, "reason": "authentication required"}
		}
	}
}

test_unknown_route_denied if {
	d := veil.decision with input as inp("billing", "GET", ["billing", "invoices"], "absent", admin)
	d == {"allow": false, "status": 403, "reason": "no policy covers this route"}
}

test_unknown_method_denied if {
	every m in ["OPTIONS", "TRACE", "CONNECT", "PROPFIND"] {
		d := veil.decision with input as inp("crm", m, ["crm", "customers"], "absent", admin)
		d == {"allow": false, "status": 405, "reason": "method not allowed"}
	}
}

test_writes_need_parsed_body_even_for_admin if {
	every state in ["absent", "not_json", "too_large", "invalid"] {
		every m in ["POST", "PUT", "PATCH"] {
			d := veil.decision with input as inp("crm", m, ["crm", "customers", "c-0001"], state, admin)
			d.allow == false
			d.reason == "write requests need a JSON body"
		}
	}
}

test_body_refusal_statuses if {
	veil.decision.status == 413 with input as inp("hrm", "POST", ["hrm", "employees"], "too_large", admin)
	veil.decision.status == 415 with input as inp("hrm", "POST", ["hrm", "employees"], "not_json", admin)
	veil.decision.status == 400 with input as inp("hrm", "POST", ["hrm", "employees"], "invalid", admin)
	veil.decision.status == 400 with input as inp("hrm", "PUT", ["hrm", "employees", "e-0001"], "absent", admin)
}

test_delete_without_body_allowed_for_admin if {
	d := veil.decision with input as inp("crm", "DELETE", ["crm", "customers", "c-0001"], "absent", admin)
	d.allow == true
	d.audit.path == "/crm/customers/{id}"
}

test_delete_with_unreadable_body_denied if {
	d := veil.decision with input as inp("crm", "DELETE", ["crm", "customers", "c-0001"], "not_json", admin)
	d.allow == false
	d.status == 415
}

test_reads_ignore_body_state if {
	d := veil.decision with input as inp("crm", "GET", ["crm", "customers"], "not_json", admin)
	d.allow == true
}

test_routes_dispatch_by_name if {
	veil.decision.audit.path == "/crm/customers" with input as inp("crm", "GET", ["crm", "customers"], "absent", admin)
	veil.decision.audit.path == "/hrm/employees" with input as inp("hrm", "GET", ["hrm", "employees"], "absent", admin)

	# The CRM policy does not know HRM resources and vice versa.
	veil.decision.status == 404 with input as inp("crm", "GET", ["crm", "employees"], "absent", admin)
	veil.decision.status == 404 with input as inp("hrm", "GET", ["hrm", "customers"], "absent", admin)
}

test_path_outside_route_prefix_denied if {
	i := object.union(inp("crm", "GET", ["hrm", "employees"], "absent", admin), {"route": {"prefix": "/crm/"}})
	d := veil.decision with input as i
	d.allow == false
	d.status == 404
}

test_denials_have_4xx_status_and_reason if {
	every s in [anonymous, admin, {"authenticated": true, "id": "u-9", "roles": ["intern"], "claims": {}}] {
		every m in ["GET", "POST", "OPTIONS"] {
			d := veil.decision with input as inp("crm", m, ["crm", "nothing", "here", "at", "all"], "absent", s)
			d.allow == false
			d.status >= 400
			d.status < 500
			is_string(d.reason)
		}
	}
}
