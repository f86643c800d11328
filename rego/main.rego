# METADATA
# title: Veil entry point
# description: |
#   data.veil.decision is the gateway's query. It is defined for every
#   input: checks that apply to every API first, then the API's own policy
#   (veil.crm, veil.hrm) by route name, else a denial.
package veil

import data.veil.crm
import data.veil.hrm
import data.veil.lib

# Anything no rule below covers (an unknown route) is denied.
default decision := {"allow": false, "status": 403, "reason": "no policy covers this route"}

# Anonymous callers get 401: the gateway reserves 401 for invalid
# credentials, but a policy may use it too, and "send credentials" is the
# clearest answer to a caller that sent none (403 would suggest that
# credentials would not help).
decision := lib.deny(401, "authentication required") if {
	not lib.authenticated
} else := lib.deny(405, "method not allowed") if {
	not lib.is_read
	not lib.is_write
} else := lib.body_refusal if {
	lib.write_body_refused
} else := crm.decision if {
	input.route.name == "crm"
} else := hrm.decision if {
	input.route.name == "hrm"
}
