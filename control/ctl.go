package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/signals"
)

// DefaultSocket is where the control socket is when neither `[init]
// control_socket` nor $INITBOX_CONTROL_SOCKET says otherwise.
const DefaultSocket = "/run/initbox/control.sock"

// SocketEnv names the variable `initbox ctl` reads the socket path from;
// the supervisor may set it in services' environments so that scripts in
// them find the socket.
const SocketEnv = "INITBOX_CONTROL_SOCKET"

// Exit statuses of Ctl.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
	exitConnect = 3
)

// Usage is the help of `initbox ctl`, printed by `initbox ctl --help` and
// `initbox help ctl`.
const Usage = `Usage: initbox ctl [--socket PATH] [--json] COMMAND [ARGS]

commands:
  status [NAME]        every service, or one, as a table
  start NAME           start a stopped, exited or failed service
  stop NAME            stop a service; it stays stopped
  restart NAME         stop a service, then start it
  signal SIG NAME      send a signal (HUP, SIGHUP, 1, RTMIN+3)
  reload               re-read the config
  logs [-n N] NAME     the last N lines of a service's output (default 100)

--socket defaults to $INITBOX_CONTROL_SOCKET, else /run/initbox/control.sock.
--json prints the server's JSON answer as is.
exit status: 0 ok, 1 refused or failed, 2 usage, 3 cannot connect.
`

