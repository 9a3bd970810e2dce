//go:build linux

package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/reaper"
)

// forkStarter is a Starter that really forks and waits for its one child
// itself: enough for tests, where no reaper owns wait.
type forkStarter struct{}

func (forkStarter) Start(fork func() (int, error)) (int, <-chan reaper.Exit, error) {
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	c := make(chan reaper.Exit, 1)
	go func() {
		e := reaper.Exit{Pid: pid}
		for {
			_, err := unix.Wait4(pid, &e.Status, 0, &e.Rusage)
			if err != unix.EINTR {
				break
			}
		}
		e.Time = time.Now()
		c <- e
	}()
	return pid, c, nil
}

// forked returns a Command for checks that really fork, with env and
// dir; the test process waits for its children itself.
func forked(env []string, dir string) func() *launch.Cmd {
	return func() *launch.Cmd {
		return launch.New(forkStarter{}, nil).Cmd(&launch.Cmd{Env: env, Dir: dir, Signals: launch.CleanSignals})
	}
}

// run runs c with a timeout and checks the outcome: want "" means pass,
// otherwise the error must contain want.
func run(t *testing.T, c Check, timeout time.Duration, want string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.Run(ctx)
	switch {
	case want == "" && err != nil:
		t.Errorf("%v: Run() = %v, want nil", c, err)
	case want != "" && err == nil:
		t.Errorf("%v: Run() = nil, want an error containing %q", c, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%v: Run() = %q, want it to contain %q", c, err, want)
	}
	return err
}

func TestValidate(t *testing.T) {
	for _, c := range []Check{
		{},
		{TCP: "a:1", File: "/"},
		{HTTP: "http://a/", Exec: []string{"true"}},
	} {
		run(t, c, time.Second, "exactly one must be")
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name, addr, want string
		is               error
	}{
		{"accepted", ln.Addr().String(), "", nil},
		{"refused", refused, "connect " + refused + ": connection refused", syscall.ECONNREFUSED},
		{"no port", "127.0.0.1", "connect 127.0.0.1: ", nil},
		{"bad port", "127.0.0.1:http-nope", "connect 127.0.0.1:http-nope: ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t, Check{TCP: tc.addr}, 5*time.Second, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

// rawServer accepts connections and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serve(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestHTTP(t *testing.T) {
	var gotReq *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			gotReq = r
			w.Write([]byte("fine"))
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/fail":
			http.Error(w, "down", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	silent := rawServer(t, func(c net.Conn) {
		// Read the request, never answer.
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	garbage := rawServer(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH\r\n")) })
	hangup := rawServer(t, func(c net.Conn) { c.Read(make([]byte, 4096)) })
	long := rawServer(t, func(c net.Conn) { c.Write([]byte(strings.Repeat("x", 5000))) })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name, url string
		timeout   time.Duration
		want      string
	}{
		{"200", srv.URL + "/ok?x=1", 5 * time.Second, ""},
		{"302", srv.URL + "/redirect", 5 * time.Second, ""},
		{"503", srv.URL + "/fail", 5 * time.Second, "GET " + srv.URL + "/fail: status 503"},
		{"404", srv.URL + "/nope", 5 * time.Second, "status 404"},
		{"silent", "http://" + silent + "/", 300 * time.Millisecond, "GET http://" + silent + "/: timed out after 300ms"},
		{"garbage", "http://" + garbage + "/", 5 * time.Second, `malformed status line "SSH-2.0-OpenSSH"`},
		{"hangup", "http://" + hangup + "/", 5 * time.Second, "connection closed before a status line"},
		{"long", "http://" + long + "/", 5 * time.Second, "no status line in the first 4096 bytes"},
		{"refused", "http://" + refused + "/", 5 * time.Second, "connect: connection refused"},
		{"https", "https://" + garbage + "/", 5 * time.Second, "only http://"},
		{"no host", "http:///x", 5 * time.Second, "only http://"},
		{"bad url", "http://[::1/", 5 * time.Second, "missing ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := run(t, Check{HTTP: tc.url}, tc.timeout, tc.want)
			if strings.Contains(tc.want, "timed out") {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("took %v with a timeout of %v", d, tc.timeout)
				}
			}
		})
	}
	if gotReq == nil {
		t.Fatal("the server saw no request for /ok")
	}
	if gotReq.URL.RequestURI() != "/ok?x=1" || gotReq.UserAgent() != "initbox" || gotReq.Host != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("request: URI %q, User-Agent %q, Host %q", gotReq.URL.RequestURI(), gotReq.UserAgent(), gotReq.Host)
	}
}

func TestHTTPCancel(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) { c.Read(make([]byte, 4096)); time.Sleep(10 * time.Second) })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err := Check{HTTP: "http://" + silent + "/"}.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "ready")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{f, ""},
		{dir, ""},
		{filepath.Join(dir, "missing"), "stat " + filepath.Join(dir, "missing") + ": no such file or directory"},
	} {
		run(t, Check{File: tc.path}, time.Second, tc.want)
	}
}

