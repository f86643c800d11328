package veil.hrm_test

import data.veil

subject(id, roles) := {"authenticated": true, "id": id, "roles": roles, "claims": {}}

hr := subject("e-0007", ["hr_manager"])

analyst := subject("u-42", ["analyst"])

admin := subject("u-01", ["admin"])

req(method, segments, sub) := {
	"request": {
		"method": method,
		"path": concat("/", array.concat(["", "hrm"], segments)),
		"segments": array.concat(["hrm"], segments),
		"query": {},
		"headers": {},
		"body_state": "absent",
	},
	"route": {"name": "hrm", "prefix": "/hrm/"},
	"subject": sub,
	"time_ns": 0,
}

with_query(i, q) := object.union(i, {"request": {"query": q}})

write(method, segments, sub, body) := object.union(req(method, segments, sub), {"request": {"body_state": "parsed", "body": body}})

decide(i) := d if {
	d := veil.decision with input as i
}

has_rule(d, rule) if rule in d.response_transforms

protected := ["salary", "bank_account", "national_id", "performance_reviews", "date_of_birth", "address"]

# --- admin -------------------------------------------------------------------

test_admin_full_access if {
	every r in [
		[["employees"], "$.employees[*].id", "/hrm/employees"],
		[["employees", "e-0001"], "$.id", "/hrm/employees/{id}"],
		[["employees", "e-0001", "reviews"], "$.employee_id", "/hrm/employees/{id}/reviews"],
	] {
		d := decide(req("GET", r[0], admin))
		d.allow == true
		d.response_transforms == []
		d.audit == {"record_ids": r[1], "path": r[2], "tags": {"purpose": "administration", "role": "admin"}}
	}
	decide(write("POST", ["employees"], admin, {"name": "N"})).allow == true
	decide(write("PATCH", ["employees", "e-0002"], admin, {"salary": 1})).allow == true
}

test_unknown_resource_404 if {
	decide(req("GET", ["payroll"], admin)) == {"allow": false, "status": 404, "reason": "unknown HRM resource"}
	decide(req("GET", ["employees", "e-0001", "salary"], hr)).status == 404
}

# --- hr_manager --------------------------------------------------------------

test_hr_directory_redacts_protected_fields_of_everyone if {
	d := decide(req("GET", ["employees"], hr))
	d.allow == true
	every f in protected {
		has_rule(d, {"path": sprintf("$.employees[*].%s", [f]), "action": "redact"})
	}
	count(d.response_transforms) == count(protected)
	d.audit == {"record_ids": "$.employees[*].id", "path": "/hrm/employees", "tags": {"purpose": "hr_management", "role": "hr_manager"}}
}

test_hr_directory_with_other_filters if {
	d := decide(with_query(req("GET", ["employees"], hr), {"department": ["Sales"]}))
	has_rule(d, {"path": "$.employees[*].salary", "action": "redact"})
}

test_hr_reports_list_in_full if {
	d := decide(with_query(req("GET", ["employees"], hr), {"manager_id": ["e-0007"]}))
	d.allow == true
	d.request_transforms == []
	d.response_transforms == [
		{"path": "$.employees[*]", "where": {"field": "manager_id", "op": "!=", "value": "e-0007"}, "action": "redact"},
		{"path": "$.employees[*]", "where": {"field": "manager_id", "op": "not_exists"}, "action": "redact"},
		{"path": "$.employees[?match(@.national_id, 'enc_v[0-9]+_.+')].national_id", "action": "decrypt", "key": "pii"},
		{"path": "$.employees[?match(@.bank_account.iban, 'enc_v[0-9]+_.+')].bank_account.iban", "action": "decrypt", "key": "pii"},
	]
}

test_hr_other_managers_reports_get_directory_view if {
	d := decide(with_query(req("GET", ["employees"], hr), {"manager_id": ["e-0008"]}))
	has_rule(d, {"path": "$.employees[*].bank_account", "action": "redact"})
}

test_hr_repeated_manager_filter_gets_directory_view if {
	d := decide(with_query(req("GET", ["employees"], hr), {"manager_id": ["e-0007", "e-0008"]}))
	has_rule(d, {"path": "$.employees[*].salary", "action": "redact"})
}

