package transforms

// selectPaths returns the normalized paths of the nodes the Program's
// record id query selects in doc, in document order, each once. It runs
// the streaming matcher (tests compare it with the reference evaluator).
func (p *Program) selectPaths(doc []byte) ([]string, error) {
	rw := &rewriter{p: p, track: true, path: []byte("$")}
	rw.src, rw.res = doc, &Result{}
	p.initResult(rw.res)
	if _, err := rw.run(); err != nil {
		return nil, err
	}
	return rw.selected, nil
}
