//go:build linux

package tests

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/tests/internal/testenv"
)

// modes lists the ways most behaviour is checked: as a real PID 1 and as a
// child subreaper (-s) of the test, which needs no root.
var modes = []mode{direct, pid1}

// withMode prefixes -s in direct mode so that the binary is a subreaper and
// prints no "not PID 1" warning.
func withMode(m mode, args ...string) []string {
	if m == direct {
		return append([]string{"-s"}, args...)
	}
	return args
}

// ---------------------------------------------------------------------------
// Exit status

func TestExitStatus(t *testing.T) {
	noexec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want int
		// msg: the run must print exactly one line on stderr naming this.
		msg string
	}{
		{"exit 0", []string{"--", "sh", "-c", "exit 0"}, 0, ""},
		{"exit 3", []string{"--", "sh", "-c", "exit 3"}, 3, ""},
		{"exit 255", []string{"--", "sh", "-c", "exit 255"}, 255, ""},
		{"killed by SIGTERM", []string{"--", "sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
		{"killed by SIGHUP", []string{"--", "sh", "-c", "kill -HUP $$"}, 128 + 1, ""},
		{"killed by SIGKILL", []string{"--", "sh", "-c", "kill -KILL $$"}, 128 + 9, ""},
		{"killed by SIGSEGV", []string{"--", "sh", "-c", "ulimit -c 0; kill -SEGV $$"}, 128 + 11, ""},
		{"-e maps the code to 0", []string{"-e", "3", "--", "sh", "-c", "exit 3"}, 0, ""},
		{"-e repeated", []string{"-e", "3", "-e", "143", "--", "sh", "-c", "kill -TERM $$"}, 0, ""},
		{"-e leaves other codes", []string{"-e", "3", "--", "sh", "-c", "exit 4"}, 4, ""},
		{"program not found (path)", []string{"--", "/nonexistent/initbox-no-such-program"}, 127, "initbox-no-such-program"},
		{"program not found (PATH)", []string{"--", "initbox-no-such-program"}, 127, "initbox-no-such-program"},
		{"program is a directory", []string{"--", "/etc"}, 126, "/etc"},
		{"program without x bit", []string{"--", noexec}, 126, "not-executable"},
	}
	for _, m := range modes {
		for _, c := range cases {
			t.Run(m.String()+"/"+c.name, func(t *testing.T) {
				r := runInit(t, runSpec{mode: m, args: withMode(m, c.args...)})
				wantExit(t, r, c.want)
				if c.msg == "" {
					return
				}
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], c.msg) {
					t.Fatalf("want one line on stderr naming %q, got %q", c.msg, r.stderr)
				}
			})
		}
	}
}

// TestUsageErrors: no program or an unknown flag is a usage error, status 2.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"flags but no program", []string{"-s"}},
		{"several flags but no program", []string{"-s", "-g", "-w"}},
		{"-- but no program", []string{"-s", "--"}},
		{"unknown short flag", []string{"-z", "--", "true"}},
		{"unknown long flag", []string{"--no-such-flag", "--", "true"}},
		{"no arguments at all", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.args == nil {
				if _, err := os.Stat("/etc/initbox/initbox.toml"); err == nil {
					t.Skip("/etc/initbox/initbox.toml exists: without arguments initbox would run it")
				}
			}
			r := runInit(t, runSpec{mode: direct, args: c.args})
			wantExit(t, r, 2)
			if strings.TrimSpace(r.stderr) == "" {
				t.Fatalf("usage error without a message on stderr: %v", r)
			}
		})
	}
}

// TestProgramArgsAreNotFlags: option parsing stops at the program; what
// follows belongs to it even if it looks like a flag (tini's permuting getopt
// fails here).
func TestProgramArgsAreNotFlags(t *testing.T) {
	t.Run("sh -c without --", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, env: []string{"TINI_SUBREAPER="}, args: []string{"sh", "-c", "exit 7"}})
		wantExit(t, r, 7)
	})
	t.Run("flags after the program", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, args: []string{"-s", "printf", "%s|", "-s", "--", "-e", "x", "-g"}})
		wantExit(t, r, 0)
		if want := "-s|--|-e|x|-g|"; r.stdout != want {
			t.Fatalf("child got args %q, want %q", r.stdout, want)
		}
	})
}

// ---------------------------------------------------------------------------
// What the child receives