// Ctl is `initbox ctl [--socket PATH] [--json] COMMAND [ARGS]`: status
// [NAME] | start NAME | stop NAME | restart NAME | signal SIG NAME | reload |
// logs [-n N] NAME. The socket defaults to $INITBOX_CONTROL_SOCKET, else
// DefaultSocket. It returns the exit status: 0 ok, 1 the server refused or
// failed (message on stderr), 2 usage, 3 cannot connect (the message names
// the socket and suggests the fix).
func Ctl(args []string, stdout, stderr io.Writer) int {
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "initbox ctl: %s\n\n%s", msg, Usage)
		return exitUsage
	}
	socket := os.Getenv(SocketEnv)
	if socket == "" {
		socket = DefaultSocket
	}
	jsonOut := false
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--json":
			jsonOut = true
		case a == "--socket":
			if i+1 >= len(args) || args[i+1] == "" {
				return usage("--socket needs a path")
			}
			i++
			socket = args[i]
		case strings.HasPrefix(a, "--socket="):
			socket = strings.TrimPrefix(a, "--socket=")
			if socket == "" {
				return usage("--socket needs a path")
			}
		case a == "-h" || a == "--help" || a == "help":
			io.WriteString(stdout, Usage)
			return exitOK
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return usage("no command")
	}
	cmd, rest := rest[0], rest[1:]

	// Each command decides its method and target; the answer is handled
	// alike for all but status and logs.
	var method, target string
	lines := ""
	switch cmd {
	case "status":
		switch len(rest) {
		case 0:
			method, target = "GET", "/v1/status"
		case 1:
			method, target = "GET", "/v1/services/"+escapePath(rest[0])
		default:
			return usage("status takes at most one service name")
		}
	case "start", "stop", "restart":
		if len(rest) != 1 {
			return usage(cmd + " takes one service name")
		}
		method, target = "POST", "/v1/services/"+escapePath(rest[0])+"/"+cmd
	case "signal":
		if len(rest) != 2 {
			return usage("signal takes a signal and a service name: signal HUP web")
		}
		// `kill -HUP` habits: a leading dash is not a flag here.
		rest[0] = strings.TrimPrefix(rest[0], "-")
		if _, err := signals.Parse(rest[0]); err != nil {
			return usage(err.Error())
		}
		method, target = "POST", "/v1/services/"+escapePath(rest[1])+"/signal?signal="+escapePath(rest[0])
	case "reload":
		if len(rest) != 0 {
			return usage("reload takes no arguments")
		}
		method, target = "POST", "/v1/reload"
	case "logs":
		var name []string
		for i := 0; i < len(rest); i++ {
			a := rest[i]
			switch {
			case a == "-n" || a == "--lines":
				if i+1 >= len(rest) {
					return usage(a + " needs a number")
				}
				i++
				lines = rest[i]
			case strings.HasPrefix(a, "--lines="):
				lines = strings.TrimPrefix(a, "--lines=")
			case strings.HasPrefix(a, "-n"):
				lines = strings.TrimPrefix(strings.TrimPrefix(a, "-n"), "=")
			case strings.HasPrefix(a, "-"):
				return usage("logs: unknown flag " + a)
			default:
				name = append(name, a)
			}
		}
		if len(name) != 1 {
			return usage("logs takes one service name")
		}
		target = "/v1/services/" + escapePath(name[0]) + "/logs"
		if lines != "" {
			if n, err := strconv.Atoi(lines); err != nil || n < 1 || n > maxLogLines {
				return usage("-n: want a number from 1 to " + strconv.Itoa(maxLogLines))
			}
			target += "?lines=" + lines
		}
		method = "GET"
	default:
		return usage("unknown command " + strconv.Quote(cmd))
	}
	for _, a := range rest {
		if cmd != "logs" && strings.HasPrefix(a, "-") {
			return usage(cmd + ": unknown flag " + a)
		}
	}

	code, body, err := roundTrip(socket, method, target)
	if err != nil {
		var ce *connectError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "initbox ctl: %v\n", err)
			return exitConnect
		}
		fmt.Fprintf(stderr, "initbox ctl: %s %s: %v\n", method, target, err)
		return exitRefused
	}
	if code != 200 {
		fmt.Fprintf(stderr, "initbox ctl: %s\n", errorMessage(code, body))
		return exitRefused
	}
	if jsonOut {
		stdout.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			io.WriteString(stdout, "\n")
		}
		return exitOK
	}
	v, err := decodeJSON(body)
	if err != nil {
		fmt.Fprintf(stderr, "initbox ctl: the server's answer: %v\n", err)
		return exitRefused
	}
	switch cmd {
	case "status":
		var sts []ServiceStatus
		list := []any{v}
		if m, ok := v.(map[string]any); ok && len(rest) == 0 {
			list, _ = m["services"].([]any)
		}
		for _, e := range list {
			s, ok := statusFromJSON(e)
			if !ok {
				fmt.Fprintf(stderr, "initbox ctl: the server's answer has a malformed service\n")
				return exitRefused
			}
			sts = append(sts, s)
		}
		io.WriteString(stdout, statusTable(sts, time.Now()))
	case "logs":
		m, _ := v.(map[string]any)
		ls, _ := m["lines"].([]any)
		var b []byte
		for _, l := range ls {
			s, _ := l.(string)
			b = append(append(b, s...), '\n')
		}
		stdout.Write(b)
	}
	return exitOK
}

// errorMessage is the server's {"error":...} message, or the status and
// the raw body when the answer is not that.
func errorMessage(code int, body []byte) string {
	if v, err := decodeJSON(body); err == nil {
		if m, ok := v.(map[string]any); ok {
			if s, ok := m["error"].(string); ok {
				return s
			}
		}
	}
	msg := "HTTP " + strconv.Itoa(code)
	if t := statusText(code); t != "" {
		msg += " " + t
	}
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += ": " + b
	}
	return msg
}

// escapePath percent-encodes everything but unreserved characters (RFC 3986),
// so a name or signal cannot change the request's shape.
func escapePath(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&0xf])
	}
	return b.String()
}

// connectError is a failure to reach the socket; Ctl exits 3 on it.
type connectError struct {
	socket string
	err    error
}

