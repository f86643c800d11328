package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/veilgw/veil/transforms"
)

// decodeDecision validates the decision value and decodes it. On failure it
// returns a reason for the policy author that names keys and expected
// types, never a value (a value may come from the input).
//
// Rules: the decision is an object whose keys are among allow, status,
// reason, request_transforms, response_transforms and audit; allow is a
// boolean (missing: deny); status an integer within 400..499; reason a
// string; each transforms list an array (or set) of objects with string
// path and action, an optional where object {field, op, value} and any
// other keys as parameters; audit an object with optional string
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

func decodeRules(field string, v ast.Value) ([]transforms.Rule, string) {
	var arr *ast.Array
	switch x := v.(type) {
	case *ast.Array:
		arr = x
	case ast.Set:
		arr = x.Sorted() // deterministic order; rules are order-free
	default:
		return nil, field + " must be an array, got " + ast.ValueName(v)
	}
	if arr.Len() == 0 {
		return nil, ""
	}
	rules := make([]transforms.Rule, arr.Len())
	for i := range rules {
		if r := decodeRule(&rules[i], arr.Elem(i).Value); r != "" {
			return nil, fmt.Sprintf("%s[%d]%s", field, i, r)
		}
	}
	return rules, ""
}

// decodeRule decodes one rule; the reason starts with the key it is about.
func decodeRule(rule *transforms.Rule, v ast.Value) string {
	obj, ok := v.(ast.Object)
	if !ok {
		return " must be an object, got " + ast.ValueName(v)
	}
	var reason string
	obj.Until(func(k, val *ast.Term) bool {
		key, ok := k.Value.(ast.String)
		if !ok {
			reason = ": keys must be strings"
			return true
		}
		switch key {
		case "path", "action":
			s, ok := val.Value.(ast.String)
			if !ok {
				reason = fmt.Sprintf(".%s must be a string, got %s", string(key), ast.ValueName(val.Value))
				return true
			}
			if key == "path" {
				rule.Path = string(s)
			} else {
				rule.Action = string(s)
			}
		case "where":
			w, r := decodeWhere(val.Value)
			if r != "" {
				reason = ".where" + r
				return true
			}
			rule.Where = w
		default:
			p, err := ast.JSON(val.Value)
			if err != nil {
				reason = fmt.Sprintf(".%s must be a JSON value", truncate(string(key)))
				return true
			}
			if rule.Params == nil {
				rule.Params = make(map[string]any, obj.Len())
			}
			rule.Params[string(key)] = p
		}
		return false
	})
	switch {
	case reason != "":
		return reason
	case rule.Path == "":
		return ".path must be a non-empty string"
	case rule.Action == "":
		return ".action must be a non-empty string"
	}
	return ""
}

func decodeWhere(v ast.Value) (*transforms.Where, string) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, " must be an object, got " + ast.ValueName(v)
	}
	w := &transforms.Where{}
	var reason string
	obj.Until(func(k, val *ast.Term) bool {
		key, _ := k.Value.(ast.String)
		switch key {
		case "field", "op":
			s, ok := val.Value.(ast.String)
			if !ok {
				reason = fmt.Sprintf(".%s must be a string, got %s", string(key), ast.ValueName(val.Value))
				return true
			}
			if key == "field" {
				w.Field = string(s)
			} else {
				w.Op = string(s)
			}
		case "value":
			p, err := ast.JSON(val.Value)
			if err != nil {
				reason = ".value must be a JSON value"
				return true
			}
			w.Value = p
		default:
			reason = fmt.Sprintf(": unknown key %q", truncate(string(key)))
		}
		return reason != ""
	})
	return w, reason
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