func TestPassthrough(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			t.Run("stdin and stdout", func(t *testing.T) {
				r := runInit(t, runSpec{mode: m, args: withMode(m, "--", "cat"), stdin: strings.NewReader("hello\n")})
				wantExit(t, r, 0)
				if r.stdout != "hello\n" {
					t.Fatalf("stdout %q, want %q", r.stdout, "hello\n")
				}
			})
			t.Run("environment", func(t *testing.T) {
				r := runInit(t, runSpec{mode: m, env: []string{"IBT_VALUE=a b=c '\""},
					args: withMode(m, "--", "sh", "-c", `printf %s "$IBT_VALUE"`)})
				wantExit(t, r, 0)
				if want := "a b=c '\""; r.stdout != want {
					t.Fatalf("child saw IBT_VALUE=%q, want %q", r.stdout, want)
				}
			})
			t.Run("arguments with spaces and empty strings", func(t *testing.T) {
				r := runInit(t, runSpec{mode: m, args: withMode(m, "--", "sh", "-c", `printf "%s|" "$@"`, "x", "a b", "", "c")})
				wantExit(t, r, 0)
				if want := "a b||c|"; r.stdout != want {
					t.Fatalf("child got %q, want %q", r.stdout, want)
				}
			})
			t.Run("flag-like arguments after --", func(t *testing.T) {
				r := runInit(t, runSpec{mode: m, args: withMode(m, "--", "printf", "%s|", "--", "-s", "-e", "3")})
				wantExit(t, r, 0)
				if want := "--|-s|-e|3|"; r.stdout != want {
					t.Fatalf("child got %q, want %q", r.stdout, want)
				}
			})
		})
	}
}

// ---------------------------------------------------------------------------
// Signal forwarding

// sigReporter is a child script that prints "ready" and then "got NAME" for
// every listed signal it receives (names as dash's trap takes them).
func sigReporter(sigs ...string) string {
	return fmt.Sprintf(`for s in %s; do trap "echo got $s" $s; done; sleep 1000 & echo ready; while :; do wait $!; done`,
		strings.Join(sigs, " "))
}

func TestSignalForwarding(t *testing.T) {
	sigs := []struct {
		name string
		sig  syscall.Signal
	}{
		{"HUP", syscall.SIGHUP},
		{"INT", syscall.SIGINT},
		{"USR1", syscall.SIGUSR1},
		{"USR2", syscall.SIGUSR2},
		{"WINCH", syscall.SIGWINCH},
		{"40", syscall.Signal(40)}, // real-time; Go cannot catch 32-34
		{"64", syscall.Signal(64)}, // SIGRTMAX
		{"TERM", syscall.SIGTERM},
	}
	var names []string
	for _, s := range sigs {
		names = append(names, s.name)
	}
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := startInit(t, runSpec{mode: m, args: withMode(m, "--", "sh", "-c", sigReporter(names...))})
			p.waitStdout("ready\n", 10*time.Second)
			for _, s := range sigs {
				t.Run(s.name, func(t *testing.T) {
					p.signal(s.sig)
					p.waitStdout("got "+s.name+"\n", 5*time.Second)
				})
			}
		})
	}
}

// TestSIGURGNotForwarded: Go's runtime sends itself SIGURG for preemption, so
// a Go init must never forward SIGURG, not even one sent by someone else.
func TestSIGURGNotForwarded(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := startInit(t, runSpec{mode: m, args: withMode(m, "--", "sh", "-c", sigReporter("URG", "USR1", "WINCH"))})
			p.waitStdout("ready\n", 10*time.Second)
			p.signal(syscall.SIGURG)
			p.signal(syscall.SIGUSR1)
			p.waitStdout("got USR1\n", 5*time.Second)
			// A second round trip: a SIGURG forwarded before USR1 is surely
			// delivered (and its trap run) by the time WINCH is reported.
			p.signal(syscall.SIGWINCH)
			p.waitStdout("got WINCH\n", 5*time.Second)
			if out := p.stdout.String(); strings.Contains(out, "got URG") {
				t.Fatalf("SIGURG was forwarded to the child:\n%s", out)
			}
		})
	}
}

