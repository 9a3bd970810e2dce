package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
)

// `initbox exec` (issue #18) speaks HTTP only to begin. The client sends
//
//	POST /v1/services/NAME/exec  {"args":[...],"env":["K=V"],"tty":false}
//
// with its stdin, stdout and stderr (or a terminal's) as SCM_RIGHTS. The
// answer is 200 and a line {"pid":N} once the program runs; then the
// client sends lines {"signal":N} for the signals it gets, and the server
// ends the answer with {"exit_status":N,"exit":"..."} when the program
// has exited. A client that goes away first is a hangup: SIGHUP to the
// program.

// Exit statuses of Exec besides the program's own.
const (
	execFailed     = 125 // initbox exec or the initbox it asks failed
	execCannotRun  = 126
	execNotFound   = 127
	execUsageError = 2
)

// ExecUsage is the help of `initbox exec`.
const ExecUsage = `Usage: initbox exec [OPTIONS] SERVICE [--] PROGRAM [ARGS]

Runs PROGRAM as SERVICE's command runs: its user and groups, environment and
env files, working directory, privileges, cgroup and limits. The running
initbox starts it and is its parent. PROGRAM gets this command's stdin, stdout
and stderr, or a new terminal. Signals sent to initbox exec reach PROGRAM
(SIGHUP if initbox exec dies first), and PROGRAM's exit status is initbox
exec's. SERVICE must be running; PROGRAM is stopped with SERVICE's stop
signal and timeout when initbox stops SERVICE or itself.

options:
  -t, --tty            give PROGRAM a terminal (default when stdin and stdout
                       are terminals)
  -T, --no-tty         no terminal: PROGRAM gets stdin, stdout and stderr as is
  -i, --interactive    accepted for docker exec's habits (-it): stdin is always
                       passed
  -e, --env KEY=VALUE  set a variable over the service's (repeatable)
  --socket PATH        the control socket; found as initbox ctl finds it

exit status: PROGRAM's (128+N when signal N killed it); 125 when initbox exec
or initbox failed (service not running, refused, cannot connect); 126 PROGRAM
cannot be run; 127 PROGRAM not found; 2 usage.
`

// execRoute answers POST /v1/services/NAME/exec.
func execRoute(api API, log *logging.Logger, req request, name string, uid int) response {
	v, err := decodeJSON(req.body)
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return errorResponse(400, `exec: want a JSON body {"args":["PROGRAM",...],"env":["KEY=VALUE",...],"tty":false}`)
	}
	args, ok := stringList(m["args"])
	if !ok || len(args) == 0 || args[0] == "" {
		return errorResponse(400, "exec: args: want the program and its arguments, as strings")
	}
	env, ok := stringList(m["env"])
	for _, kv := range env {
		if k, _, found := strings.Cut(kv, "="); !found || k == "" {
			ok = false
		}
	}
	if !ok {
		return errorResponse(400, "exec: env: want KEY=VALUE strings")
	}
	tty, _ := m["tty"].(bool)
	if len(req.files) != 3 {
		return errorResponse(400, "exec: send the program's stdin, stdout and stderr with the request (SCM_RIGHTS)")
	}
	log.Info("control: exec", logging.String("service", name), logging.Int("uid", uid), logging.Strings("args", args))
	p, err := api.Exec(name, ExecRequest{Args: args, Env: env, Stdin: req.files[0], Stdout: req.files[1], Stderr: req.files[2], Terminal: tty})
	if err != nil {
		code := 500
		switch {
		case errors.Is(err, ErrUnknownService):
			code = 404
		case errors.Is(err, ErrServiceNotRunning):
			code = 409
		}
		b := append([]byte(`{"error":`), appendString(nil, err.Error())...)
		var ec ExitCoder
		if errors.As(err, &ec) {
			b = strconv.AppendInt(append(b, `,"exit_status":`...), int64(ec.ExitCode()), 10)
		}
		return jsonResponse(code, append(b, '}'))
	}
	body := strconv.AppendInt([]byte(`{"pid":`), int64(p.Pid()), 10)
	return response{code: 200, ctype: "application/x-ndjson", body: append(body, "}\n"...),
		stream: func(c *os.File) { execStream(c, p, log) }}
}

// stringList converts a JSON array of strings; nil (absent) is an empty
// list.
func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, e := range list {
		if out[i], ok = e.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

// execStream passes the client's signals to p until it exits, then sends
// how it ended.
func execStream(c *os.File, p Process, log *logging.Logger) {
	exited := make(chan struct{})
	go func() {
		defer log.Recover("exec connection")
		r := bufio.NewReaderSize(c, 256)
		for {
			line, err := r.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				select {
				case <-exited:
				default:
					// The client is gone (killed, its terminal closed):
					// a hangup, as at a terminal's end.
					_ = p.Signal(unix.SIGHUP)
				}
				return
			}
			if sig, ok := signalLine(line); ok {
				_ = p.Signal(sig)
			}
		}
	}()
	code, how := p.Wait()
	close(exited)
	b := strconv.AppendInt([]byte(`{"exit_status":`), int64(code), 10)
	b = append(appendString(append(b, `,"exit":`...), how), "}\n"...)
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	c.Write(b)
}

