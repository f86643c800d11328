package transforms

import "strconv"

// appendNormName appends the normalized path segment of member name
// (RFC 9535 2.7) to dst.
func appendNormName(dst, name []byte) []byte {
	dst = append(dst, '[', '\'')
	for _, c := range name {
		switch c {
		case '\'':
			dst = append(dst, '\\', '\'')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 {
				const hexd = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '\'', ']')
}

// appendNormIndex appends the normalized path segment of element k.
func appendNormIndex(dst []byte, k int64) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, k, 10)
	return append(dst, ']')
}

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
