package policy

import (
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/veilgw/veil/transforms"
)

// decodeDecision validates the decision value and decodes it. On failure it
// returns a reason for the policy author that names keys and expected
// types, never a value (a value may come from the input).
//
// Rules: the decision is an object whose keys are among allow, status,
// reason, request_transforms, response_transforms, query_transforms and
// audit; allow is a
// boolean (missing: deny); status an integer within 400..499; reason a
// string; each transforms list an array (or set) of rule objects as
// transforms.ParseRules accepts them (string path and action, optional
// where {field, op, value}, other keys as parameters); audit an object with optional string
// record_ids and path and an object tags of strings.
func decodeDecision(v ast.Value) (*Decision, string) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, "decision must be an object, got " + ast.ValueName(v)
	}
	d := &Decision{}
	var reason string
	obj.Until(func(k, val *ast.Term) bool {
		key, ok := k.Value.(ast.String)
		if !ok {
			reason = "decision keys must be strings"
			return true
		}
		switch key {
		case "allow":
			b, ok := val.Value.(ast.Boolean)
			if !ok {
				reason = "allow must be a boolean, got " + ast.ValueName(val.Value)
				return true
			}
			d.Allow = bool(b)
		case "status":
			n, ok := val.Value.(ast.Number)
			if !ok {
				reason = "status must be an integer, got " + ast.ValueName(val.Value)
				return true
			}
			i, ok := n.Int()
			if !ok || i < 400 || i > 499 {
				reason = "status must be an integer within 400..499"
				return true
			}
			d.Status = i
		case "reason":
			s, ok := val.Value.(ast.String)
			if !ok {
				reason = "reason must be a string, got " + ast.ValueName(val.Value)
				return true
			}
			d.Reason = string(s)
		case "request_transforms":
			d.RequestTransforms, reason = decodeRules("request_transforms", val.Value)
		case "response_transforms":
			d.ResponseTransforms, reason = decodeRules("response_transforms", val.Value)
		case "query_transforms":
			d.QueryTransforms, reason = decodeRules("query_transforms", val.Value)
		case "audit":
			reason = decodeAudit(val.Value, &d.Audit)
		default:
			reason = fmt.Sprintf("unknown decision key %q", truncate(string(key)))
		}
		return reason != ""
	})
	if reason != "" {
		return nil, reason
	}
	return d, ""
}

// truncate bounds a key name quoted in a reason.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// decodeRules decodes a transforms list with transforms.ParseRules (one
// decoder for the rule shape). A set, as a partial rule produces, is
// accepted and taken in sorted order: rules are order-free.
func decodeRules(field string, v ast.Value) ([]transforms.Rule, string) {
	switch x := v.(type) {
	case *ast.Array:
	case ast.Set:
		v = x.Sorted()
	default:
		return nil, field + " must be an array, got " + ast.ValueName(v)
	}
	j, err := ast.JSON(v)
	if err != nil {
		return nil, field + " must hold JSON values"
	}
	rules, err := transforms.ParseRules(j)
	if err != nil {
		return nil, field + ": " + strings.TrimPrefix(err.Error(), transforms.ErrInvalidRule.Error()+": ")
	}
	if len(rules) == 0 {
		return nil, ""
	}
	return rules, ""
}

func decodeAudit(v ast.Value, a *AuditSpec) string {
	obj, ok := v.(ast.Object)
	if !ok {
		return "audit must be an object, got " + ast.ValueName(v)
	}
	var reason string
	obj.Until(func(k, val *ast.Term) bool {
		key, _ := k.Value.(ast.String)
		switch key {
		case "record_ids", "path":
			s, ok := val.Value.(ast.String)
			if !ok {
				reason = fmt.Sprintf("audit.%s must be a string, got %s", string(key), ast.ValueName(val.Value))
				return true
			}
			if key == "path" {
				a.Path = string(s)
			} else {
				a.RecordIDs = string(s)
			}
		case "tags":
			tags, ok := val.Value.(ast.Object)
			if !ok {
				reason = "audit.tags must be an object, got " + ast.ValueName(val.Value)
				return true
			}
			a.Tags = make(map[string]string, tags.Len())
			tags.Until(func(tk, tv *ast.Term) bool {
				name, ok1 := tk.Value.(ast.String)
				s, ok2 := tv.Value.(ast.String)
				if !ok1 || !ok2 {
					reason = "audit.tags must map strings to strings"
					return true
				}
				a.Tags[string(name)] = string(s)
				return false
			})
		default:
			reason = fmt.Sprintf("audit: unknown key %q", truncate(string(key)))
		}
		return reason != ""
	})
	return reason
}
