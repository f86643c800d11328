package veil.crm_test

import data.veil

subject(id, roles) := {"authenticated": true, "id": id, "roles": roles, "claims": {}}

support := subject("u-03", ["support"])

sales := subject("u-17", ["sales"])

analyst := subject("u-42", ["analyst"])

admin := subject("u-01", ["admin"])

hr := subject("e-0007", ["hr_manager"])

req(method, segments, sub) := {
	"request": {
		"method": method,
		"path": concat("/", array.concat(["", "crm"], segments)),
		"segments": array.concat(["crm"], segments),
		"query": {},
		"headers": {},
		"body_state": "absent",
	},
	"route": {"name": "crm", "prefix": "/crm/"},
	"subject": sub,
	"time_ns": 0,
}

write(method, segments, sub, body) := object.union(req(method, segments, sub), {"request": {"body_state": "parsed", "body": body}})

decide(i) := d if {
	d := veil.decision with input as i
}

has_rule(d, rule) if rule in d.response_transforms

# --- every role: reads of every CRM resource carry full audit fields --------

reads := [
	[["customers"], "$.customers[*].id", "/crm/customers"],
	[["customers", "c-0001"], "$.id", "/crm/customers/{id}"],
	[["deals"], "$.deals[*].id", "/crm/deals"],
	[["deals", "d-0001"], "$.id", "/crm/deals/{id}"],
	[["tickets"], "$.tickets[*].id", "/crm/tickets"],
	[["tickets", "t-0001"], "$.id", "/crm/tickets/{id}"],
]

test_admin_reads_everything_in_full if {
	every r in reads {
		d := decide(req("GET", r[0], admin))
		d.allow == true
		d.response_transforms == []
		d.request_transforms == []
		d.audit == {"record_ids": r[1], "path": r[2], "tags": {"purpose": "administration", "role": "admin"}}
	}
}

test_admin_writes if {
	decide(write("POST", ["customers"], admin, {"name": "N"})).allow == true
	decide(write("PUT", ["customers", "c-0001"], admin, {"name": "N"})).allow == true
	decide(write("PATCH", ["customers", "c-0001"], admin, {"name": "N"})).allow == true
	decide(req("DELETE", ["customers", "c-0001"], admin)).allow == true
	decide(write("POST", ["tickets"], admin, {"subject": "s"})).allow == true
}

test_support_reads_with_audit if {
	every r in reads {
		d := decide(req("GET", r[0], support))
		d.allow == true
		d.audit == {"record_ids": r[1], "path": r[2], "tags": {"purpose": "customer_support", "role": "support"}}
	}
}

test_analyst_reads_with_audit if {
	every r in reads {
		d := decide(req("HEAD", r[0], analyst))
		d.allow == true
		d.audit == {"record_ids": r[1], "path": r[2], "tags": {"purpose": "analytics", "role": "analyst"}}
	}
}

test_unknown_resource_404 if {
	every sub in [admin, support, sales, analyst] {
		decide(req("GET", ["invoices"], sub)) == {"allow": false, "status": 404, "reason": "unknown CRM resource"}
		decide(req("GET", ["customers", "c-0001", "secrets"], sub)).status == 404
	}
}

# --- support -----------------------------------------------------------------

test_support_masks_contact_data if {
	d := decide(req("GET", ["customers", "c-0001"], support))
	has_rule(d, {"path": "$..email", "action": "mask", "format": "email"})
	has_rule(d, {"path": "$..phone", "action": "mask", "keep_last": 2})
	has_rule(d, {"path": "$..ssn", "action": "mask", "keep_last": 4, "ignore": "-"})
	has_rule(d, {"path": "$..national_id", "action": "mask", "keep_last": 4})
	has_rule(d, {"path": "$..date_of_birth", "action": "redact"})
	has_rule(d, {"path": "$..notes", "action": "redact"})
}

test_support_keeps_card_last4 if {
	d := decide(req("GET", ["customers"], support))
	every r in d.response_transforms {
		not contains(r.path, "card_last4")
	}
}