// signalLine reads a client's {"signal":N}.
func signalLine(line []byte) (syscall.Signal, bool) {
	v, err := decodeJSON(line)
	m, _ := v.(map[string]any)
	num, _ := m["signal"].(jsonNumber)
	n, nerr := strconv.Atoi(string(num))
	if err != nil || nerr != nil || n < 1 || n > 64 {
		return 0, false
	}
	return syscall.Signal(n), true
}

// execOptions is what `initbox exec`'s command line asks for.
type execOptions struct {
	socket  string
	tty     int // -1 no, 0 when stdin and stdout are terminals, 1 yes
	env     []string
	service string
	args    []string
	help    bool
}

// parseExec reads `initbox exec`'s arguments; options end at SERVICE.
func parseExec(args []string, getenv func(string) string) (execOptions, error) {
	o := execOptions{socket: getenv(SocketEnv)}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--"; i++ {
		a := args[i]
		value := func() (string, error) {
			if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
				return v, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		if shortFlags(a, "itT") {
			// docker exec's habits: -it, -ti; stdin is always passed.
			for _, c := range a[1:] {
				switch c {
				case 't':
					o.tty = 1
				case 'T':
					o.tty = -1
				}
			}
			continue
		}
		switch name, _, _ := strings.Cut(a, "="); name {
		case "-h", "--help":
			o.help = true
			return o, nil
		case "--tty":
			o.tty = 1
		case "--no-tty":
			o.tty = -1
		case "--interactive":
		case "-e", "--env":
			kv, err := value()
			if err != nil {
				return o, err
			}
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return o, fmt.Errorf("%s %q: want KEY=VALUE", name, kv)
			}
			o.env = append(o.env, kv)
		case "--socket":
			s, err := value()
			if err != nil || s == "" {
				return o, errors.New("--socket needs a path")
			}
			o.socket = s
		default:
			return o, fmt.Errorf("unknown option %s", a)
		}
	}
	if i < len(args) && args[i] == "--" {
		i++
	}
	if i >= len(args) {
		return o, errors.New("no service named")
	}
	o.service, i = args[i], i+1
	if i < len(args) && args[i] == "--" {
		i++
	}
	if i >= len(args) {
		return o, errors.New("no program given: initbox exec SERVICE -- PROGRAM [ARGS]")
	}
	o.args = args[i:]
	return o, nil
}

// shortFlags reports whether a is one or more of the single-letter flags
// in set, as -t or -it.
func shortFlags(a, set string) bool {
	if len(a) < 2 || a[0] != '-' || a[1] == '-' {
		return false
	}
	for _, c := range a[1:] {
		if !strings.ContainsRune(set, c) {
			return false
		}
	}
	return true
}

// ExecSignals are the signals the client of `initbox exec` passes on to
// the program (WINCH resizes its terminal instead).
func ExecSignals() []os.Signal {
	return []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}
}

