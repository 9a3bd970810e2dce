package control

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
)

// The HTTP/1.1 subset the control socket and the probe listener speak: one
// request per connection, answered with `Connection: close`. It is strict on
// purpose: anything it does not understand is refused with a status code
// rather than guessed at, since the peer is a script, curl or `initbox ctl`.

const (
	// maxHead bounds the request line and headers together.
	maxHead = 8 << 10
	// maxBody bounds request bodies (exec's argv and environment).
	maxBody = 64 << 10
)

// request is a parsed request head.
type request struct {
	method string
	path   string // the target before '?', still percent-encoded
	query  string // the target after '?', still percent-encoded
	length int64  // Content-Length, 0 if absent
	body   []byte
	// files came with the request (SCM_RIGHTS on the control socket);
	// the server closes them once the handler returns.
	files []*os.File
}

// httpError is a request the server refuses with code and a message.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return strconv.Itoa(e.code) + " " + e.msg }

func refuse(code int, msg string) *httpError { return &httpError{code: code, msg: msg} }

// errNoRequest means the peer closed the connection before sending a byte:
// nothing to answer, nothing to log.
var errNoRequest = errors.New("connection closed before a request")

// readRequest reads a request head from r, then its body.
// It reads at most maxHead bytes before the body. The error is errNoRequest,
// an *httpError to answer, or (when the deadline passes) a wrapped
// os.ErrDeadlineExceeded.
func readRequest(r io.Reader) (request, error) {
	// Most heads are a few hundred bytes: grow to maxHead only for those
	// that need it (a scrape allocated 8 KiB for its head; issue #17).
	buf := make([]byte, 512)
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			if len(buf) == maxHead {
				return request{}, refuse(431, "request line and headers exceed 8 KiB")
			}
			buf = append(buf, make([]byte, min(len(buf), maxHead-len(buf)))...)
		}
		m, err := r.Read(buf[n:])
		// Search from a little before the new bytes: the terminator may
		// straddle two reads.
		from := max(0, n-3)
		n += m
		if i := bytes.Index(buf[from:n], []byte("\r\n\r\n")); i >= 0 {
			end = from + i + 4
			break
		}
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				return request{}, err
			case n == 0 && errors.Is(err, io.EOF):
				return request{}, errNoRequest
			case errors.Is(err, io.EOF):
				return request{}, refuse(400, "request ends before the blank line after the headers")
			}
			return request{}, err
		}
	}
	buf = buf[:n]
	req, herr := parseRequest(buf[:end])
	if herr != nil {
		return request{}, herr
	}
	// The body, counting what came with the head; parseRequest bounded
	// its length.
	rest := req.length - int64(len(buf)-end)
	if rest < 0 {
		return request{}, refuse(400, "more bytes than Content-Length after the headers")
	}
	req.body = make([]byte, req.length)
	copy(req.body, buf[end:])
	if rest > 0 {
		if _, err := io.ReadFull(r, req.body[len(buf)-end:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return request{}, refuse(400, "body shorter than Content-Length")
			}
			return request{}, err
		}
	}
	return req, nil
}

// parseRequest parses a request head: the request line and the header lines,
// each ending in CRLF, then an empty line.
func parseRequest(head []byte) (request, *httpError) {
	var req request
	if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		return req, refuse(400, "request head does not end with an empty line")
	}
	lines := strings.Split(string(head[:len(head)-4]), "\r\n")
	for _, l := range lines {
		// A bare CR or LF would let two parsers disagree on where a line
		// ends (request smuggling); RFC 9112 lets us refuse them.
		if strings.ContainsAny(l, "\r\n") {
			return req, refuse(400, "bare CR or LF in the request head")
		}
	}
	method, rest, ok1 := strings.Cut(lines[0], " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) {
		return req, refuse(400, "malformed request line")
	}
	switch version {
	case "HTTP/1.1", "HTTP/1.0":
	default:
		if len(version) == 8 && strings.HasPrefix(version, "HTTP/") && isDigit(version[5]) && version[6] == '.' && isDigit(version[7]) {
			return req, refuse(505, "only HTTP/1.0 and HTTP/1.1 are supported")
		}
		return req, refuse(400, "malformed request line")
	}
	if target == "" || target[0] != '/' {
		return req, refuse(400, "the request target must be a path (origin-form)")
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f {
			return req, refuse(400, "invalid byte in the request target")
		}
	}
	req.method = method
	req.path, req.query, _ = strings.Cut(target, "?")

	hosts := 0
	haveLength := false
	for _, l := range lines[1:] {
		if l == "" {
			return req, refuse(400, "empty header line")
		}
		if l[0] == ' ' || l[0] == '\t' {
			return req, refuse(400, "obsolete header line folding")
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			return req, refuse(400, "malformed header line")
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return req, refuse(400, "control character in a header value")
			}
		}
		switch strings.ToLower(name) {
		case "host":
			hosts++
		case "transfer-encoding":
			return req, refuse(411, "Transfer-Encoding is not supported; send Content-Length")
		case "content-length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 || value[0] == '+' {
				return req, refuse(400, "malformed Content-Length")
			}
			if haveLength && n != req.length {
				return req, refuse(400, "conflicting Content-Length headers")
			}
			if n > maxBody {
				return req, refuse(413, "request body over 64 KiB")
			}
			req.length, haveLength = n, true
		}
	}
	// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request
	// without exactly one Host.
	if version == "HTTP/1.1" && hosts != 1 {
		return req, refuse(400, "HTTP/1.1 request needs exactly one Host header")
	}
	return req, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// unescape decodes %XX escapes (and, in a query, '+' as space).
func unescape(s string, query bool) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) {
				return "", false
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			b = append(b, byte(n))
			i += 2
		case c == '+' && query:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

// queryValue returns the value of key in a raw query; ok is false if the
// query is malformed.
func queryValue(query, key string) (value string, found, ok bool) {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(pair, "=")
		k, ok1 := unescape(k, true)
		v, ok2 := unescape(v, true)
		if !ok1 || !ok2 {
			return "", false, false
		}
		if k == key {
			value, found = v, true
		}
	}
	return value, found, true
}

// statusText is the reason phrase of each status code the server sends,
// "" for others. A switch, not a package-level map: a map literal is built
// by init code on every start of the binary, tini mode included (issue #13).
func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 409:
		return "Conflict"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

// response is what a handler answers.
type response struct {
	code  int
	ctype string
	body  []byte
	allow string // the Allow header of a 405
	// stream, when set, goes on after body, on the connection, without
	// a deadline, until it returns; the body ends when the connection
	// closes (exec).
	stream func(c *os.File)
}

// appendResponse appends resp as an HTTP/1.1 response; the connection is
// closed after it, so every response says so.
func appendResponse(b []byte, resp response) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(resp.code), 10)
	b = append(b, ' ')
	b = append(b, statusText(resp.code)...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, resp.ctype...)
	if resp.stream == nil {
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(resp.body)), 10)
	}
	if resp.allow != "" {
		b = append(b, "\r\nAllow: "...)
		b = append(b, resp.allow...)
	}
	b = append(b, "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"...)
	return append(b, resp.body...)
}

const ctypeJSON = "application/json"

func jsonResponse(code int, body []byte) response {
	return response{code: code, ctype: ctypeJSON, body: append(body, '\n')}
}

func errorResponse(code int, msg string) response {
	b := append([]byte(`{"error":`), appendString(nil, msg)...)
	return jsonResponse(code, append(b, '}'))
}