// TestSyncSignalsAndSIGCHLDNotForwarded: SIGCHLD and the synchronous signals
// sent to the init with kill are not forwarded and do not kill the init.
// (tini leaves them at their default action: not as PID 1, kill -SEGV kills it.)
func TestSyncSignalsAndSIGCHLDNotForwarded(t *testing.T) {
	sigs := []struct {
		name string
		sig  syscall.Signal
	}{
		{"SEGV", syscall.SIGSEGV},
		{"BUS", syscall.SIGBUS},
		{"FPE", syscall.SIGFPE},
		{"ILL", syscall.SIGILL},
		{"ABRT", syscall.SIGABRT},
		{"TRAP", syscall.SIGTRAP},
		{"SYS", syscall.SIGSYS},
		{"CHLD", syscall.SIGCHLD},
	}
	for _, m := range modes {
		for _, s := range sigs {
			t.Run(m.String()+"/"+s.name, func(t *testing.T) {
				p := startInit(t, runSpec{mode: m, args: withMode(m, "--", "sh", "-c",
					"ulimit -c 0; "+sigReporter(s.name, "USR1", "HUP"))})
				p.waitStdout("ready\n", 10*time.Second)
				p.signal(s.sig)
				p.signal(syscall.SIGUSR1)
				p.waitStdout("got USR1\n", 5*time.Second)
				p.signal(syscall.SIGHUP)
				p.waitStdout("got HUP\n", 5*time.Second)
				if p.exited() {
					t.Fatalf("init ended after SIG%s: %v", s.name, p.wait())
				}
				if st, ok := readStat(p.hostInitPID()); !ok || st.state == "Z" {
					t.Fatalf("init is gone after SIG%s", s.name)
				}
				if out := p.stdout.String(); strings.Contains(out, "got "+s.name) {
					t.Fatalf("SIG%s was forwarded to the child:\n%s", s.name, out)
				}
			})
		}
	}
}

