//go:build linux

package reaper

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests fork real children. The test process makes itself a child
// subreaper so that the orphans its children leave are reparented to it and
// must be reaped by the Reaper under test, as they would be by PID 1.

func subreaper(t *testing.T) {
	t.Helper()
	if err := SetSubreaper(); err != nil {
		t.Skipf("cannot become a child subreaper (Linux >= 3.4 needed): %v", err)
	}
	if ok, err := IsSubreaper(); err != nil || !ok {
		t.Fatalf("IsSubreaper() = %v, %v after SetSubreaper", ok, err)
	}
}

func forkSh(script string, args ...string) func() (int, error) {
	argv := append([]string{"sh", "-c", script, "sh"}, args...)
	return func() (int, error) {
		return syscall.ForkExec("/bin/sh", argv, &syscall.ProcAttr{
			Env:   []string{"PATH=/usr/bin:/bin"},
			Files: []uintptr{0, 1, 2},
		})
	}
}

func waitExit(t *testing.T, c <-chan Exit) Exit {
	t.Helper()
	select {
	case e := <-c:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no exit delivered within 30s")
	}
	return Exit{}
}

func waitChildless(t *testing.T, r *Reaper) {
	t.Helper()
	select {
	case <-r.Childless():
	case <-time.After(30 * time.Second):
		t.Fatalf("still not childless after 30s; %d registered children running", r.Running())
	}
}

