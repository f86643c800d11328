package proxy

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"sync"
)

var (
	errTooLarge        = errors.New("proxy: body over the limit")
	errUnknownEncoding = errors.New("proxy: unsupported content encoding")
	errBadEncoding     = errors.New("proxy: corrupt compressed body")
)

// readLimited appends at most limit bytes of r to dst; more -> errTooLarge
// (dst then holds the limit+1 bytes read so far, for streaming the rest on).
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst)-start > limit {
			return dst, errTooLarge
		}
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)] // grow (amortised doubling)
		}
		end := min(cap(dst), start+limit+1)
		n, err := r.Read(dst[len(dst):end])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst)-start > limit {
				return dst, errTooLarge
			}
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// encodingKind classifies a Content-Encoding header value.
type encodingKind uint8

const (
	encIdentity encodingKind = iota
	encGzip
	encDeflate
	encUnknown
)

func parseEncoding(v []byte) encodingKind {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0, bytes.EqualFold(v, []byte("identity")):
		return encIdentity
	case bytes.EqualFold(v, []byte("gzip")), bytes.EqualFold(v, []byte("x-gzip")):
		return encGzip
	case bytes.EqualFold(v, []byte("deflate")):
		return encDeflate
	default:
		// br, zstd, compress, or a list of several codings.
		return encUnknown
	}
}

var gzipReaders sync.Pool

// decodeBody appends the decoded form of body to dst, enforcing limit on
// the decoded size (a small compressed body may expand enormously).
func decodeBody(dst, body []byte, enc encodingKind, limit int) ([]byte, error) {
	var r io.Reader
	switch enc {
	case encIdentity:
		if len(body) > limit {
			return dst, errTooLarge
		}
		return append(dst, body...), nil
	case encGzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(body))
		} else {
			err = zr.Reset(bytes.NewReader(body))
		}
		if err != nil {
			return dst, errBadEncoding
		}
		defer gzipReaders.Put(zr)
		r = zr
	case encDeflate:
		// "deflate" is zlib-wrapped per RFC 9110; some servers send raw
		// deflate. Accept the zlib form only: fail closed otherwise.
		zr, err := newZlibReader(body)
		if err != nil {
			return dst, errBadEncoding
		}
		defer zr.Close()
		r = zr
	default:
		return dst, errUnknownEncoding
	}
	out, err := readLimited(dst, r, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return out, errTooLarge
		}
		return out, errBadEncoding
	}
	return out, nil
}