// TestProcessGroupSignals: with -g or TINI_KILL_PROCESS_GROUP, SIGTERM goes to
// the child's whole process group, so a background job of a shell child dies
// too; without, it survives. Run as a subreaper, not PID 1: as PID 1 the
// namespace teardown would kill the job anyway and hide the difference.
func TestProcessGroupSignals(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		env       []string
		jobKilled bool
	}{
		{"-g", []string{"-s", "-g"}, nil, true},
		{"TINI_KILL_PROCESS_GROUP", []string{"-s"}, []string{"TINI_KILL_PROCESS_GROUP=1"}, true},
		{"without -g", []string{"-s"}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := startInit(t, runSpec{mode: direct, env: c.env,
				args: append(c.args, "--", "sh", "-c", `sleep 1000 >/dev/null 2>&1 & echo "ready $!"; wait`)})
			p.waitStdout("ready ", 10*time.Second)
			p.waitStdout("\n", 5*time.Second)
			pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(p.stdout.String(), "ready ")))
			if err != nil {
				t.Fatalf("bad ready line %q", p.stdout.String())
			}
			// $! is known before the forked shell has exec'd sleep.
			var st procStat
			deadline := time.Now().Add(5 * time.Second)
			for {
				var ok bool
				st, ok = readStat(pid)
				if ok && st.comm == "sleep" {
					break
				}
				if !ok || time.Now().After(deadline) {
					t.Fatalf("background sleep %d not found (%+v)", pid, st)
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Cleanup(func() {
				if alive(pid, st.startTime) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			p.signal(syscall.SIGTERM)
			r := p.wait()
			wantExit(t, r, 143)
			if c.jobKilled {
				if !waitGone(pid, st.startTime, 5*time.Second) {
					t.Fatalf("background sleep %d still runs after SIGTERM to init", pid)
				}
			} else if !alive(pid, st.startTime) {
				t.Fatalf("background sleep %d was killed although the signal should go to the child only", pid)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Reaping

// TestReapsOrphansAsPID1: 20 orphans exit while the child still lives; none
// stays a zombie.
func TestReapsOrphansAsPID1(t *testing.T) {
	script := `i=0; while [ $i -lt 20 ]; do sh -c 'sleep 0.1 &'; i=$((i+1)); done; sleep 0.5
` + zombieReport
	r := runInit(t, runSpec{mode: pid1, args: []string{"--", "sh", "-c", script}})
	wantExit(t, r, 0)
	if z := zombiesFrom(t, r.stdout); len(z) != 0 {
		t.Fatalf("%d zombies left in the namespace (pids %v)", len(z), z)
	}
}

// TestExitStatusSurvivesOrphanStorm: the child's status is never lost while
// ~30 orphans exit at the same moment as the child: they block reading a FIFO
// whose only writer is the child, so they all get EOF when it exits.
func TestExitStatusSurvivesOrphanStorm(t *testing.T) {
	requirePID1(t)
	const runs, orphans = 100, 30
	script := fmt.Sprintf(`F=$1 R=$2
exec 3<>"$F"
i=0
while [ $i -lt %d ]; do (exec 3>&-; { echo r >> "$R"; read x; } < "$F" &); i=$((i+1)); done
while [ "$(wc -l < "$R")" -lt %d ]; do sleep 0.005; done
exit 42`, orphans, orphans)
	dir := t.TempDir()
	start := time.Now()
	for i := 0; i < runs; i++ {
		fifo := filepath.Join(dir, fmt.Sprintf("fifo.%d", i))
		ready := filepath.Join(dir, fmt.Sprintf("ready.%d", i))
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ready, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r := runInit(t, runSpec{mode: pid1, timeout: 10 * time.Second,
			args: []string{"--", "sh", "-c", script, "storm", fifo, ready}})
		if r.code != 42 {
			t.Fatalf("run %d of %d: want exit status 42, got %v", i+1, runs, r)
		}
	}
	t.Logf("%d runs with %d orphans each in %v", runs, orphans, time.Since(start).Round(time.Millisecond))
}

// TestSubreaperAdoptsOrphans: outside a PID namespace, -s or TINI_SUBREAPER
// makes an orphan of the child a child of the init; without them it is not.
func TestSubreaperAdoptsOrphans(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     []string
		adopted bool
	}{
		{"-s", []string{"-s"}, nil, true},
		{"TINI_SUBREAPER", nil, []string{"TINI_SUBREAPER="}, true},
		{"neither", nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := filepath.Join(t.TempDir(), "orphan")
			script := `sh -c 'sleep 5 >/dev/null 2>&1 & echo $! > "$1"' x "$1"
o=$(cat "$1"); read -r a b c ppid rest < /proc/$o/stat
echo "orphan=$o orphan_ppid=$ppid init=$PPID"; kill $o`
			r := runInit(t, runSpec{mode: direct, env: c.env,
				args: append(c.args, "--", "sh", "-c", script, "x", o)})
			wantExit(t, r, 0)
			m := regexp.MustCompile(`orphan=(\d+) orphan_ppid=(\d+) init=(\d+)`).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("no report from the child: %v", r)
			}
			if adopted := m[2] == m[3]; adopted != c.adopted {
				t.Fatalf("orphan %s has parent %s, init is %s: adopted=%v, want %v", m[1], m[2], m[3], adopted, c.adopted)
			}
			if c.adopted && (strings.Contains(strings.ToLower(r.stderr), "warn") || strings.Contains(r.stderr, "reaping")) {
				t.Fatalf("subreaper printed a warning: %q", r.stderr)
			}
		})
	}
}

// TestReaperWarning: not PID 1 and not a subreaper, the init warns that
// zombie reaping won't work and names -s and TINI_SUBREAPER; otherwise silent.
func TestReaperWarning(t *testing.T) {
	cases := []struct {
		name string
		mode mode
		args []string
		env  []string
		warn bool
	}{
		{"not PID 1", direct, nil, nil, true},
		{"not PID 1 with -s", direct, []string{"-s"}, nil, false},
		{"not PID 1 with TINI_SUBREAPER", direct, nil, []string{"TINI_SUBREAPER="}, false},
		{"PID 1", pid1, nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runInit(t, runSpec{mode: c.mode, env: c.env, args: append(c.args, "--", "true")})
			wantExit(t, r, 0)
			if !c.warn {
				if strings.Contains(r.stderr, "reaping") || strings.Contains(strings.ToLower(r.stderr), "warn") {
					t.Fatalf("unexpected warning: %q", r.stderr)
				}
				return
			}
			for _, want := range []string{"zombie reaping won't work", "-s", "TINI_SUBREAPER"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("warning lacks %q: %q", want, r.stderr)
				}
			}
		})
	}
}