test_hr_single_record_masked_unless_report if {
	d := decide(req("GET", ["employees", "e-0042"], hr))
	d.allow == true
	d.response_transforms == array.concat(
		[
			{"path": "$", "where": {"field": "manager_id", "op": "!=", "value": "e-0007"}, "action": "mask"},
			{"path": "$", "where": {"field": "manager_id", "op": "not_exists"}, "action": "mask"},
		],
		record_decrypt,
	)
	d.audit.path == "/hrm/employees/{id}"
	d.audit.record_ids == "$.id"
}

test_hr_writes_employees if {
	p := decide(write("POST", ["employees"], hr, {"name": "New Hire", "manager_id": "e-0007"}))
	p.allow == true
	p.audit.record_ids == "$.id"
	has_rule(p, {"path": "$", "where": {"field": "manager_id", "op": "!=", "value": "e-0007"}, "action": "mask"})
	every m in ["PUT", "PATCH"] {
		u := decide(write(m, ["employees", "e-0100"], hr, {"title": "Lead"}))
		u.allow == true
		u.audit.path == "/hrm/employees/{id}"
		has_rule(u, {"path": "$", "where": {"field": "manager_id", "op": "not_exists"}, "action": "mask"})
	}
}

record_decrypt := [
	{"path": "$[?@ == $.national_id && match(@, 'enc_v[0-9]+_.+')]", "action": "decrypt", "key": "pii"},
	{"path": "$.bank_account[?@ == $.bank_account.iban && match(@, 'enc_v[0-9]+_.+')]", "action": "decrypt", "key": "pii"},
]

at_rest := [
	{"path": "$.national_id", "action": "encrypt", "key": "pii"},
	{"path": "$.bank_account.iban", "action": "encrypt", "key": "pii"},
]

reversing := {"decrypt", "detokenize", "fpe_decrypt"}

test_writes_encrypt_national_id_and_iban if {
	body := {"name": "N", "manager_id": "e-0007", "national_id": "AB123456C", "bank_account": {"iban": "GB00", "bic": "X"}}
	update := object.remove(body, ["manager_id"]) # HR managers may not reassign
	every sub in [hr, admin] {
		decide(write("POST", ["employees"], sub, body)).request_transforms == at_rest
		every m in ["PUT", "PATCH"] {
			decide(write(m, ["employees", "e-0100"], sub, update)).request_transforms == at_rest
		}
	}
	every m in ["PUT", "PATCH"] {
		decide(write(m, ["employees", "e-0100"], admin, body)).request_transforms == at_rest
	}
	decide(req("DELETE", ["employees", "e-0100"], admin)).request_transforms == []
}

test_reads_have_no_request_transforms if {
	every sub in [hr, admin, analyst] {
		decide(req("GET", ["employees"], sub)).request_transforms == []
		decide(req("GET", ["employees", "e-0042"], sub)).request_transforms == []
	}
}

test_hr_write_echo_decrypts_only_own_reports if {
	d := decide(write("POST", ["employees"], hr, {"name": "N", "manager_id": "e-0007", "national_id": "AB123456C"}))
	d.response_transforms == array.concat(
		[
			{"path": "$", "where": {"field": "manager_id", "op": "!=", "value": "e-0007"}, "action": "mask"},
			{"path": "$", "where": {"field": "manager_id", "op": "not_exists"}, "action": "mask"},
		],
		record_decrypt,
	)
}

test_hr_write_field_names_must_be_exact if {
	every body in [
		{"name": "N", "National_ID": "enc_v1_x"},
		{"name": "N", "bank_account": {"IBAN": "enc_v1_x"}},
		{"name": "N", "bank_account": "enc_v1_x"},
		{"name": "N", "nickname": "x"},
	] {
		decide(write("POST", ["employees"], hr, body)) == {"allow": false, "status": 400, "reason": "employee writes may only carry the fields of an employee record"}
		decide(write("PATCH", ["employees", "e-0100"], hr, body)).status == 400
	}
	decide(write("PATCH", ["employees", "e-0100"], hr, ["national_id"])).status == 400
	decide(write("PATCH", ["employees", "e-0100"], hr, {"bank_account": {"iban": "GB00", "bic": "X"}})).allow == true
}