// Exec is `initbox exec`: it asks the initbox at the control socket to run
// a program as a service runs, and returns the program's exit status (see
// ExecUsage).
func Exec(args []string, stdin, stdout, stderr *os.File) int {
	o, err := parseExec(args, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "initbox exec: %v\nUsage: initbox exec [OPTIONS] SERVICE [--] PROGRAM [ARGS]\nTry 'initbox exec --help'.\n", err)
		return execUsageError
	}
	if o.help {
		io.WriteString(stdout, ExecUsage)
		return 0
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "initbox exec: "+format+"\n", a...)
		return execFailed
	}
	fd, socket, err := connect(o.socket)
	if err != nil {
		return fail("%v", err)
	}
	conn := os.NewFile(uintptr(fd), socket)
	defer conn.Close()

	tty := o.tty > 0 || o.tty == 0 && isTerminal(stdin) && isTerminal(stdout)
	files := []*os.File{stdin, stdout, stderr}
	var t *terminal
	if tty {
		if t, err = openTerminal(stdin, stdout); err != nil {
			return fail("a terminal for the program: %v", err)
		}
		defer t.restore()
		files = []*os.File{t.peer, t.peer, t.peer}
		if term, ok := os.LookupEnv("TERM"); ok && !hasKey(o.env, "TERM") {
			o.env = append([]string{"TERM=" + term}, o.env...)
		}
	}
	if err := sendExec(fd, o, tty, files); err != nil {
		return fail("POST /v1/services/%s/exec: %v", o.service, err)
	}
	if t != nil {
		t.peer.Close() // the program has it now
	}
	r := bufio.NewReader(conn)
	code, body, err := readExecHead(r)
	if err != nil {
		return fail("%v", err)
	}
	if code != 200 {
		status := execFailed
		if v, derr := decodeJSON(body); derr == nil {
			m, _ := v.(map[string]any)
			if n, ok := m["exit_status"].(jsonNumber); ok {
				status, _ = strconv.Atoi(string(n))
			}
		}
		fmt.Fprintf(stderr, "initbox exec: %s\n", errorMessage(code, body))
		return status
	}
	if t != nil {
		t.start(stdin, stdout)
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, ExecSignals()...)
	defer signal.Stop(sigc)
	go func() {
		for s := range sigc {
			sig := s.(syscall.Signal)
			if sig == unix.SIGWINCH {
				if t != nil {
					t.resize() // the kernel tells the program
				}
				continue
			}
			conn.Write(strconv.AppendInt([]byte(`{"signal":`), int64(sig), 10))
			conn.Write([]byte("}\n"))
		}
	}()
	status := -1
	for status < 0 {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return fail("the connection to initbox ended before the program's exit status (%v)", err)
		}
		v, _ := decodeJSON(line)
		m, _ := v.(map[string]any)
		if n, ok := m["exit_status"].(jsonNumber); ok {
			status, _ = strconv.Atoi(string(n))
		}
	}
	if t != nil {
		t.drain()
	}
	return status
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// sendExec sends the request with files as SCM_RIGHTS on the first bytes.
func sendExec(fd int, o execOptions, tty bool, files []*os.File) error {
	body := []byte(`{"args":[`)
	for i, a := range o.args {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendString(body, a)
	}
	body = append(body, `],"env":[`...)
	for i, kv := range o.env {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendString(body, kv)
	}
	body = append(body, `],"tty":`...)
	body = strconv.AppendBool(body, tty)
	body = append(body, '}')
	msg := []byte("POST /v1/services/" + escapePath(o.service) + "/exec HTTP/1.1\r\nHost: initbox\r\nUser-Agent: initbox-exec\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	msg = append(msg, body...)
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	n, err := unix.SendmsgN(fd, msg, unix.UnixRights(fds...), nil, 0)
	if err != nil {
		return os.NewSyscallError("sendmsg", err)
	}
	for n < len(msg) {
		m, err := unix.Write(fd, msg[n:])
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		n += m
	}
	return nil
}

// readExecHead reads the answer's head; a body is read for an error (it
// has a length), not for 200 (it streams).
func readExecHead(r *bufio.Reader) (int, []byte, error) {
	var head []byte
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, nil, fmt.Errorf("reading initbox's answer: %w", err)
		}
		if len(head)+len(line) > maxHead {
			return 0, nil, errors.New("initbox's answer has an oversized head")
		}
		head = append(head, line...)
	}
	if strings.HasPrefix(string(head), "HTTP/1.1 200 ") {
		return 200, nil, nil
	}
	rest, err := io.ReadAll(io.LimitReader(r, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading initbox's answer: %w", err)
	}
	return parseResponse(append(head, rest...))
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// terminal is the pseudo-terminal `initbox exec --tty` gives the program:
// the program has its peer (the pts) as controlling terminal; initbox
// exec copies between its own stdin and stdout and the master, with its
// own terminal in raw mode so that ^C, ^Z and the rest reach the program's
// line discipline as bytes.
type terminal struct {
	master, peer *os.File
	in, out      *os.File
	saved        *unix.Termios // stdin's mode before raw; nil if not a terminal
	copied       chan struct{} // closed when the program's output is all out
}

func openTerminal(in, out *os.File) (*terminal, error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master := os.NewFile(uintptr(m), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, os.NewSyscallError("ioctl TIOCSPTLCK", err)
	}
	// TIOCGPTPEER (Linux 4.13) opens the peer without a path, which in a
	// container may name another devpts; the path is the fallback.
	p, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
		if err != nil {
			master.Close()
			return nil, os.NewSyscallError("ioctl TIOCGPTN", err)
		}
		fd, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			master.Close()
			return nil, fmt.Errorf("open /dev/pts/%d: %w", n, err)
		}
		p = uintptr(fd)
	}
	t := &terminal{master: master, peer: os.NewFile(p, "pts"), in: in, out: out, copied: make(chan struct{})}
	t.resize()
	return t, nil
}

// resize gives the program's terminal the size of ours.
func (t *terminal) resize() {
	for _, f := range []*os.File{t.out, t.in} {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
			return
		}
	}
}

// start puts stdin in raw mode, when it is a terminal, and copies.
func (t *terminal) start(in, out *os.File) {
	fd := int(in.Fd())
	if saved, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		raw := *saved
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(fd, unix.TCSETS, &raw) == nil {
			t.saved = saved
		}
	}
	go func() {
		io.Copy(t.master, in)
		// Our input ended (a pipe, not a person): the program's
		// terminal reads it as an end of file, ^D.
		t.master.Write([]byte{4})
	}()
	go func() {
		// EIO once the program and all that shares its terminal are gone.
		io.Copy(out, t.master)
		close(t.copied)
	}()
}

// drain waits, briefly, for the program's last output: a child it left in
// the background may hold the terminal open.
func (t *terminal) drain() {
	select {
	case <-t.copied:
	case <-time.After(time.Second):
	}
}

func (t *terminal) restore() {
	if t.saved != nil {
		unix.IoctlSetTermios(int(t.in.Fd()), unix.TCSETS, t.saved)
	}
	t.master.Close()
}
