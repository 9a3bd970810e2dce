//go:build linux

package signals

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want Action
	}{
		{unix.SIGTERM, Forward}, {unix.SIGINT, Forward}, {unix.SIGHUP, Forward},
		{unix.SIGQUIT, Forward}, {unix.SIGUSR1, Forward}, {unix.SIGUSR2, Forward},
		{unix.SIGWINCH, Forward}, {unix.SIGTSTP, Forward}, {unix.SIGCONT, Forward},
		{unix.SIGALRM, Forward}, {unix.SIGPWR, Forward}, {35, Forward}, {40, Forward}, {64, Forward},
		{unix.SIGURG, Runtime}, {unix.SIGPROF, Runtime}, {unix.SIGKILL, Runtime},
		{unix.SIGSTOP, Runtime}, {32, Runtime}, {33, Runtime}, {34, Runtime}, {0, Runtime}, {65, Runtime},
		{unix.SIGCHLD, Reap},
		{unix.SIGSEGV, Drop}, {unix.SIGBUS, Drop}, {unix.SIGFPE, Drop}, {unix.SIGILL, Drop},
		{unix.SIGABRT, Drop}, {unix.SIGTRAP, Drop}, {unix.SIGSYS, Drop}, {unix.SIGPIPE, Drop},
		{unix.SIGTTIN, Ignore}, {unix.SIGTTOU, Ignore},
	} {
		if got := Classify(tc.sig); got != tc.want {
			t.Errorf("Classify(%d %s) = %v, want %v", tc.sig, Name(tc.sig), got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
	}{
		{"SIGTERM", unix.SIGTERM}, {"term", unix.SIGTERM}, {"15", unix.SIGTERM},
		{"SIGKILL", unix.SIGKILL}, {"usr1", unix.SIGUSR1}, {"SIGIOT", unix.SIGABRT},
		{"RTMIN", 34}, {"SIGRTMIN+6", 40}, {"RTMAX", 64}, {"rtmax-2", 62}, {"64", 64},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "65", "-1", "SIGNOPE", "RTMIN+31", "RTMIN-1", "RTMAX+1", "RTMIN+x"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", bad, got)
		}
	}
}

func TestName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{
		unix.SIGTERM: "SIGTERM", 34: "SIGRTMIN", 40: "SIGRTMIN+6", unix.SIGWINCH: "SIGWINCH",
	} {
		if got := Name(sig); got != want {
			t.Errorf("Name(%d) = %q, want %q", sig, got, want)
		}
	}
}

// statusSet reads one of the signal sets of /proc/PID/status (SigIgn,
// SigCgt, SigBlk).
func statusSet(t *testing.T, pid int, field string) Set {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return Set(n)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestForkJobControl checks Intake.Fork's window: SIGTTIN and SIGTTOU are
// ignored by the process before and after, caught (by the no-op handler,
// which a SIGTTIN sent meanwhile must survive) during the fork, and the
// child execs with neither ignored. (A test binary has no entry point, so
// Notify takes them whatever the test was started with.)
func TestForkJobControl(t *testing.T) {
	in := Notify()
	in.TakeRest()
	jobctl := Set(0).Add(unix.SIGTTIN).Add(unix.SIGTTOU)
	self := os.Getpid()
	if got := statusSet(t, self, "SigIgn"); got&jobctl != jobctl {
		t.Fatalf("before Fork: SigIgn %016x lacks SIGTTIN and SIGTTOU", got)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var during Set
	pid, err := in.Fork(func() (int, error) {
		during = statusSet(t, self, "SigCgt")
		if err := unix.Kill(self, unix.SIGTTIN); err != nil {
			return 0, err
		}
		return syscall.ForkExec("/bin/sh", []string{"sh", "-c", "grep SigIgn /proc/self/status"},
			&syscall.ProcAttr{Files: []uintptr{0, w.Fd(), 2}})
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if during&jobctl != jobctl {
		t.Errorf("during Fork: SigCgt %016x lacks SIGTTIN and SIGTTOU", during)
	}
	if got := statusSet(t, self, "SigIgn"); got&jobctl != jobctl {
		t.Errorf("after Fork: SigIgn %016x lacks SIGTTIN and SIGTTOU", got)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "SigIgn:")
	n, perr := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
	if !ok || perr != nil {
		t.Fatalf("child said %q", out)
	}
	if Set(n)&jobctl != 0 {
		t.Errorf("child: SigIgn %016x has SIGTTIN or SIGTTOU", n)
	}
}

// TestRedirect: a signal the runtime would kill the process for (SIGHUP,
// unasked for), sent to the process, must reach the thread that
// Redirect'ed it, which blocks it, through resend and Wait, again and
// again.
func TestRedirect(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's mask is changed
		hup := unix.Sigset_t{Val: [16]uint64{1 << (unix.SIGHUP - 1)}}
		_ = unix.PthreadSigmask(unix.SIG_BLOCK, &hup, nil)
		before, err := Discard(unix.SIGHUP)
		if err != nil {
			done <- err
			return
		}
		err = func() error {
			if err := Redirect(unix.SIGHUP); err != nil {
				return err
			}
			for i := range 20 {
				// Process-directed: the kernel gives it to a thread that
				// does not block it, whose handler is resend.
				if err := unix.Kill(os.Getpid(), unix.SIGHUP); err != nil {
					return err
				}
				sig, err := Wait(Set(0).Add(unix.SIGHUP))
				if err != nil || sig != unix.SIGHUP {
					return fmt.Errorf("round %d: Wait = %v, %v; want SIGHUP", i, sig, err)
				}
			}
			return nil
		}()
		if rerr := before.Restore(); err == nil {
			err = rerr
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a redirected SIGHUP never reached the waiting thread")
	}
	if got := statusSet(t, os.Getpid(), "SigPnd"); got.Has(unix.SIGHUP) {
		t.Errorf("SIGHUP still pending for the process: %#x", uint64(got))
	}
}