test_support_opens_tickets if {
	d := decide(write("POST", ["tickets"], support, {"customer_id": "c-0001", "subject": "s", "body": "b"}))
	d.allow == true
	d.audit == {"record_ids": "$.id", "path": "/crm/tickets", "tags": {"purpose": "customer_support", "role": "support"}}
	has_rule(d, {"path": "$..notes", "action": "redact"})
}

test_support_cannot_change_customers if {
	every m in ["PUT", "PATCH"] {
		d := decide(write(m, ["customers", "c-0001"], support, {"name": "x"}))
		d == {"allow": false, "status": 403, "reason": "support may read the CRM and open tickets"}
	}
	decide(write("POST", ["customers"], support, {"name": "x"})).allow == false
	decide(req("DELETE", ["customers", "c-0001"], support)).allow == false
}

test_support_ticket_write_needs_parsed_body if {
	i := object.union(req("POST", ["tickets"], support), {"request": {"body_state": "not_json"}})
	d := decide(i)
	d.allow == false
	d.status == 415
}

# --- sales -------------------------------------------------------------------

test_sales_list_removes_other_owners if {
	d := decide(req("GET", ["customers"], sales))
	d.allow == true
	has_rule(d, {"path": "$.customers[*]", "where": {"field": "owner_id", "op": "!=", "value": "u-17"}, "action": "redact"})
	has_rule(d, {"path": "$.customers[*]", "where": {"field": "owner_id", "op": "not_exists"}, "action": "redact"})
	count(d.response_transforms) == 2
	d.audit.tags.purpose == "sales"
}

test_sales_single_record_masked_unless_owned if {
	d := decide(req("GET", ["customers", "c-0002"], sales))
	d.allow == true
	has_rule(d, {"path": "$", "where": {"field": "owner_id", "op": "!=", "value": "u-17"}, "action": "mask"})
	has_rule(d, {"path": "$", "where": {"field": "owner_id", "op": "not_exists"}, "action": "mask"})
	d.audit.record_ids == "$.id"
}

test_sales_deals_of_others_removed if {
	d := decide(req("GET", ["deals"], sales))
	has_rule(d, {"path": "$.deals[*]", "where": {"field": "owner_id", "op": "!=", "value": "u-17"}, "action": "redact"})
	s := decide(req("GET", ["deals", "d-0003"], sales))
	has_rule(s, {"path": "$", "where": {"field": "owner_id", "op": "!=", "value": "u-17"}, "action": "mask"})
}

test_sales_where_value_is_the_subject if {
	# Another rep's decision names that rep, never a hard-coded id.
	d := decide(req("GET", ["customers"], subject("u-18", ["sales"])))
	has_rule(d, {"path": "$.customers[*]", "where": {"field": "owner_id", "op": "!=", "value": "u-18"}, "action": "redact"})
	not has_rule(d, {"path": "$.customers[*]", "where": {"field": "owner_id", "op": "!=", "value": "u-17"}, "action": "redact"})
}

test_sales_no_tickets if {
	d := decide(req("GET", ["tickets"], sales))
	d == {"allow": false, "status": 403, "reason": "sales may read customers and deals and create customers they own"}
}

test_sales_creates_own_customers_only if {
	ok := decide(write("POST", ["customers"], sales, {"name": "New Co", "owner_id": "u-17"}))
	ok.allow == true
	ok.audit.path == "/crm/customers"
	ok.audit.record_ids == "$.id"
	has_rule(ok, {"path": "$", "where": {"field": "owner_id", "op": "!=", "value": "u-17"}, "action": "mask"})
	decide(write("POST", ["customers"], sales, {"name": "New Co", "owner_id": "u-18"})).allow == false
	decide(write("POST", ["customers"], sales, {"name": "New Co"})).allow == false
}

