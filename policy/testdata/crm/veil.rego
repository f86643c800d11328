# A CRM-like policy: roles choose which customer fields the caller sees.
package veil

default decision := {"allow": false, "reason": "no matching rule"}

decision := {
	"allow": true,
	"response_transforms": response_transforms,
	"audit": {
		"record_ids": "$.customers[*].id",
		"path": audit_path,
		"tags": {"purpose": purpose},
	},
} if {
	allowed
}

decision := {"allow": false, "status": 401, "reason": "authentication required"} if {
	not input.subject.authenticated
}

readers := {"support", "sales", "admin", "auditor"}

allowed if {
	input.subject.authenticated
	input.request.method in {"GET", "HEAD"}
	input.request.segments[0] == "crm"
	some role in input.subject.roles
	role in readers
}

allowed if {
	input.subject.authenticated
	input.request.method in {"POST", "PUT", "PATCH"}
	input.request.body_state == "parsed"
	"admin" in input.subject.roles
}

purpose := "support" if "support" in input.subject.roles
else := "sales" if "sales" in input.subject.roles
else := "administration"

audit_path := "/crm/customers/{id}" if {
	count(input.request.segments) == 3
	input.request.segments[1] == "customers"
} else := input.request.path

response_transforms contains {"path": "$..ssn", "action": "redact"} if not "admin" in input.subject.roles

response_transforms contains {"path": "$.customers[*].phone", "action": "mask", "keep_last": 4} if {
	not "admin" in input.subject.roles
}

response_transforms contains {"path": "$..email", "action": "hash", "key": "pii"} if "sales" in input.subject.roles

response_transforms contains {
	"path": "$.customers[*]",
	"action": "redact",
	"where": {"field": "owner_id", "op": "!=", "value": input.subject.id},
} if "sales" in input.subject.roles

response_transforms contains {"path": "$.customers[*].salary", "action": "generalize", "bucket": 10000} if {
	not "admin" in input.subject.roles
	not "auditor" in input.subject.roles
}
