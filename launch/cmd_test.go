//go:build linux

package launch

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

var (
	reaperOnce sync.Once
	testReaper *reaper.Reaper
)

// launcher returns a Launcher on the test process's one reaper, which
// believes it was started with st.
func launcher(st signals.State) *Launcher {
	reaperOnce.Do(func() { testReaper = reaper.New(reaper.Options{}) })
	l := New(testReaper, nil)
	l.inherited = st
	return l
}

// output runs c to its end and returns its stdout and exit.
func output(t *testing.T, c *Cmd) (string, reaper.Exit) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c.Stdout = w
	err = c.Start()
	w.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	e, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n]), e
}

const sigStatus = `grep -E '^Sig(Ign|Blk):' /proc/self/status | tr -d '\t' | tr '\n' ' '`

func TestCmdExit(t *testing.T) {
	l := launcher(signals.State{})
	for _, tc := range []struct {
		name string
		cmd  *Cmd
		code int
		is   error // from Start
	}{
		{"exit 3", &Cmd{Path: "sh", Args: []string{"sh", "-c", "exit 3"}}, 3, nil},
		{"killed", &Cmd{Path: "sh", Args: []string{"sh", "-c", "kill -KILL $$"}}, 128 + 9, nil},
		{"stdin is /dev/null", &Cmd{Path: "sh", Args: []string{"sh", "-c", `read x; test -z "$x"`}}, 0, nil},
		{"nil extra file is closed", &Cmd{Path: "sh", Args: []string{"sh", "-c", "test ! -e /proc/self/fd/4"}, ExtraFiles: []*os.File{os.Stderr, nil}}, 0, nil},
		{"extra file is there", &Cmd{Path: "sh", Args: []string{"sh", "-c", "test -e /proc/self/fd/3"}, ExtraFiles: []*os.File{os.Stderr}}, 0, nil},
		{"not found", &Cmd{Path: "initbox-no-such-program"}, 0, ErrNotFound},
		{"not executable", &Cmd{Path: "/etc/passwd"}, 0, ErrCannotExec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := l.Cmd(tc.cmd)
			c.Env = os.Environ()
			err := c.Start()
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("Start() = %v, want %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, _ := c.Wait()
			if e.Code() != tc.code {
				t.Errorf("exit %v, want code %d", e, tc.code)
			}
			if err := c.Start(); !errors.Is(err, ErrStarted) {
				t.Errorf("second Start() = %v, want ErrStarted", err)
			}
		})
	}
}

func TestCmdWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	c := launcher(signals.State{}).Cmd(&Cmd{Path: "pwd", Env: os.Environ(), Dir: dir})
	if out, _ := output(t, c); strings.TrimSpace(out) != dir {
		t.Errorf("pwd = %q, want %q", out, dir)
	}
	missing := filepath.Join(dir, "missing")
	err := launcher(signals.State{}).Cmd(&Cmd{Path: "pwd", Env: os.Environ(), Dir: missing}).Start()
	if err == nil || !strings.Contains(err.Error(), "working directory: stat "+missing) {
		t.Errorf("Start() = %v, want the missing directory named", err)
	}
}

// TestCmdSignals: CleanSignals starts the child with nothing ignored and
// nothing blocked even where the parent ignores a signal (through the
// trampoline); InheritSignals gives it what initbox was started with.
func TestCmdSignals(t *testing.T) {
	signal.Ignore(syscall.SIGUSR2)
	// Caught again at the end: a caught signal is not inherited.
	defer signal.Notify(make(chan os.Signal, 1), syscall.SIGUSR2)
	inherited := signals.State{
		Ignored: signals.Set(0).Add(syscall.SIGUSR2).Add(syscall.SIGTTOU).Add(syscall.SIGPIPE),
		Blocked: signals.Set(0).Add(syscall.SIGUSR1).Add(syscall.SIGTERM),
	}
	for _, tc := range []struct {
		name       string
		st         SignalState
		want       string
		trampoline bool
	}{
		{"clean", CleanSignals, "SigBlk:0000000000000000 SigIgn:0000000000000000 ", true},
		{"inherit", InheritSignals, "SigBlk:0000000000004200 SigIgn:0000000000201800 ", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := launcher(inherited).Cmd(&Cmd{Path: "sh", Args: []string{"sh", "-c", sigStatus}, Env: os.Environ(), Signals: tc.st})
			out, e := output(t, c)
			if out != tc.want || e.Code() != 0 {
				t.Errorf("child: %q (%v), want %q", out, e, tc.want)
			}
			if c.Trampolined != tc.trampoline {
				t.Errorf("Trampolined = %v, want %v", c.Trampolined, tc.trampoline)
			}
		})
	}
	t.Run("mask alone needs no trampoline", func(t *testing.T) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGUSR2)
		// What this test process ignores (SIGHUP under nohup, 32 and 33
		// under GNU make) is what the child is to ignore: only the mask
		// differs from what a fork gives.
		own := signals.IgnoredNow()
		c := launcher(signals.State{Ignored: own, Blocked: inherited.Blocked}).Cmd(&Cmd{Path: "sh", Args: []string{"sh", "-c", sigStatus}, Env: os.Environ()})
		out, _ := output(t, c)
		var blk, ign uint64
		fmt.Sscanf(out, "SigBlk:%x SigIgn:%x", &blk, &ign)
		if blk != 0x4200 || signals.Set(ign)&^libcReserved != own&^libcReserved || c.Trampolined {
			t.Errorf("child: %q (this process ignores %#x), trampolined %v", out, uint64(own), c.Trampolined)
		}
	})
}

// TestCmdOOMScoreAdj: the child's oom_score_adj from its first instruction;
// initbox's own is back after the start.
func TestCmdOOMScoreAdj(t *testing.T) {
	own, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Skip(err)
	}
	v := 500
	c := launcher(signals.State{}).Cmd(&Cmd{Path: "cat", Args: []string{"cat", "/proc/self/oom_score_adj"}, Env: os.Environ(), OOMScoreAdj: &v})
	if out, _ := output(t, c); strings.TrimSpace(out) != "500" {
		t.Errorf("child's oom_score_adj %q, want 500", out)
	}
	if now, _ := os.ReadFile("/proc/self/oom_score_adj"); string(now) != string(own) {
		t.Errorf("initbox's oom_score_adj %q after the start, was %q", now, own)
	}
}

// TestCmdTrampolineErrors: through the trampoline (no_new_privs asks for
// it), a program that cannot be executed or a missing directory fail
// Start as they do without it, not as an exit status of the trampoline.
func TestCmdTrampolineErrors(t *testing.T) {
	l := launcher(signals.State{})
	c := l.Cmd(&Cmd{Path: "/etc/passwd", Env: os.Environ(), NoNewPrivs: true})
	if err := c.Start(); !errors.Is(err, ErrCannotExec) || !c.Trampolined {
		t.Errorf("Start() = %v (trampolined %v), want ErrCannotExec", err, c.Trampolined)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	c = l.Cmd(&Cmd{Path: "/bin/true", Env: os.Environ(), NoNewPrivs: true, Dir: missing})
	if err := c.Start(); err == nil || !strings.Contains(err.Error(), "working directory: stat "+missing) {
		t.Errorf("Start() = %v, want the missing directory named", err)
	}
	c = l.Cmd(&Cmd{Path: "sh", Args: []string{"sh", "-c", "exit 4"}, Env: os.Environ(), NoNewPrivs: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Wait(); e.Code() != 4 {
		t.Errorf("exit %v, want 4", e)
	}
}
