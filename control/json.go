package control

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON here is hand-written rather than encoding/json, which would add
// about 385 KB to the binary for a handful of fixed shapes (see the package
// doc). The encoder writes exactly the shapes the server sends; the decoder
// reads any JSON text but is only fed the server's answers.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (RFC 8259 §7). Invalid UTF-8 is
// replaced by U+FFFD so the output is always valid JSON: service names and log
// lines come from programs that may write anything.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendStatus appends s as a JSON object with snake_case keys, the time as
// RFC 3339 (null when zero) and the CPU time in seconds (-1 when unknown).
func appendStatus(b []byte, s ServiceStatus) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, s.Name)
	b = append(b, `,"state":`...)
	b = appendString(b, s.State)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(s.Pid), 10)
	b = append(b, `,"since":`...)
	b = appendTime(b, s.Since)
	b = append(b, `,"restarts":`...)
	b = strconv.AppendInt(b, int64(s.Restarts), 10)
	b = append(b, `,"last_exit":`...)
	b = appendString(b, s.LastExit)
	b = append(b, `,"last_code":`...)
	b = strconv.AppendInt(b, int64(s.LastCode), 10)
	b = append(b, `,"reason":`...)
	b = appendString(b, s.Reason)
	b = append(b, `,"ready":`...)
	b = appendString(b, s.Ready)
	b = append(b, `,"health":`...)
	b = appendString(b, s.Health)
	b = append(b, `,"status":`...)
	b = appendString(b, s.Status)
	b = append(b, `,"memory_bytes":`...)
	b = strconv.AppendInt(b, s.MemoryBytes, 10)
	b = append(b, `,"cpu_seconds":`...)
	b = appendSeconds(b, s.CPU)
	b = append(b, `,"tasks":`...)
	b = strconv.AppendInt(b, s.Tasks, 10)
	b = append(b, `,"oom_kills":`...)
	b = strconv.AppendInt(b, int64(s.OOMKills), 10)
	if s.Schedule != "" {
		// A job's: left out for the other services.
		b = append(b, `,"schedule":`...)
		b = appendString(b, s.Schedule)
		b = append(b, `,"next_run":`...)
		b = appendTime(b, s.NextRun)
		b = append(b, `,"last_run":`...)
		b = appendTime(b, s.LastRun)
		b = append(b, `,"last_duration_seconds":`...)
		b = appendSeconds(b, s.LastDuration)
	}
	return append(b, '}')
}

// appendTime appends t as an RFC 3339 string, or null when it is zero.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendSeconds appends d in seconds, shortest exact form; -1 when d is
// negative (unknown).
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 {
		return append(b, "-1"...)
	}
	return strconv.AppendFloat(b, d.Seconds(), 'f', -1, 64)
}

// errJSON is returned for any text the decoder cannot read.
var errJSON = errors.New("malformed JSON")

// jsonNumber keeps a number's text so that int64 values survive exactly.
type jsonNumber string

// decodeJSON reads one JSON value: objects become map[string]any, arrays
// []any, strings string, numbers jsonNumber, booleans bool and null nil.
func decodeJSON(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.data) {
		return nil, errJSON
	}
	return v, nil
}

type decoder struct {
	data []byte
	i    int
}

// maxDepth bounds recursion: the server's answers nest two levels deep.
const maxDepth = 32

