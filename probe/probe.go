//go:build linux

// Package probe runs readiness and health checks: a TCP connect, an HTTP
// GET, a file's existence, or a program's exit status (issue #7).
//
// It is small on purpose. HTTP is spoken by hand (one request line, one
// status line) because net/http and its TLS stack would more than double
// the size of the binary; a check needs only the status code. A program is
// started through the reaper like every other child, since nothing else in
// initbox may wait.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/reaper"
)

// Check is one probe. Exactly one of TCP, HTTP, File, Exec is set.
type Check struct {
	TCP  string   // "host:port": a TCP connection is accepted
	HTTP string   // "http://host[:port]/path": a GET answers 2xx or 3xx
	File string   // the path exists (a symlink is followed)
	Exec []string // the program exits 0; argv[0] is looked up in the PATH of its Cmd's Env

	// Command, for Exec, returns the Cmd to start the program with: the
	// service's user, groups, environment, working directory, privileges
	// and cgroup, so that the check runs as the service's command would
	// (issue #14). Run sets its Path, Args, standard files and process
	// group.
	Command func() *launch.Cmd
}

// Limits on what a check reads back: enough for a status line or a
// diagnostic, never enough for a misbehaving peer to exhaust memory.
const (
	maxStatusLine = 4 << 10
	maxOutput     = 512
)

// outputGrace is how long the output of a program that has exited is still
// read: its process group is killed when it exits, so the pipe normally
// reaches EOF at once, but a descendant that left the group (setsid) may
// hold it open for ever.
const outputGrace = 100 * time.Millisecond

// String names the check as its errors do: "connect db:5432",
// "GET http://x/healthz", "stat /run/ready", "exec [pg_isready]".
func (c Check) String() string {
	switch {
	case c.TCP != "":
		return "connect " + c.TCP
	case c.HTTP != "":
		return "GET " + c.HTTP
	case c.File != "":
		return "stat " + c.File
	case len(c.Exec) > 0:
		return fmt.Sprintf("exec %v", c.Exec)
	}
	return "empty check"
}

// Run runs the check once within ctx and returns nil when it passes, or an
// error saying why it failed, prefixed with what was tried:
// "connect db:5432: connection refused", "GET http://x/healthz: status 503",
// "exec [pg_isready]: exit status 2: <first line of its output>".
// When ctx ends first the error reads "<what>: timed out after 2s" (the
// time from Run to ctx's deadline) and matches context.DeadlineExceeded,
// or context.Canceled if ctx was cancelled without a deadline. A program
// still running then is killed with its whole process group, and Run
// returns only once the reaper has collected it.
func (c Check) Run(ctx context.Context) error {
	start := time.Now()
	n := 0
	for _, set := range []bool{c.TCP != "", c.HTTP != "", c.File != "", len(c.Exec) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("probe: %d of tcp, http, file, exec set; exactly one must be", n)
	}
	if ctx.Err() != nil {
		return c.ended(ctx, start)
	}
	var err error
	switch {
	case c.TCP != "":
		err = c.tcp(ctx)
	case c.HTTP != "":
		err = c.http(ctx)
	case c.File != "":
		// os.Stat's error already says "stat PATH: ...".
		_, err = os.Stat(c.File)
	default:
		err = c.exec(ctx)
	}
	if err != nil && (ctx.Err() != nil || past(ctx)) {
		// Whatever failed, it failed because time ran out; say so
		// rather than "i/o timeout" or "signal: killed".
		return c.ended(ctx, start)
	}
	return err
}

// ended is the error for a check cut short by ctx.
func (c Check) ended(ctx context.Context, start time.Time) error {
	if dl, ok := ctx.Deadline(); ok && (ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return fmt.Errorf("%v: %w", c, timeoutError(dl.Sub(start)))
	}
	return fmt.Errorf("%v: %w", c, ctx.Err())
}