// TestConcurrentChildrenAndOrphans is the acceptance test of issue #2:
// 1,000 short-lived children started from concurrent goroutines, every third
// leaving an orphan behind, must each get their own status, and every orphan
// must be reaped and counted, with no status lost or misdelivered.
func TestConcurrentChildrenAndOrphans(t *testing.T) {
	subreaper(t)
	var reported atomic.Int64
	r := New(Options{
		Orphan: func(e Exit) {
			if e.Pid <= 0 || e.Code() != 0 {
				t.Errorf("orphan reported as %d %v, want a pid and exit status 0", e.Pid, e)
			}
			reported.Add(1)
		},
		Error: func(err error) { t.Errorf("reaper error: %v", err) },
	})
	defer r.Close()

	const n = 1000
	wantOrphans := 0
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		code := i % 50
		script := "exit $1"
		if i%3 == 0 {
			// The background sleep outlives its parent and is reparented to
			// the test process; it exits a moment later, mixing orphan exits
			// with the other children's.
			script = "sleep 0.01 & exit $1"
			wantOrphans++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid, c, err := r.Start(forkSh(script, fmt.Sprint(code)))
			if err != nil {
				errs <- fmt.Errorf("child %d: start: %w", i, err)
				return
			}
			select {
			case e := <-c:
				if e.Pid != pid || !e.Status.Exited() || e.Code() != code {
					errs <- fmt.Errorf("child %d (pid %d): got pid %d %v, want exit status %d", i, pid, e.Pid, e, code)
				}
			case <-time.After(60 * time.Second):
				errs <- fmt.Errorf("child %d (pid %d): no exit delivered", i, pid)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitChildless(t, r)
	if got := r.Orphans(); got != uint64(wantOrphans) {
		t.Errorf("Orphans() = %d, want %d", got, wantOrphans)
	}
	if got := reported.Load(); got != int64(wantOrphans) {
		t.Errorf("Orphan callback called %d times, want %d", got, wantOrphans)
	}
	if r.Running() != 0 {
		t.Errorf("Running() = %d after all exits, want 0", r.Running())
	}
}

// TestExitBeforeRegistration forces the race the lock closes: the child is
// already a zombie, and the reaping goroutine already woken by waitid,
// before Start registers its pid. The status must still reach the subscriber, not the orphan count.
func TestExitBeforeRegistration(t *testing.T) {
	subreaper(t)
	r := New(Options{})
	defer r.Close()

	for i := range 20 {
		fork := func() (int, error) {
			pid, err := forkSh("exit 7")()
			if err != nil {
				return 0, err
			}
			// Wait until the kernel shows the child as a zombie: it has exited
			// and the reaper, woken, is blocked on the lock Start holds.
			deadline := time.Now().Add(10 * time.Second)
			for procState(pid) != "Z" {
				if time.Now().After(deadline) {
					return pid, fmt.Errorf("pid %d never became a zombie (state %q)", pid, procState(pid))
				}
				time.Sleep(time.Millisecond)
			}
			return pid, nil
		}
		before := r.Orphans()
		pid, c, err := r.Start(fork)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		e := waitExit(t, c)
		if e.Pid != pid || e.Code() != 7 {
			t.Fatalf("round %d: got %v for pid %d, want exit status 7 for pid %d", i, e, e.Pid, pid)
		}
		if r.Orphans() != before {
			t.Fatalf("round %d: the registered child was counted as an orphan", i)
		}
	}
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func TestStartError(t *testing.T) {
	r := New(Options{})
	defer r.Close()
	_, _, err := r.Start(func() (int, error) {
		return syscall.ForkExec("/nonexistent/program", []string{"x"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Start of a missing program: err = %v, want ENOENT", err)
	}
	if r.Running() != 0 {
		t.Fatalf("Running() = %d after a failed start", r.Running())
	}
}

func TestSignal(t *testing.T) {
	subreaper(t)
	r := New(Options{})
	defer r.Close()
	pid, c, err := r.Start(forkSh("exec sleep 100"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Childless():
		t.Fatal("Childless closed while a child runs")
	default:
	}
	if err := r.Signal(pid, unix.SIGTERM); err != nil {
		t.Fatalf("Signal(running child) = %v", err)
	}
	e := waitExit(t, c)
	if !e.Status.Signaled() || e.Status.Signal() != unix.SIGTERM || e.Code() != 143 {
		t.Fatalf("got %v (code %d), want signal: terminated (143)", e, e.Code())
	}
	if err := r.Signal(pid, unix.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Signal(reaped child) = %v, want os.ErrProcessDone", err)
	}
	if err := r.Signal(os.Getpid(), unix.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Signal(pid not started by the reaper) = %v, want os.ErrProcessDone", err)
	}
	waitChildless(t, r)
}

// sigCaught reports whether this process catches sig, from the SigCgt
// line of /proc/self/status: what the kernel would do with it.
func sigCaught(t *testing.T, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			var mask uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &mask); err != nil {
				t.Fatalf("SigCgt %q: %v", v, err)
			}
			return mask&(1<<(sig-1)) != 0
		}
	}
	t.Fatal("no SigCgt line in /proc/self/status")
	return false
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, still not: %s", what)
		}
	}
}

// TestSIGCHLDOnlyWhenChildless checks issue #17's reaping without a signal
// per exit: while a child runs SIGCHLD is discarded (the kernel sends it to
// no one), and with no children it is caught again.
func TestSIGCHLDOnlyWhenChildless(t *testing.T) {
	subreaper(t)
	r := New(Options{})
	defer r.Close()
	eventually(t, "SIGCHLD caught while childless", func() bool { return sigCaught(t, unix.SIGCHLD) })
	pid, c, err := r.Start(forkSh("exec sleep 100"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGCHLD discarded while a child runs", func() bool { return !sigCaught(t, unix.SIGCHLD) })
	if err := r.Signal(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, c); e.Code() != 137 {
		t.Fatalf("got %v, want signal: killed", e)
	}
	waitChildless(t, r)
	eventually(t, "SIGCHLD caught again once childless", func() bool { return sigCaught(t, unix.SIGCHLD) })
}

// TestChildNotStartedHere: a process can become a child without Start (one
// that entered the PID namespace from outside is reparented to PID 1 when
// its parent outside dies), and with no children waitid cannot sleep; its
// exit must be learnt from SIGCHLD. The test forks such children itself,
// behind the reaper's back, each once the reaper has parked childless.
func TestChildNotStartedHere(t *testing.T) {
	subreaper(t)
	got := make(chan Exit, 1)
	r := New(Options{Orphan: func(e Exit) { got <- e }})
	defer r.Close()
	for i := range 5 {
		waitChildless(t, r)
		eventually(t, "SIGCHLD caught while childless", func() bool { return sigCaught(t, unix.SIGCHLD) })
		time.Sleep(10 * time.Millisecond) // parked in its select by now, in all likelihood; the test holds either way
		pid, err := forkSh("exit 3")()
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Pid != pid || e.Code() != 3 {
				t.Fatalf("round %d: got %v for pid %d, want exit status 3 for pid %d", i, e, e.Pid, pid)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: pid %d, not started by Start, never reaped (state %q)", i, pid, procState(pid))
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		status unix.WaitStatus
		code   int
		str    string
	}{
		{0, 0, "exit status 0"},
		{3 << 8, 3, "exit status 3"},
		{255 << 8, 255, "exit status 255"},
		{unix.WaitStatus(unix.SIGTERM), 143, "signal: terminated"},
		{unix.WaitStatus(unix.SIGKILL), 137, "signal: killed"},
		{unix.WaitStatus(unix.SIGSEGV) | 0x80, 139, "signal: segmentation fault (core dumped)"},
	} {
		e := Exit{Status: tc.status}
		if e.Code() != tc.code || e.String() != tc.str {
			t.Errorf("status %#x: Code() = %d, String() = %q; want %d, %q", uint32(tc.status), e.Code(), e.String(), tc.code, tc.str)
		}
	}
}