func (e *connectError) Error() string {
	hint := "is initbox running with a control socket? It listens when [init] control_socket is set; " +
		"pass its path with --socket PATH or $" + SocketEnv
	switch {
	case errors.Is(e.err, unix.EACCES), errors.Is(e.err, unix.EPERM):
		hint = "only root and the uid initbox runs as may use the control socket; try again as one of them"
	case errors.Is(e.err, unix.ECONNREFUSED):
		hint = "nothing listens there: initbox has exited and left the socket behind, or --socket names the wrong file"
	}
	return "cannot connect to the control socket " + e.socket + ": " + e.err.Error() + "\n  " + hint
}

func (e *connectError) Unwrap() error { return e.err }

// maxAnswer bounds what the client reads: 10000 log lines of up to a few
// KiB each.
const maxAnswer = 64 << 20

// roundTrip sends one request on a new connection to socket and returns the
// answer's status code and body.
func roundTrip(socket, method, target string) (int, []byte, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socket}); err != nil {
		unix.Close(fd)
		return 0, nil, &connectError{socket: socket, err: fmt.Errorf("connect: %w", err)}
	}
	// A blocking descriptor: the client is one goroutine, and a stop may
	// take as long as the service's stop timeout, so no deadline either.
	c := os.NewFile(uintptr(fd), socket)
	defer c.Close()
	req := method + " " + target + " HTTP/1.1\r\nHost: initbox\r\nUser-Agent: initbox-ctl\r\n"
	if method == "POST" {
		req += "Content-Length: 0\r\n"
	}
	req += "Connection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return 0, nil, fmt.Errorf("write: %w", err)
	}
	ans, err := io.ReadAll(io.LimitReader(c, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("read: %w", err)
	}
	return parseResponse(ans)
}

// parseResponse splits an HTTP/1.1 answer into status code and body.
func parseResponse(ans []byte) (int, []byte, error) {
	head, body, ok := bytes.Cut(ans, []byte("\r\n\r\n"))
	if !ok {
		return 0, nil, errors.New("truncated answer from the server")
	}
	lines := strings.Split(string(head), "\r\n")
	f := strings.SplitN(lines[0], " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return 0, nil, fmt.Errorf("malformed status line %q", lines[0])
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 999 {
		return 0, nil, fmt.Errorf("malformed status line %q", lines[0])
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(k, "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > len(body) {
				return 0, nil, errors.New("answer shorter than its Content-Length")
			}
			body = body[:n]
		}
	}
	return code, body, nil
}

// statusTable formats services as `initbox ctl status` shows them.
func statusTable(sts []ServiceStatus, now time.Time) string {
	rows := [][]string{{"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "READY", "HEALTH", "MEMORY", "LAST-EXIT", "REASON"}}
	for _, s := range sts {
		pid, uptime := "-", "-"
		if s.Pid > 0 {
			pid = strconv.Itoa(s.Pid)
		}
		if up(s) && !s.Since.IsZero() {
			uptime = formatAge(now.Sub(s.Since))
		}
		mem := "-"
		if s.MemoryBytes >= 0 {
			mem = formatBytes(s.MemoryBytes)
		}
		rows = append(rows, []string{s.Name, s.State, pid, uptime, strconv.Itoa(s.Restarts),
			dash(s.Ready), dash(s.Health), mem, dash(s.LastExit), dash(s.Reason)})
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatAge shows d with its two largest units: "42s", "3m12s", "2h5m",
// "3d4h".
func formatAge(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + "m" + strconv.FormatInt(s%60, 10) + "s"
	case s < 86400:
		return strconv.FormatInt(s/3600, 10) + "h" + strconv.FormatInt(s%3600/60, 10) + "m"
	}
	return strconv.FormatInt(s/86400, 10) + "d" + strconv.FormatInt(s%86400/3600, 10) + "h"
}

// formatBytes shows n in binary units with one decimal: "512B", "12.3MiB".
func formatBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1024 || u == "TiB" {
			return strconv.FormatFloat(f, 'f', 1, 64) + u
		}
	}
	return ""
}
