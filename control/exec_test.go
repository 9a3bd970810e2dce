package control

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// tempFile is an empty file for a client's stdin, stdout or stderr.
func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func contents(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExecClient: `initbox exec` against a server: what the program is
// given, its status as the client's, and the client's own failures.
func TestExecClient(t *testing.T) {
	path, _, logs := startServer(t)
	for _, tc := range []struct {
		args       []string
		code       int
		out, diag  string
		serverLogs string
	}{
		{[]string{"-T", "-e", "A=1", "web", "--", "echo", "hi"}, 3, `args=["echo" "hi"] env=["A=1"] tty=false`, "", `control: exec`},
		{[]string{"--no-tty", "--env=B=2", "web", "echo", "-n"}, 3, `args=["echo" "-n"] env=["B=2"] tty=false`, "", ""},
		{[]string{"-iT", "web", "--", "echo"}, 3, `args=["echo"] env=[] tty=false`, "", ""},
		{[]string{"--interactive", "-T", "web", "echo"}, 3, `tty=false`, "", ""},
		{[]string{"-ix", "web", "--", "true"}, 2, "", "unknown option -ix", ""},
		{[]string{"-T", "worker", "--", "true"}, 125, "", "initbox exec: service not running: worker is backoff", ""},
		{[]string{"-T", "nosuch", "--", "true"}, 125, "", `unknown service "nosuch"`, ""},
		{[]string{"-T", "web", "--", "nope"}, 127, "", "executable file not found", ""},
		{[]string{"web"}, 2, "", "no program given", ""},
		{[]string{}, 2, "", "no service named", ""},
		{[]string{"--bogus", "web", "--", "true"}, 2, "", "unknown option --bogus", ""},
		{[]string{"-e", "NOEQUALS", "web", "--", "true"}, 2, "", `want KEY=VALUE`, ""},
		{[]string{"--help"}, 0, "Usage: initbox exec [OPTIONS] SERVICE [--] PROGRAM [ARGS]", "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdin, stdout, stderr := tempFile(t, "in"), tempFile(t, "out"), tempFile(t, "err")
			code := Exec(append([]string{"--socket", path}, tc.args...), stdin, stdout, stderr)
			out, diag := contents(t, stdout), contents(t, stderr)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(diag, tc.diag) {
				t.Errorf("status %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, diag)
			}
			if tc.serverLogs != "" && !strings.Contains(logs.String(), tc.serverLogs) {
				t.Errorf("no %q in the server's log:\n%s", tc.serverLogs, logs.String())
			}
		})
	}
	stderr := tempFile(t, "err")
	if code := Exec([]string{"--socket", filepath.Join(t.TempDir(), "none.sock"), "web", "--", "true"}, nil, nil, stderr); code != 125 ||
		!strings.Contains(contents(t, stderr), "cannot connect to the control socket") {
		t.Errorf("no socket: status %d, stderr %s", code, contents(t, stderr))
	}
}

// execConn sends an exec request with files on a new connection, as the
// client does, and returns the connection's reader and descriptor.
func execConn(t *testing.T, path, body string, files ...*os.File) (*bufio.Reader, int) {
	t.Helper()
	fd, err := dial(path)
	if err != nil {
		t.Fatal(err)
	}
	c := os.NewFile(uintptr(fd), path)
	t.Cleanup(func() { c.Close() })
	msg := "POST /v1/services/web/exec HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	var fds []int
	for _, f := range files {
		fds = append(fds, int(f.Fd()))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, []byte(msg), oob, nil, 0); err != nil {
		t.Fatal(err)
	}
	return bufio.NewReader(c), fd
}

// TestExecStream: after the pid, the client's signals reach the program,
// its end is the answer's last line, and a client that goes away is a
// hangup.
func TestExecStream(t *testing.T) {
	path, _, _ := startServer(t)
	out := tempFile(t, "out")
	body := `{"args":["wait-signal"],"tty":false}`
	for _, tc := range []struct {
		send func(fd int)
		exit string
	}{
		{func(fd int) { unix.Write(fd, []byte("{\"signal\":15}\n")) }, `{"exit_status":143,"exit":"signal: terminated"}`},
		{func(fd int) { unix.Shutdown(fd, unix.SHUT_WR) }, `{"exit_status":129,"exit":"signal: hangup"}`},
	} {
		r, fd := execConn(t, path, body, out, out, out)
		head, body := "", ""
		for !strings.HasSuffix(head, "\r\n\r\n") {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("head %q: %v", head, err)
			}
			head += l
		}
		if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || strings.Contains(head, "Content-Length") {
			t.Fatalf("head %q", head)
		}
		if l, _ := r.ReadString('\n'); l != "{\"pid\":4242}\n" {
			t.Fatalf("first line %q", l)
		}
		tc.send(fd)
		body, _ = r.ReadString('\n')
		if strings.TrimSpace(body) != tc.exit {
			t.Errorf("last line %q, want %s", body, tc.exit)
		}
	}
}

// TestExecRequests: exec requests the server refuses, each with its
// reason.
func TestExecRequests(t *testing.T) {
	path, _, _ := startServer(t)
	f := tempFile(t, "f")
	for _, tc := range []struct {
		body  string
		files []*os.File
		want  string
	}{
		{`{"args":["true"]}`, nil, "send the program's stdin, stdout and stderr"},
		{`{"args":["true"]}`, []*os.File{f, f}, "send the program's stdin, stdout and stderr"},
		{`{"args":["true"]}`, []*os.File{f, f, f, f}, "more than 3 descriptors"},
		{`["true"]`, []*os.File{f, f, f}, "want a JSON body"},
		{`{"args":[]}`, []*os.File{f, f, f}, "args: want the program"},
		{`{"args":["true",1]}`, []*os.File{f, f, f}, "args: want the program"},
		{`{"args":["true"],"env":["NOEQUALS"]}`, []*os.File{f, f, f}, "env: want KEY=VALUE"},
	} {
		r, _ := execConn(t, path, tc.body, tc.files...)
		var ans []byte
		for {
			b, err := r.ReadByte()
			if err != nil {
				break
			}
			ans = append(ans, b)
		}
		code, body, err := parseResponse(ans)
		if err != nil || code != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s with %d files: %d %s (%v), want 400 %q", tc.body, len(tc.files), code, body, err, tc.want)
		}
	}
	_ = syscall.SIGHUP
}