test_sales_cannot_update_or_delete if {
	every m in ["PUT", "PATCH"] {
		decide(write(m, ["customers", "c-0001"], sales, {"name": "x", "owner_id": "u-17"})).allow == false
	}
	decide(req("DELETE", ["customers", "c-0001"], sales)).status == 403
}

# --- analyst -----------------------------------------------------------------

test_analyst_pseudonymises_ids if {
	d := decide(req("GET", ["deals"], analyst))
	every p in ["$..id", "$..customer_id", "$..owner_id", "$..assignee"] {
		has_rule(d, {"path": p, "action": "hash", "key": "pii"})
	}
}

test_analyst_redacts_identifying_data if {
	d := decide(req("GET", ["customers"], analyst))
	every p in ["$..name", "$..ssn", "$..national_id", "$..address.street", "$..notes", "$..card_last4"] {
		has_rule(d, {"path": p, "action": "redact"})
	}
}

test_analyst_sees_phones_format_preserved if {
	every path in [["customers"], ["customers", "c-0001"]] {
		d := decide(req("GET", path, analyst))
		has_rule(d, {"path": "$..phone", "action": "fpe", "key": "pii", "alphabet": "digits"})
		not has_rule(d, {"path": "$..phone", "action": "redact"})
	}
}

test_analyst_tokenizes_emails if {
	every path in [["customers"], ["customers", "c-0001"], ["tickets"], ["deals"]] {
		d := decide(req("GET", path, analyst))
		has_rule(d, {"path": "$..email", "action": "tokenize", "key": "pii"})
		not has_rule(d, {"path": "$..email", "action": "redact"})
	}
}

test_crm_never_reverses if {
	every sub in [analyst, subject("u-03", ["support"]), subject("u-17", ["sales"]), subject("u-01", ["admin"])] {
		every path in [["customers"], ["customers", "c-0001"], ["tickets"]] {
			d := decide(req("GET", path, sub))
			every r in array.concat(object.get(d, "request_transforms", []), object.get(d, "response_transforms", [])) {
				not r.action in {"decrypt", "detokenize", "fpe_decrypt"}
			}
		}
	}
}

test_analyst_generalises if {
	d := decide(req("GET", ["customers", "c-0001"], analyst))
	has_rule(d, {"path": "$..date_of_birth", "action": "generalize", "date": "year"})
	has_rule(d, {"path": "$..address.zip", "action": "generalize", "keep_first": 2})
	every r in d.response_transforms {
		not contains(r.path, "city")
	}
}

test_analyst_read_only if {
	every m in ["POST", "PUT", "PATCH"] {
		d := decide(write(m, ["tickets"], analyst, {}))
		d == {"allow": false, "status": 403, "reason": "analysts have read-only access"}
	}
	decide(req("DELETE", ["customers", "c-0001"], analyst)).allow == false
}

# --- others ------------------------------------------------------------------

test_hr_manager_has_no_crm_access if {
	decide(req("GET", ["customers"], hr)) == {"allow": false, "status": 403, "reason": "no CRM role"}
}

test_unknown_role_denied if {
	decide(req("GET", ["customers"], subject("u-99", ["intern"]))) == {"allow": false, "status": 403, "reason": "no CRM role"}
	decide(req("GET", ["customers"], subject("u-99", []))).allow == false
}

test_role_priority if {
	# admin outranks everything; sales outranks support for reads.
	decide(req("GET", ["customers"], subject("u-01", ["analyst", "admin"]))).response_transforms == []
	d := decide(req("GET", ["customers"], subject("u-17", ["support", "sales"])))
	d.audit.tags.role == "sales"

	# A role that does not allow the request hands over to the next one.
	t := decide(write("POST", ["tickets"], subject("u-17", ["sales", "support"]), {"subject": "s"}))
	t.allow == true
	t.audit.tags.role == "support"
}

test_roles_not_taken_from_claims if {
	s := {"authenticated": true, "id": "u-03", "roles": ["support"], "claims": {"roles": ["admin"]}}
	decide(req("DELETE", ["customers", "c-0001"], s)).allow == false
}
