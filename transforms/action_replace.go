package transforms

import "encoding/json"

// replaceAction replaces the selected node with a constant.
//
// Per type: strings, numbers, booleans, null, objects and arrays alike are
// replaced, as a whole, by the JSON text of the required parameter value
// (any JSON value, encoded once at compile time; object members sorted by
// name).
type replaceAction struct {
	text []byte
}

func compileReplace(p *params) (action, error) {
	v, ok := p.m["value"]
	if !ok {
		return nil, paramError("value is required (any JSON value)")
	}
	text, err := json.Marshal(v)
	if err != nil {
		return nil, paramError("value must be a JSON value")
	}
	return &replaceAction{text: text}, nil
}

func (a *replaceAction) apply(_ *rewriter, dst, _ []byte) ([]byte, bool, error) {
	return append(dst, a.text...), true, nil
}