var env = []string{"PATH=/usr/bin:/bin"}

func TestExec(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		c    Check
		want string
		is   error
	}{
		{"exit 0", Check{Exec: []string{"true"}}, "", nil},
		{"exit 3 with output", Check{Exec: []string{"sh", "-c", "echo; echo '  db down  ' >&2; echo more; exit 3"}},
			"exec [sh -c echo; echo '  db down  ' >&2; echo more; exit 3]: exit status 3: db down", nil},
		{"exit 1 silent", Check{Exec: []string{"false"}}, "exec [false]: exit status 1", nil},
		{"signal", Check{Exec: []string{"sh", "-c", "kill -TERM $$"}}, "signal: terminated", nil},
		{"much output", Check{Exec: []string{"sh", "-c", "yes hello | head -c 1000000; exit 4"}}, "exit status 4: hello", nil},
		{"not found", Check{Exec: []string{"no-such-program-initbox"}}, "exec [no-such-program-initbox]: exec no-such-program-initbox: not found in PATH", launch.ErrNotFound},
		{"not executable", Check{Exec: []string{"/etc/passwd"}}, "permission denied", launch.ErrCannotExec},
		{"env and dir", Check{Exec: []string{"sh", "-c", `test "$X" = y && test "$(pwd)" = "$D"`}, Command: forked(append([]string{"X=y", "D=" + dir}, env...), dir)}, "", nil},
		{"missing dir", Check{Exec: []string{"true"}, Command: forked(env, filepath.Join(dir, "missing"))}, "working directory: stat " + filepath.Join(dir, "missing"), nil},
		{"stdin is null", Check{Exec: []string{"sh", "-c", "read x; test -z \"$x\""}}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.Command == nil {
				tc.c.Command = forked(env, "")
			}
			err := run(t, tc.c, 10*time.Second, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

// TestExecLeftover: a check that exits, leaving a process in its group
// holding the pipe, passes at once and the leftover is killed.
func TestExecLeftover(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	run(t, Check{Exec: []string{"sh", "-c", `sleep 100 & echo $! > "$0"`, pidFile}, Command: forked(env, "")}, 10*time.Second, "")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	waitDead(t, readPid(t, pidFile))
}

func TestExecTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := Check{Exec: []string{"sh", "-c", `sleep 100 & echo $! > "$0"; sleep 100`, pidFile}, Command: forked(env, "")}
	start := time.Now()
	err := run(t, c, 500*time.Millisecond, "timed out after 500ms")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a timeout of 500ms", d)
	}
	waitDead(t, readPid(t, pidFile))
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitDead waits for pid to be gone or a zombie: the test process is not
// its parent, so whether it is reaped is up to someone else.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return
		}
	}
	t.Errorf("process %d (sleep 100) still alive", pid)
	syscall.Kill(pid, syscall.SIGKILL)
}

func TestCancelledBefore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Check{Exec: []string{"true"}}.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
}

func TestStatusCode(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r", 200, true},
		{"HTTP/1.0 302 Found", 302, true},
		{"HTTP/1.1 204", 204, true},
		{"HTTP/1.1 2000 OK", 0, false},
		{"HTTP/1.1 abc OK", 0, false},
		{"ICY 200 OK", 0, false},
		{"", 0, false},
	} {
		code, err := statusCode([]byte(tc.line))
		if code != tc.code || (err == nil) != tc.ok {
			t.Errorf("statusCode(%q) = %d, %v; want %d, ok %v", tc.line, code, err, tc.code, tc.ok)
		}
	}
}
