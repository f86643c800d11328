package proxy

import (
	"bytes"
	"compress/zlib"
	"io"
)

func newZlibReader(body []byte) (io.ReadCloser, error) {
	return zlib.NewReader(bytes.NewReader(body))
}
