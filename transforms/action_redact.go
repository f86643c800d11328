package transforms

// redactAction removes the selected node.
//
// Per type: strings, numbers, booleans, null, objects and arrays alike are
// removed: an object member loses its key and value, an array element is
// removed and the commas are fixed. With mode "null" the node is kept and
// its value becomes null. The root document cannot be removed: it becomes
// null. Parameters: mode ("remove", the default, or "null").
type redactAction struct {
	keepNull bool
}

func compileRedact(p *params) (action, error) {
	mode, ok, err := p.str("mode")
	if err != nil || (ok && mode != "remove" && mode != "null") {
		return nil, paramError(`mode must be "remove" or "null"`)
	}
	return &redactAction{keepNull: mode == "null"}, nil
}

func (a *redactAction) apply(_ *rewriter, dst, _ []byte) ([]byte, bool, error) {
	return append(dst, "null"...), true, nil
}