// TestReapLogging: -w logs "Reaped zombie process with pid=N" for each orphan
// (N as seen inside the namespace).
func TestReapLogging(t *testing.T) {
	script := `pids=; i=0
while [ $i -lt 5 ]; do p=$(sh -c 'sleep 0.1 >/dev/null 2>&1 & echo $!'); pids="$pids $p"; i=$((i+1)); done
n=0; for p in $pids; do while [ -e /proc/$p ] && [ $n -lt 250 ]; do sleep 0.02; n=$((n+1)); done; done
echo "orphans:$pids"`
	r := runInit(t, runSpec{mode: pid1, args: []string{"-w", "--", "sh", "-c", script}})
	wantExit(t, r, 0)
	m := regexp.MustCompile(`orphans:(.*)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no orphans: line: %v", r)
	}
	logged := map[string]bool{}
	for _, l := range regexp.MustCompile(`Reaped zombie process with pid=(\d+)\b`).FindAllStringSubmatch(r.stdout+r.stderr, -1) {
		logged[l[1]] = true
	}
	orphans := strings.Fields(m[1])
	if len(orphans) != 5 {
		t.Fatalf("want 5 orphan pids, got %q", m[1])
	}
	for _, o := range orphans {
		if !logged[o] {
			t.Errorf("no \"Reaped zombie process with pid=%s\" line: %v", o, r)
		}
	}
}

// TestVerbosity: -v, repeated -v and TINI_VERBOSITY do not break a run.
func TestVerbosity(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
	}{
		{"-v", []string{"-v"}, nil},
		{"-vvv", []string{"-vvv"}, nil},
		{"-v -v -v", []string{"-v", "-v", "-v"}, nil},
		{"TINI_VERBOSITY=3", nil, []string{"TINI_VERBOSITY=3"}},
		{"TINI_VERBOSITY=0", nil, []string{"TINI_VERBOSITY=0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-s"}, c.args...)
			r := runInit(t, runSpec{mode: direct, env: c.env, args: append(args, "--", "sh", "-c", "echo out; exit 3")})
			wantExit(t, r, 3)
			if !strings.Contains(r.stdout, "out\n") {
				t.Fatalf("child output lost: %v", r)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Parent death signal

// TestParentDeathSignal: with -p SIGUSR1, when the init's parent dies the
// init gets SIGUSR1 and forwards it to the child.
func TestParentDeathSignal(t *testing.T) {
	dir := t.TempDir()
	file, ready, pidFile, logFile := filepath.Join(dir, "usr1"), filepath.Join(dir, "ready"), filepath.Join(dir, "pid"), filepath.Join(dir, "log")
	inner := fmt.Sprintf(`trap 'echo usr1 > %s; exit 0' USR1; echo > %s; while :; do sleep 0.05; done`, shq(file), shq(ready))
	outer := fmt.Sprintf(`%s -s -p SIGUSR1 -- sh -c %s > %s 2>&1 &
echo $! > %s
n=0; while [ ! -e %s ] && [ $n -lt 500 ]; do sleep 0.02; n=$((n+1)); done
exit 0`, shq(initBin), shq(inner), shq(logFile), shq(pidFile), shq(ready))
	cmd := exec.Command("sh", "-c", outer)
	cmd.Env = baseEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(defaultTimeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	if err != nil {
		t.Fatalf("parent shell: %v: %s", err, out.String())
	}
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if st, ok := readStat(pid); ok {
				t.Cleanup(func() {
					if alive(pid, st.startTime) {
						for _, d := range descendants(pid) {
							_ = syscall.Kill(d, syscall.SIGKILL)
						}
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				})
			}
		}
	}
	if _, err := os.Stat(ready); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("child never got ready; init output:\n%s", log)
	}
	got, ok := waitFile(t, file, 10*time.Second)
	if !ok {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("child did not receive SIGUSR1 within 10 s of the parent's death; init output:\n%s", log)
	}
	if strings.TrimSpace(got) != "usr1" {
		t.Fatalf("marker file holds %q", got)
	}
}

// ---------------------------------------------------------------------------
// Terminal

// runOnPty runs argv as a session leader whose controlling terminal (and
// stdin, stdout, stderr) is a fresh pty, and returns what it printed.
func runOnPty(t *testing.T, argv ...string) string {
	t.Helper()
	master, slave := openPty(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = baseEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				readDone <- err
				return
			}
		}
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	timeout := time.NewTimer(defaultTimeout)
	defer timeout.Stop()
	select {
	case <-waitDone:
	case <-timeout.C:
		_ = cmd.Process.Kill()
		<-waitDone
		t.Fatalf("%v did not finish within %v", argv, defaultTimeout)
	}
	// Read the master until EIO (every slave fd closed) or EOF.
	select {
	case err := <-readDone:
		if err != nil && !errors.Is(err, syscall.EIO) && err.Error() != "EOF" {
			t.Fatalf("reading pty: %v", err)
		}
	case <-timeout.C:
		master.Close()
		t.Fatalf("pty output not finished within %v (a process still holds the terminal?): %q", defaultTimeout, out.String())
	}
	return strings.ReplaceAll(out.String(), "\r", "")
}

// catStat finds the /proc/self/stat line printed by cat.
func catStat(t *testing.T, out string) procStat {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "(cat)") {
			st, err := parseStat(l)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	t.Fatalf("no stat line from cat in terminal output:\n%s", out)
	return procStat{}
}

// TestTerminalForeground: with a terminal on stdin, the child gets its own
// process group and the terminal's foreground only if the init itself is in
// the foreground group; started as a background job, it leaves the terminal
// alone (tini steals it).
func TestTerminalForeground(t *testing.T) {
	run := shq(initBin) + " -s -- cat /proc/self/stat"
	cases := []struct {
		name       string
		argv       []string
		foreground bool
	}{
		{"init is the session leader", []string{initBin, "-s", "--", "cat", "/proc/self/stat"}, true},
		{"init is a child of the session leader", []string{"sh", "-c", run + "; exit $?"}, true},
		{"init started in the background", []string{"sh", "-m", "-c", run + " & wait"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runOnPty(t, c.argv...)
			st := catStat(t, out)
			if st.ttyNr == 0 {
				t.Fatalf("cat has no controlling terminal: %s", out)
			}
			if c.foreground {
				if st.pgrp != st.pid {
					t.Errorf("child is not in its own process group: pid %d pgrp %d", st.pid, st.pgrp)
				}
				if st.tpgid != st.pgrp {
					t.Errorf("child's group %d is not the terminal's foreground group %d", st.pgrp, st.tpgid)
				}
			} else if st.tpgid == st.pgrp {
				t.Errorf("background init made its child's group %d the terminal's foreground", st.pgrp)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Grace period

// TestGraceTermsRemainingProcesses: with --grace (or INITBOX_GRACE), when the
// child exits the remaining processes get SIGTERM and time to clean up; the
// init exits with the child's status once they are gone. Without, the
// namespace teardown SIGKILLs them (tini behaviour) and the cleanup never runs.
func TestGraceTermsRemainingProcesses(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     []string
		cleanup bool
	}{
		{"--grace 5s", []string{"--grace", "5s"}, nil, true},
		{"INITBOX_GRACE=5s", nil, []string{"INITBOX_GRACE=5s"}, true},
		{"no grace", nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			f, ready := filepath.Join(dir, "F"), filepath.Join(dir, "R")
			// R is written once sleep 100 has exec'd: a SIGTERM that hits the
			// forked shell before its exec can be lost (the shell still has
			// the trap), and that sleep would then outlive the grace.
			script := fmt.Sprintf(`(trap "sleep 0.5; echo cleanup-done > %s; exit 0" TERM
 sleep 100 &
 until read c < /proc/$!/comm && [ "$c" = sleep ]; do sleep 0.01; done
 echo > %s; wait) &
while [ ! -e %s ]; do sleep 0.01; done
exit 3`, shq(f), shq(ready), shq(ready))
			r := runInit(t, runSpec{mode: pid1, env: c.env, args: append(c.args, "--", "sh", "-c", script)})
			wantExit(t, r, 3)
			b, err := os.ReadFile(f)
			if !c.cleanup {
				if err == nil {
					t.Fatalf("cleanup ran without a grace period: %q", b)
				}
				return
			}
			if err != nil || strings.TrimSpace(string(b)) != "cleanup-done" {
				t.Fatalf("background job's TERM cleanup did not finish (F: %q, %v): %v", b, err, r)
			}
			if r.elapsed > 3*time.Second {
				t.Fatalf("took %v: the init should exit once the processes are gone, well before the 5 s grace ends", r.elapsed)
			}
		})
	}
}

// TestGraceKillsAfterTimeout: a process that ignores SIGTERM is SIGKILLed
// when the grace period ends, and the init then exits with the child's status.
func TestGraceKillsAfterTimeout(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			dir := t.TempDir()
			ready := filepath.Join(dir, "R")
			script := fmt.Sprintf(`sh -c 'trap "" TERM; echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; while :; do sleep 0.1; done' x %s &
while [ ! -e %s ]; do sleep 0.01; done
exit 4`, shq(ready), shq(ready))
			p := startInit(t, runSpec{mode: m, args: withMode(m, "--grace", "1s", "--", "sh", "-c", script)})
			content := p.waitFile(ready, 10*time.Second)
			var pid int
			var st procStat
			if m == direct {
				// Host pid: check that it is gone once the init has exited.
				pid, _ = strconv.Atoi(strings.TrimSpace(content))
				var ok bool
				if st, ok = readStat(pid); !ok {
					t.Fatalf("TERM-ignoring job %d already gone before the grace period ended", pid)
				}
				t.Cleanup(func() {
					if alive(pid, st.startTime) {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				})
			}
			r := p.wait()
			wantExit(t, r, 4)
			if r.elapsed < 900*time.Millisecond || r.elapsed > 5*time.Second {
				t.Fatalf("init exited after %v, want about the 1 s grace (0.9 s .. 5 s)", r.elapsed)
			}
			if m == direct && !waitGone(pid, st.startTime, 2*time.Second) {
				t.Fatalf("TERM-ignoring job %d still runs after the init exited", pid)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Informational flags and names

var versionRE = regexp.MustCompile(`^tini version \S+ - git\.\S+$`)

// TestInfoFlags: --version in the format docker info parses, -h and -l.
func TestInfoFlags(t *testing.T) {
	t.Run("--version", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, args: []string{"--version"}})
		wantExit(t, r, 0)
		if !versionRE.MatchString(strings.TrimSpace(r.stdout)) {
			t.Fatalf("--version printed %q, want a line matching %v", r.stdout, versionRE)
		}
	})
	t.Run("-h", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, args: []string{"-h"}})
		wantExit(t, r, 0)
		if !strings.Contains(strings.ToLower(r.stdout), "usage") {
			t.Fatalf("-h printed no usage on stdout: %v", r)
		}
	})
	t.Run("-l", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, args: []string{"-l"}})
		wantExit(t, r, 0)
		if !strings.Contains(strings.ToLower(r.stdout), "copyright") {
			t.Fatalf("-l printed no licence text on stdout: %v", r)
		}
	})
}

// TestTiniNames: called through a symlink named tini or docker-init, the
// binary is tini mode only.
func TestTiniNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"tini", "docker-init"} {
		link := filepath.Join(dir, name)
		if err := os.Symlink(initBin, link); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			t.Run("--version", func(t *testing.T) {
				r := runInit(t, runSpec{mode: direct, bin: link, args: []string{"--version"}})
				wantExit(t, r, 0)
				if !versionRE.MatchString(strings.TrimSpace(r.stdout)) {
					t.Fatalf("%s --version printed %q, want a line matching %v", name, r.stdout, versionRE)
				}
			})
			t.Run("exit status", func(t *testing.T) {
				r := runInit(t, runSpec{mode: direct, bin: link, args: []string{"-s", "--", "sh", "-c", "exit 5"}})
				wantExit(t, r, 5)
			})
			t.Run("tini's help", func(t *testing.T) {
				r := runInit(t, runSpec{mode: direct, bin: link, args: []string{"--help"}})
				wantExit(t, r, 0)
				if !strings.Contains(r.stdout, "Usage: "+name+" [OPTIONS]") || strings.Contains(r.stdout, "Commands:") {
					t.Errorf("%s --help: want tini mode's usage alone: %v", name, r)
				}
			})
			t.Run("no subcommands", func(t *testing.T) {
				if _, err := exec.LookPath("version"); err == nil {
					t.Skip("a program named version is on PATH")
				}
				r := runInit(t, runSpec{mode: direct, bin: link, args: []string{"-s", "version"}})
				wantExit(t, r, 127)
			})
		})
	}
}

// ---------------------------------------------------------------------------
// Size

// TestBinarySize: the release build, every command in it, stays within
// 4.5 MiB (issue #13).
func TestBinarySize(t *testing.T) {
	bin := initBin
	if !builtHere {
		if _, err := exec.LookPath("go"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("this test requires go on PATH and CI is set")
			}
			t.Skip("requires go on PATH to build ./cmd/initbox")
		}
		bin = filepath.Join(t.TempDir(), "initbox")
		if err := testenv.BuildInitbox(moduleRoot, bin); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("release binary: %d bytes (%.2f MiB), budget %d", fi.Size(), float64(fi.Size())/(1<<20), sizeBudget)
	if fi.Size() > sizeBudget {
		t.Fatalf("binary is %d bytes, over the %d-byte budget", fi.Size(), sizeBudget)
	}
}

// TestHelp: the one binary says what it can do (issue #13): the help of
// initbox and of each command on stdout with status 0; an unknown option
// gives the command's usage line on stderr and status 2; a program named
// like a command is run with --, and under the names tini and docker-init
// there are no commands at all.
func TestHelp(t *testing.T) {
	name := filepath.Base(initBin)
	commands := []string{"run", "check", "ctl", "notify", "spawn", "version", "help"}
	for _, c := range []struct {
		name string
		args []string
		want []string // on stdout
	}{
		{"--help", []string{"--help"}, append([]string{"Usage:", "Tini mode options:", "--grace DUR"}, commands...)},
		{"help", []string{"help"}, append([]string{"Usage:"}, commands...)},
		{"help run", []string{"help", "run"}, []string{"run [-c FILE]", "--config FILE"}},
		{"run --help", []string{"run", "--help"}, []string{"run [-c FILE]", "--config FILE"}},
		{"run -h", []string{"run", "-h"}, []string{"run [-c FILE]"}},
		{"check --help", []string{"check", "--help"}, []string{"check [-c FILE]"}},
		{"ctl --help", []string{"ctl", "--help"}, []string{"ctl [--socket PATH]", "restart NAME"}},
		{"help ctl", []string{"help", "ctl"}, []string{"ctl [--socket PATH]"}},
		{"notify --help", []string{"notify", "--help"}, []string{"notify KEY=VALUE", "READY=1"}},
		{"spawn --help", []string{"spawn", "--help"}, []string{"spawn [flags]", "--hostname NAME"}},
		{"help spawn", []string{"help", "spawn"}, []string{"spawn [flags]"}},
		{"version --help", []string{"version", "--help"}, []string{"version"}},
		{"help help", []string{"help", "help"}, []string{"help [COMMAND]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runInit(t, runSpec{mode: direct, args: c.args})
			wantExit(t, r, 0)
			for _, w := range c.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q: %v", w, r)
				}
			}
			if r.stderr != "" {
				t.Errorf("help wrote to stderr: %v", r)
			}
		})
	}
	for _, c := range []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"run --bogus", []string{"run", "--bogus"}, "Usage: " + name + " run [-c FILE]"},
		{"check -x", []string{"check", "-x"}, "Usage: " + name + " check [-c FILE]"},
		{"check with a program", []string{"check", "--", "true"}, "takes no program"},
		{"spawn --bogus", []string{"spawn", "--bogus", "--", "true"}, "Usage: " + name + " spawn [flags]"},
		{"notify without a message", []string{"notify"}, "Usage: " + name + " notify KEY=VALUE"},
		{"notify not KEY=VALUE", []string{"notify", "READY"}, "want KEY=VALUE"},
		{"ctl --bogus", []string{"ctl", "--bogus"}, "Usage: initbox ctl"},
		{"help bogus", []string{"help", "bogus"}, `unknown command "bogus"`},
		{"version extra", []string{"version", "x"}, "Usage: " + name + " version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runInit(t, runSpec{mode: direct, args: c.args})
			wantExit(t, r, 2)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q: %v", c.want, r)
			}
		})
	}
	t.Run("a program called run, with --", func(t *testing.T) {
		dir := t.TempDir()
		prog := filepath.Join(dir, "run")
		if err := os.WriteFile(prog, []byte("#!/bin/sh\necho ran \"$@\"\nexit 4\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := runInit(t, runSpec{mode: direct, args: []string{"-s", "--", "run", "x"}, env: []string{"PATH=" + dir + ":/usr/bin:/bin"}})
		wantExit(t, r, 4)
		if !strings.Contains(r.stdout, "ran x") {
			t.Errorf("the program called run did not run: %v", r)
		}
	})
}

// TestTiniModeInitWork: tini mode does not pay at start for what only the
// supervisor, ctl or spawn need (issue #13): of initbox's own packages,
// only those on the tini path run init work (GODEBUG=inittrace=1 lists
// every package whose initialisation runs code).
func TestTiniModeInitWork(t *testing.T) {
	r := runInit(t, runSpec{mode: direct, args: []string{"-s", "--", "true"}, env: []string{"GODEBUG=inittrace=1"}})
	wantExit(t, r, 0)
	allowed := map[string]bool{"logging": true, "signals": true, "launch": true}
	seen := 0
	for _, l := range strings.Split(r.stderr, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "init" {
			continue
		}
		seen++
		if pkg, ok := strings.CutPrefix(f[1], "github.com/initbox/initbox/"); ok && !allowed[pkg] {
			t.Errorf("tini mode runs the init work of package %s: %s", pkg, l)
		}
	}
	if seen == 0 {
		t.Fatalf("no inittrace lines: %v", r)
	}
}
