//go:build linux

package tests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// execIn runs `initbox exec --socket sock ARGS` with stdin, and returns its
// output and exit status.
func execIn(t *testing.T, sock string, stdin io.Reader, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(initBin, append([]string{"exec", "--socket", sock}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("initbox exec: %v", err)
	}
	return string(out), code
}

// TestExec (issue #18): `initbox exec` runs a program as the service runs
// (its uid, environment and env file, working directory, cgroup), as a
// child of initbox, with the caller's stdin and the program's exit status,
// with and without a terminal; signals to initbox exec reach the program;
// another uid is refused; a stopped service is refused; and a program left
// running is stopped with its service when initbox stops.
func TestExec(t *testing.T) {
	requirePID1(t)
	dir, file := publicConfig(t, `
[init]
control_socket = "@D@/ctl.sock"

[services.web]
shell = "grep ^0:: /proc/self/cgroup > @D@/web.cgroup; exec sleep 1000"
user = "nobody"
working_dir = "/tmp"
env = { FOO = "bar" }
env_file = "@D@/web.env"
stop = { timeout = "2s" }
`)
	if err := os.WriteFile(filepath.Join(dir, "web.env"), []byte("BAZ=from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "ctl.sock")
	p := svStart(t, file, nil)
	p.waitExists(sock, 10*time.Second)
	webCgroup := strings.TrimSpace(p.waitFile(filepath.Join(dir, "web.cgroup"), 10*time.Second))

	// As the service: uid, environment, env file, directory, cgroup; a
	// child of initbox (PID 1 of its namespace).
	out, code := execIn(t, sock, nil, "-T", "-e", "EXTRA=1", "web", "--", "sh", "-c",
		`echo "uid=$(id -u) dir=$PWD env=$FOO,$BAZ,$EXTRA ppid=$(cut -d' ' -f4 /proc/$$/stat)"; grep ^0:: /proc/self/cgroup`)
	want := "uid=65534 dir=/tmp env=bar,from-file,1 ppid=1\n" + webCgroup + "\n"
	if code != 0 || out != want {
		t.Errorf("exec as web: status %d, output\n%s\nwant\n%s", code, out, want)
	}

	// The caller's stdin, and the program's status as its own.
	out, code = execIn(t, sock, strings.NewReader("hello\n"), "-T", "web", "--", "sh", "-c", "read x; echo got:$x; exit 7")
	if code != 7 || out != "got:hello\n" {
		t.Errorf("stdin and status: status %d, output %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"web", "--", "no-such-program"}, 127, "not found"},
		{[]string{"web", "--", "/etc/passwd"}, 126, "permission denied"},
		{[]string{"nosuch", "--", "true"}, 125, `unknown service "nosuch"`},
	} {
		if out, code := execIn(t, sock, nil, append([]string{"-T"}, tc.args...)...); code != tc.code || !strings.Contains(out, tc.msg) {
			t.Errorf("exec %v: status %d, output %q; want %d and %q", tc.args, code, out, tc.code, tc.msg)
		}
	}

	// A terminal: the program leads a session on a new one, with the
	// caller's size; the caller's is left as it was.
	master, slave := openPty(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 99}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(initBin, "exec", "--socket", sock, "web", "--", "sh", "-c",
		`echo "tty=$(tty) size=$(stty size) sid=$(cut -d' ' -f6 /proc/$$/stat) pid=$$"; exit 3`)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var term bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(&term, master) // EIO once the slave is closed everywhere
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	after, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	slave.Close()
	wg.Wait()
	got := strings.ReplaceAll(term.String(), "\r", "")
	if cmd.ProcessState.ExitCode() != 3 || !strings.Contains(got, "tty=/dev/pts/") || !strings.Contains(got, "size=33 99") {
		t.Errorf("exec with a terminal: %v, output %q", err, got)
	}
	if f := strings.Fields(got); len(f) == 4 && strings.TrimPrefix(f[2], "sid=") != strings.TrimPrefix(f[3], "pid=") {
		t.Errorf("the program does not lead its session: %q", got)
	}
	if after == nil || *after != *before {
		t.Errorf("the caller's terminal mode was not restored: %+v, was %+v", after, before)
	}

	// Refused to another uid, as every control request.
	noBin := publicCopy(t, initBin)
	other := exec.Command(noBin, "exec", "--socket", sock, "web", "--", "true")
	other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if b, err := other.CombinedOutput(); other.ProcessState == nil || other.ProcessState.ExitCode() != 125 || !strings.Contains(string(b), "root") {
		t.Errorf("exec as uid 65534: %v, %s", err, b)
	}

	// A signal to initbox exec reaches the program.
	sig := exec.Command(initBin, "exec", "--socket", sock, "-T", "web", "--", "sleep", "1000")
	if err := sig.Start(); err != nil {
		t.Fatal(err)
	}
	p.waitLog(10*time.Second, "web", `"args": ["sleep", "1000"]`)
	time.Sleep(100 * time.Millisecond) // its signal intake, after the answer
	sig.Process.Signal(syscall.SIGUSR1)
	if err := sig.Wait(); sig.ProcessState.ExitCode() != 128+int(syscall.SIGUSR1) {
		t.Errorf("after SIGUSR1 to initbox exec: %v, want status %d", err, 128+int(syscall.SIGUSR1))
	}

	// Left running when initbox stops: the service's stop signal, and
	// initbox waits for it.
	left := exec.Command(initBin, "exec", "--socket", sock, "-T", "web", "--", "sh", "-c", "trap 'echo stopped-by-TERM; exit 9' TERM; sleep 1000 & wait")
	var leftOut bytes.Buffer
	left.Stdout = &leftOut
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	p.waitLog(10*time.Second, "web", `"args": ["sh", "-c", "trap`)
	time.Sleep(200 * time.Millisecond)
	r := p.stopBySIGTERM(10 * time.Second)
	left.Wait()
	if left.ProcessState.ExitCode() != 9 || leftOut.String() != "stopped-by-TERM\n" {
		t.Errorf("exec left running at the stop: status %d, output %q", left.ProcessState.ExitCode(), leftOut.String())
	}
	if r.code != 0 || !strings.Contains(r.stderr, `"exit": "exit status 9"`) {
		t.Errorf("initbox's stop with an exec running: %v", r)
	}
}

// TestExecServiceStopped: a service that is not running has no run to
// join: exec is refused, and nothing starts.
func TestExecServiceStopped(t *testing.T) {
	requirePID1(t)
	dir, file := svConfig(t, `
[init]
control_socket = "@D@/ctl.sock"
[services.web]
command = ["sleep", "1000"]
[services.job]
type = "oneshot"
shell = "true"
`)
	sock := filepath.Join(dir, "ctl.sock")
	p := svStart(t, file, nil)
	p.waitExists(sock, 10*time.Second)
	p.waitLog(10*time.Second, "job", "exited")
	if out, code := execIn(t, sock, nil, "-T", "job", "--", "true"); code != 125 || !strings.Contains(out, "service not running: job is exited") {
		t.Errorf("exec into a finished oneshot: status %d, %q", code, out)
	}
	if out, code := ctl(t, sock, 0, "stop", "--wait", "web"); code != 0 {
		t.Fatalf("ctl stop web: %s", out)
	}
	if out, code := execIn(t, sock, nil, "-T", "web", "--", "true"); code != 125 || !strings.Contains(out, "web is stopped") {
		t.Errorf("exec into a stopped service: status %d, %q", code, out)
	}
	if strings.Contains(p.stderr.String(), `"exec"`) {
		t.Errorf("something started:\n%s", p.stderr.String())
	}
}
