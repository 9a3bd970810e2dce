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

// DefaultSocket is the first place of Locations: where the control socket
// is when init.control_socket is "auto" (the default) and /run is writable.
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
  start NAME...        start stopped, exited or failed services
  stop NAME...         stop services; they stay stopped
  restart NAME...      stop services, then start them
                       (start, stop, restart: [--wait [--timeout D]])
  signal SIG NAME      send a signal (HUP, SIGHUP, 1, RTMIN+3)
  reload               re-read the config
  logs [-n N] NAME     the last N lines of a service's output (default 100)

--socket defaults to $INITBOX_CONTROL_SOCKET, else the first of these where
an initbox answers (where initbox puts it when the config does not say):
/run/initbox/control.sock, $XDG_RUNTIME_DIR/initbox/control.sock,
/tmp/initbox-UID/control.sock, the abstract @initbox/mnt-N/control.sock.
--json prints the server's JSON answer as is.
--wait returns once the services are stopped (nothing of them left) or, for
start and restart, running and ready; with --timeout D (30s, 2m) at most
after D. It fails (exit 1, with the reason) when one cannot get there.
exit status: 0 ok, 1 refused or failed, 2 usage, 3 cannot connect.
`

// Ctl is `initbox ctl [--socket PATH] [--json] COMMAND [ARGS]`: status
// [NAME] | start NAME | stop NAME | restart NAME | signal SIG NAME | reload |
// logs [-n N] NAME. The socket defaults to $INITBOX_CONTROL_SOCKET, else
// the first of Locations where an initbox answers. It returns the exit
// status: 0 ok, 1 the server refused or failed (message on stderr), 2
// usage, 3 cannot connect (the message names the sockets tried and
// suggests the fix).
func Ctl(args []string, stdout, stderr io.Writer) int {
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "initbox ctl: %s\n\n%s", msg, Usage)
		return exitUsage
	}
	// "" looks in the places of Locations, where initbox puts the
	// socket when the config does not name one.
	socket := os.Getenv(SocketEnv)
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
		names, wait, werr := parseWait(cmd, rest)
		if werr != "" {
			return usage(werr)
		}
		return action(socket, cmd, names, wait, jsonOut, stdout, stderr)
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

	body, rc := ask(socket, method, target, stderr)
	if rc != exitOK {
		return rc
	}
	if jsonOut {
		writeJSON(stdout, body)
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

// waitSpec is what --wait and --timeout asked for; the zero value waits
// for nothing.
type waitSpec struct {
	on      bool
	timeout string // "" without a limit
}

// parseWait reads start, stop and restart's arguments: names, --wait,
// --timeout D (or --timeout=D). problem is a usage error.
func parseWait(cmd string, args []string) (names []string, w waitSpec, problem string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--wait":
			w.on = true
		case a == "--timeout":
			if i+1 >= len(args) {
				return nil, w, "--timeout needs a duration"
			}
			i++
			w.timeout = args[i]
		case strings.HasPrefix(a, "--timeout="):
			w.timeout = strings.TrimPrefix(a, "--timeout=")
		case strings.HasPrefix(a, "-"):
			return nil, w, cmd + ": unknown flag " + a
		default:
			names = append(names, a)
		}
	}
	if len(names) == 0 {
		return nil, w, cmd + " takes one or more service names"
	}
	if w.timeout != "" {
		if !w.on {
			return nil, w, "--timeout goes with --wait"
		}
		if d, err := time.ParseDuration(w.timeout); err != nil || d <= 0 {
			return nil, w, "--timeout: want a duration > 0, e.g. 30s"
		}
	}
	for _, n := range names {
		if strings.Contains(n, ",") {
			return nil, w, "no service name has a comma: " + strconv.Quote(n)
		}
	}
	return names, w, ""
}

// action asks for cmd (start, stop, restart) of each service in turn,
// then, with --wait, waits until all have reached its end.
func action(socket, cmd string, names []string, w waitSpec, jsonOut bool, stdout, stderr io.Writer) int {
	var last []byte
	for _, n := range names {
		body, rc := ask(socket, "POST", "/v1/services/"+escapePath(n)+"/"+cmd, stderr)
		if rc != exitOK {
			return rc
		}
		last = body
	}
	if w.on {
		goal := GoalUp
		if cmd == "stop" {
			goal = GoalStopped
		}
		escaped := make([]string, len(names))
		for i, n := range names {
			escaped[i] = escapePath(n)
		}
		target := "/v1/wait?for=" + string(goal) + "&services=" + strings.Join(escaped, ",")
		if w.timeout != "" {
			target += "&timeout=" + escapePath(w.timeout)
		}
		body, rc := ask(socket, "GET", target, stderr)
		if rc != exitOK {
			return rc
		}
		last = body
	}
	if jsonOut {
		writeJSON(stdout, last)
	}
	return exitOK
}

// ask makes one request to socket: the body of a 200 answer, or a
// non-zero exit status once what went wrong is on stderr.
func ask(socket, method, target string, stderr io.Writer) ([]byte, int) {
	code, body, rc := ctlRequest(socket, method, target, stderr)
	if rc != exitOK {
		return nil, rc
	}
	if code != 200 {
		fmt.Fprintf(stderr, "initbox ctl: %s\n", errorMessage(code, body))
		return nil, exitRefused
	}
	return body, exitOK
}

// writeJSON prints the server's JSON answer as is, on a line of its own.
func writeJSON(w io.Writer, body []byte) {
	w.Write(body)
	if !bytes.HasSuffix(body, []byte("\n")) {
		io.WriteString(w, "\n")
	}
}

// ctlRequest sends one request to socket ("" looks in the places of
// Locations) and returns the answer's code and body, or a non-zero exit
// status once the failure is on stderr.
func ctlRequest(socket, method, target string, stderr io.Writer) (int, []byte, int) {
	var code int
	var body []byte
	fd, socket, err := connect(socket)
	if err == nil {
		code, body, err = exchange(fd, socket, method, target)
	}
	if err != nil {
		var ce *connectError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "initbox ctl: %v\n", err)
			return 0, nil, exitConnect
		}
		fmt.Fprintf(stderr, "initbox ctl: %s %s: %v\n", method, target, err)
		return 0, nil, exitRefused
	}
	return code, body, exitOK
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

// attempt is one place ctl tried, and why it could not talk there.
type attempt struct {
	socket string
	err    error
}

// connectError is a failure to reach the socket; Ctl exits 3 on it.
type connectError struct {
	tried []attempt // one for --socket or $INITBOX_CONTROL_SOCKET
	auto  bool      // the places of Locations were tried
}

func (e *connectError) Error() string {
	// The hint fits the most telling failure: a socket that refused us
	// says more than the places where there was none.
	main := e.tried[0]
	for _, a := range e.tried {
		// An abstract name nobody has bound is refused, not missing.
		absent := errors.Is(a.err, unix.ENOENT) || a.socket[0] == '@' && errors.Is(a.err, unix.ECONNREFUSED)
		if !absent {
			main = a
			break
		}
	}
	hint := "is initbox running with a control socket? It listens when [init] control_socket is set; " +
		"pass its path with --socket PATH or $" + SocketEnv
	if e.auto {
		hint = "is initbox running, with init.control_socket left as \"auto\"? At start it logs one line " +
			"\"control socket at PATH\"; pass another path with --socket PATH or $" + SocketEnv +
			". An initbox running as another uid keeps its socket in /tmp/initbox-THATUID/: run ctl as that uid"
	}
	switch {
	case errors.Is(main.err, unix.EACCES), errors.Is(main.err, unix.EPERM):
		hint = "only root and the uid initbox runs as may use the control socket; try again as one of them"
	case errors.Is(main.err, unix.ECONNREFUSED):
		hint = "nothing listens there: initbox has exited and left the socket behind, or --socket names the wrong file"
	}
	if !e.auto {
		return "cannot connect to the control socket " + main.socket + ": " + main.err.Error() + "\n  " + hint
	}
	var b strings.Builder
	b.WriteString("cannot connect to the control socket; looked at:")
	for _, a := range e.tried {
		b.WriteString("\n  " + a.socket + ": " + a.err.Error())
	}
	return b.String() + "\n  " + hint
}

func (e *connectError) Unwrap() []error {
	errs := make([]error, len(e.tried))
	for i, a := range e.tried {
		errs[i] = a.err
	}
	return errs
}

// maxAnswer bounds what the client reads: 10000 log lines of up to a few
// KiB each.
const maxAnswer = 64 << 20

// dial connects to the unix stream socket at socket ("@name": abstract)
// and returns the blocking descriptor.
func dial(socket string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socket}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

// connect connects to socket, or with socket "" to the first of
// Locations where an initbox answers, and returns the descriptor and the
// path; the error is a *connectError.
func connect(socket string) (int, string, error) {
	if socket == "" {
		return dialAuto(defaultSearch())
	}
	fd, err := dial(socket)
	if err != nil {
		return -1, socket, &connectError{tried: []attempt{{socket, err}}}
	}
	return fd, socket, nil
}

// exchange sends one request on the connection fd, which it closes, and
// returns the answer's status code and body.
func exchange(fd int, socket, method, target string) (int, []byte, error) {
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