func (d *decoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) literal(word string, v any) (any, error) {
	if len(d.data)-d.i < len(word) || string(d.data[d.i:d.i+len(word)]) != word {
		return nil, errJSON
	}
	d.i += len(word)
	return v, nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errJSON
	}
	d.space()
	if d.i >= len(d.data) {
		return nil, errJSON
	}
	switch c := d.data[d.i]; {
	case c == '{':
		d.i++
		obj := map[string]any{}
		d.space()
		if d.i < len(d.data) && d.data[d.i] == '}' {
			d.i++
			return obj, nil
		}
		for {
			d.space()
			if d.i >= len(d.data) || d.data[d.i] != '"' {
				return nil, errJSON
			}
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			d.space()
			if d.i >= len(d.data) || d.data[d.i] != ':' {
				return nil, errJSON
			}
			d.i++
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			obj[k] = v
			d.space()
			if d.i >= len(d.data) {
				return nil, errJSON
			}
			if d.data[d.i] == '}' {
				d.i++
				return obj, nil
			}
			if d.data[d.i] != ',' {
				return nil, errJSON
			}
			d.i++
		}
	case c == '[':
		d.i++
		arr := []any{}
		d.space()
		if d.i < len(d.data) && d.data[d.i] == ']' {
			d.i++
			return arr, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			d.space()
			if d.i >= len(d.data) {
				return nil, errJSON
			}
			if d.data[d.i] == ']' {
				d.i++
				return arr, nil
			}
			if d.data[d.i] != ',' {
				return nil, errJSON
			}
			d.i++
		}
	case c == '"':
		return d.str()
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	case c == '-' || isDigit(c):
		start := d.i
		if !d.number() {
			return nil, errJSON
		}
		return jsonNumber(d.data[start:d.i]), nil
	}
	return nil, errJSON
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? (RFC 8259 §6).
func (d *decoder) number() bool {
	digits := func() int {
		n := 0
		for d.i < len(d.data) && isDigit(d.data[d.i]) {
			d.i++
			n++
		}
		return n
	}
	if d.data[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.data) && d.data[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return false
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return false
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// str reads a string starting at the opening quote.
func (d *decoder) str() (string, error) {
	d.i++ // the quote
	var b []byte
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			b = append(b, c)
			d.i++
			continue
		}
		// An escape.
		if d.i+1 >= len(d.data) {
			return "", errJSON
		}
		e := d.data[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", errJSON
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if d.i+1 < len(d.data) && d.data[d.i] == '\\' && d.data[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if lo, ok := d.hex4(); ok {
						r2 = lo
					} else {
						d.i = save
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.data)-d.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(d.data[d.i:d.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}

// statusFromJSON reads one service object as appendStatus writes it.
// Missing or mistyped fields are left at their "unknown" values.
func statusFromJSON(v any) (ServiceStatus, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return ServiceStatus{}, false
	}
	s := ServiceStatus{LastCode: -1, MemoryBytes: -1, CPU: -1, Tasks: -1}
	str := func(k string) string { v, _ := m[k].(string); return v }
	num := func(k string, def int64) int64 {
		n, ok := m[k].(jsonNumber)
		if !ok {
			return def
		}
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i
		}
		return def
	}
	s.Name = str("name")
	s.State = str("state")
	s.Pid = int(num("pid", 0))
	if t, err := time.Parse(time.RFC3339Nano, str("since")); err == nil {
		s.Since = t
	}
	s.Restarts = int(num("restarts", 0))
	s.LastExit = str("last_exit")
	s.LastCode = int(num("last_code", -1))
	s.Reason = str("reason")
	s.Ready = str("ready")
	s.Health = str("health")
	s.Status = str("status")
	s.MemoryBytes = num("memory_bytes", -1)
	if n, ok := m["cpu_seconds"].(jsonNumber); ok {
		if f, err := strconv.ParseFloat(string(n), 64); err == nil && f >= 0 {
			s.CPU = time.Duration(f * float64(time.Second))
		}
	}
	s.Tasks = num("tasks", -1)
	s.OOMKills = int(num("oom_kills", 0))
	s.Schedule = str("schedule")
	if t, err := time.Parse(time.RFC3339Nano, str("next_run")); err == nil {
		s.NextRun = t
	}
	if t, err := time.Parse(time.RFC3339Nano, str("last_run")); err == nil {
		s.LastRun = t
	}
	if n, ok := m["last_duration_seconds"].(jsonNumber); ok {
		if f, err := strconv.ParseFloat(string(n), 64); err == nil && f >= 0 {
			s.LastDuration = time.Duration(f * float64(time.Second))
		}
	}
	return s, s.Name != ""
}