test_hr_manager_cannot_reassign_employees if {
	every m in ["PUT", "PATCH"] {
		every mgr in ["e-0007", "e-0008"] {
			decide(write(m, ["employees", "e-0100"], hr, {"manager_id": mgr})) == {"allow": false, "status": 403, "reason": "only admins may change an employee's manager"}
		}
		decide(write(m, ["employees", "e-0100"], admin, {"manager_id": "e-0007"})).allow == true
	}
	decide(write("POST", ["employees"], hr, {"name": "N", "manager_id": "e-0007"})).allow == true
}

test_only_hr_reports_views_reverse if {
	every d in [
		decide(req("GET", ["employees"], hr)),
		decide(with_query(req("GET", ["employees"], hr), {"manager_id": ["e-0008"]})),
		decide(req("GET", ["employees"], analyst)),
		decide(req("GET", ["employees", "e-0042"], analyst)),
		decide(req("GET", ["employees", "e-0010", "reviews"], analyst)),
		decide(req("GET", ["employees"], admin)),
	] {
		every r in array.concat(d.request_transforms, d.response_transforms) {
			not r.action in reversing
		}
	}
}

test_request_side_never_reverses if {
	every sub in [hr, admin] {
		every r in decide(write("POST", ["employees"], sub, {"name": "N"})).request_transforms {
			not r.action in reversing
		}
	}
}

test_hr_write_needs_parsed_body if {
	i := object.union(req("PATCH", ["employees", "e-0100"], hr), {"request": {"body_state": "too_large"}})
	decide(i) == {"allow": false, "status": 413, "reason": "write requests need a JSON body"}
}

test_hr_reviews_endpoint_denied if {
	decide(req("GET", ["employees", "e-0010", "reviews"], hr)) == {"allow": false, "status": 403, "reason": "reviews are only served within the employee record"}
}

test_hr_cannot_delete if {
	decide(req("DELETE", ["employees", "e-0100"], hr)) == {"allow": false, "status": 403, "reason": "HR managers may read and write employees"}
}

# --- analyst -----------------------------------------------------------------

test_analyst_hrm_view if {
	d := decide(req("GET", ["employees"], analyst))
	d.allow == true
	every p in ["$..id", "$..manager_id", "$..employee_id"] {
		has_rule(d, {"path": p, "action": "hash", "key": "pii"})
	}
	every p in ["$..name", "$..national_id", "$..address.street", "$..bank_account", "$..comments"] {
		has_rule(d, {"path": p, "action": "redact"})
	}
	has_rule(d, {"path": "$..phone", "action": "fpe", "key": "pii", "alphabet": "digits"})
	has_rule(d, {"path": "$..email", "action": "tokenize", "key": "pii"})
	has_rule(d, {"path": "$..date_of_birth", "action": "generalize", "date": "year"})
	has_rule(d, {"path": "$..salary", "action": "generalize", "bucket": 10000})
	has_rule(d, {"path": "$..address.zip", "action": "generalize", "keep_first": 2})
	d.audit.tags == {"purpose": "analytics", "role": "analyst"}
}

test_analyst_reads_reviews_without_comments if {
	d := decide(req("GET", ["employees", "e-0010", "reviews"], analyst))
	d.allow == true
	has_rule(d, {"path": "$..comments", "action": "redact"})
	has_rule(d, {"path": "$..employee_id", "action": "hash", "key": "pii"})
	d.audit.record_ids == "$.employee_id"
}

test_analyst_read_only if {
	decide(write("POST", ["employees"], analyst, {"name": "x"})) == {"allow": false, "status": 403, "reason": "analysts have read-only access"}
	decide(write("PATCH", ["employees", "e-0001"], analyst, {"salary": 1})).allow == false
}

# --- CRM roles have no HRM access --------------------------------------------

test_crm_roles_denied if {
	every roles in [["support"], ["sales"], []] {
		d := decide(req("GET", ["employees"], subject("u-03", roles)))
		d == {"allow": false, "status": 403, "reason": "no HRM role"}
	}
}

test_role_priority if {
	d := decide(req("GET", ["employees", "e-0001", "reviews"], subject("e-0007", ["hr_manager", "analyst"])))
	d.allow == true
	d.audit.tags.role == "analyst"
	a := decide(req("GET", ["employees"], subject("e-0007", ["hr_manager", "admin"])))
	a.response_transforms == []
}
