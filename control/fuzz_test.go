package control

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzParseRequest feeds arbitrary bytes to the request reader the way a
// connection would, in one read or byte by byte. It must never panic, and
// what it accepts must be a well-formed origin-form request.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/services/web/signal?signal=HUP HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET /v1/status HTTP/1.0\r\n\r\n",
		"POST /v1/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /v1/services/w%65b/logs?lines=10&x=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/9.9\r\n\r\n",
		"\r\n\r\n",
		"",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, oneByte bool) {
		r := &chunkReader{data: data, one: oneByte}
		req, err := readRequest(r)
		var herr *httpError
		switch {
		case err == nil:
			if !isToken(req.method) || !strings.HasPrefix(req.path, "/") || req.length < 0 || req.length > maxBody {
				t.Fatalf("accepted %q as %+v", data, req)
			}
			head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
			if len(head)+4 > maxHead || bytes.Contains(head, []byte("\n ")) {
				t.Fatalf("accepted %q", data)
			}
		case errors.As(err, &herr):
			if statusText(herr.code) == "" || herr.code < 400 {
				t.Fatalf("refused %q with unknown code %d", data, herr.code)
			}
		case errors.Is(err, errNoRequest):
			if len(data) != 0 {
				t.Fatalf("errNoRequest after %d bytes", len(data))
			}
		default:
			t.Fatalf("unexpected error %v for %q", err, data)
		}
		// parseRequest alone, on any input, must not panic.
		parseRequest(data)
		splitPath(req.path)
		queryValue(req.query, "signal")
	})
}

// chunkReader hands out data in one read, or one byte per read.
type chunkReader struct {
	data []byte
	one  bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if c.one {
		n = 1
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}