// past reports whether ctx's deadline has passed: a dial given the
// deadline may fail on it a moment before ctx says so.
func past(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// timeoutError reads "timed out after 2s" and matches
// context.DeadlineExceeded.
type timeoutError time.Duration

func (e timeoutError) Error() string {
	d := time.Duration(e)
	// The deadline is usually set just before Run, a moment that can
	// stretch under load: 499ms is "500ms", 1.9999s is "2s".
	if d >= 100*time.Millisecond {
		d = d.Round(10 * time.Millisecond)
	} else {
		d = d.Round(time.Millisecond)
	}
	return "timed out after " + d.String()
}
func (timeoutError) Unwrap() error { return context.DeadlineExceeded }

// dial connects to addr and strips the layers net adds ("dial tcp
// 10.0.0.2:5432: connect: ...") down to the cause, which is kept for
// errors.Is.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		return conn, nil
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	var sc *os.SyscallError
	if errors.As(err, &sc) {
		err = sc.Err
	}
	return nil, err
}

func (c Check) tcp(ctx context.Context) error {
	conn, err := dial(ctx, c.TCP)
	if err != nil {
		return fmt.Errorf("connect %s: %w", c.TCP, err)
	}
	return conn.Close()
}

func (c Check) http(ctx context.Context) error {
	what := "GET " + c.HTTP
	u, err := url.Parse(c.HTTP)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%s: only http://host[:port]/path URLs are supported", what)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	conn, err := dial(ctx, net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return fmt.Errorf("%s: connect: %w", what, err)
	}
	defer conn.Close()
	// A deadline in the past makes the pending Read or Write return at
	// once; it covers a ctx cancelled without a deadline too.
	// It is set only once ctx has ended, not from ctx's deadline, so that
	// Run sees ctx ended and says "timed out".
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: initbox\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	line, err := readLine(conn, maxStatusLine)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	code, err := statusCode(line)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code < 200 || code > 399 {
		return fmt.Errorf("%s: status %d", what, code)
	}
	return nil
}

// readLine reads up to the first '\n' from r, at most max bytes.
func readLine(r io.Reader, max int) ([]byte, error) {
	buf := make([]byte, max)
	n := 0
	for n < max {
		m, err := r.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			return buf[:n+i], nil
		}
		n += m
		if err == io.EOF {
			return nil, errors.New("connection closed before a status line")
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no status line in the first %d bytes", max)
}

// statusCode parses "HTTP/1.1 200 OK".
func statusCode(line []byte) (int, error) {
	s := strings.TrimSuffix(string(line), "\r")
	proto, rest, _ := strings.Cut(s, " ")
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/") || len(code) != 3 || err != nil {
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return 0, fmt.Errorf("malformed status line %q", s)
	}
	return n, nil
}

func (c Check) exec(ctx context.Context) error {
	what := c.String()
	if c.Command == nil {
		return fmt.Errorf("%s: probe: no Command to start it with", what)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer r.Close()
	cmd := c.Command()
	cmd.Path, cmd.Args = c.Exec[0], c.Exec
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, w, w
	// Its own group, so that a timeout kills what it started too.
	cmd.Setpgid, cmd.Foreground = true, false
	err = cmd.Start()
	// The child has its copy; ours would keep the pipe from reaching EOF.
	w.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	pid, exited := cmd.Pid, cmd.Exited()

	var out []byte
	read := make(chan struct{})
	go func() {
		defer close(read)
		// Keep the head, drain the rest, so the child never blocks on
		// a full pipe.
		out, _ = io.ReadAll(io.LimitReader(r, maxOutput))
		io.Copy(io.Discard, r)
	}()

	var e reaper.Exit
	select {
	case e = <-exited:
	case <-ctx.Done():
		reaper.KillGroup(pid, syscall.SIGKILL)
		e = <-exited
	}
	// Leftovers of the group would pile up at every run of the check.
	reaper.KillGroup(pid, syscall.SIGKILL)
	r.SetReadDeadline(time.Now().Add(outputGrace))
	<-read

	if e.Status.Exited() && e.Status.ExitStatus() == 0 {
		return nil
	}
	if line := firstLine(out); line != "" {
		return fmt.Errorf("%s: %v: %s", what, e, line)
	}
	return fmt.Errorf("%s: %v", what, e)
}

// firstLine is the first non-blank line of out, trimmed.
func firstLine(out []byte) string {
	for line := range strings.SplitSeq(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return strings.ToValidUTF8(line, "\uFFFD")
		}
	}
	return ""
}
