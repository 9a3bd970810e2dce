//go:build linux

package tini

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// suiteTimeout bounds one run of the suite; tini passes it in about 30 s
// here, most of it in sleeps of the suite's own.
const suiteTimeout = 5 * time.Minute

// bitmapStandIn replaces the PyPI `bitmap` module, of which the suite uses
// one thing: BitMap.fromstring(bits).nonzero(), the positions of the 1s in a
// string of 0s and 1s, counted from its right end (bit 0 is signal 1).
const bitmapStandIn = `# Written by initbox's tests/tini: a stand-in for the one use tini's
# test/run_inner_tests.py makes of the bitmap module.


class BitMap(object):
    def __init__(self, positions):
        self._positions = positions

    @classmethod
    def fromstring(cls, bits):
        return cls([i for i, c in enumerate(reversed(bits)) if c == "1"])

    def nonzero(self):
        return list(self._positions)
`

// resetSignals starts the suite from the default signal state, with no
// signal ignored or blocked, whatever state the test was started in (under
// nohup SIGHUP is ignored, a shell's background job ignores SIGINT and
// SIGQUIT, and each would reach tini's child through the suite; signals 32
// and 33 are resetLibcSignals' part). It then execs argv[1:].
const resetSignals = `import os, signal, sys
for s in signal.valid_signals():
    if s not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
signal.pthread_sigmask(signal.SIG_SETMASK, [])
os.execv(sys.argv[1], sys.argv[1:])
`

// resetLibcSignals sets signals 32 and 33 back to their default action in
// the test process, for the suite to inherit. GNU make leaves them ignored
// (make test shows SigIgn 0x180000000), resetSignals cannot reset them
// (glibc's sigaction refuses the two it keeps for itself), and the suite,
// given them ignored by tini's child, dies on naming them (KeyError: 32,
// tini-static too). Nothing in this process uses them.
func resetLibcSignals() error {
	var dfl [64]byte // a zeroed kernel struct sigaction, on every architecture: SIG_DFL, no flags, empty mask
	for _, sig := range []uintptr{32, 33} {
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); e != 0 {
			return fmt.Errorf("rt_sigaction(%d, SIG_DFL): %v", sig, e)
		}
	}
	return nil
}

// findPython returns a python3 that has psutil and prctl, the modules the
// suite and its stage scripts import, or why there is none.
func findPython() (string, string) {
	candidates := []string{"/usr/bin/python3"} // where Debian's python3-psutil and python3-prctl go
	if p, err := exec.LookPath("python3"); err == nil && p != candidates[0] {
		candidates = append(candidates, p)
	}
	var tried []string
	for _, p := range candidates {
		cmd := exec.Command(p, "-c", "import psutil, prctl")
		cmd.Env = suiteEnv()
		out, err := cmd.CombinedOutput()
		if err == nil {
			return p, ""
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		tried = append(tried, fmt.Sprintf("%s: %s", p, lines[len(lines)-1]))
	}
	return "", fmt.Sprintf("the suite needs a python3 with the psutil and prctl modules (Debian: apt-get install python3-psutil python3-prctl); tried %s", strings.Join(tried, "; "))
}

// suiteEnv is the test's environment without what changes tini's, initbox's
// or the suite's behaviour or Python's module search, so the host's
// environment cannot leak into a run; extra is added.
func suiteEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TINI_"), strings.HasPrefix(k, "INITBOX_"), strings.HasPrefix(k, "PYTHON"):
		case k == "POSIXLY_CORRECT", k == "MINIMAL", k == "FORCE_SUBREAPER", k == "SOURCE_DIR", k == "BUILD_DIR":
		default:
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestInnerSuite runs tini's test/run_inner_tests.py, unchanged, with the
// binary under test as $BUILD_DIR/tini, as tini's CI does: exit codes and
// -e; reaping as a subreaper (through the suite's subreaper-proxy.py, -s and
// TINI_SUBREAPER) and its display (-w); forwarding of TERM, USR1 and USR2;
// process group delivery (-g, TINI_KILL_PROCESS_GROUP); the warning when
// neither PID 1 nor a subreaper; the ignored signals and blocked mask the
// child inherits (sigconf-test); the parent death signal (-p).
func TestInnerSuite(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		skipOrFail(t, "gcc is not installed (Debian: apt-get install gcc libc6-dev): the suite's test/sigconf/sigconf-test.c is compiled at test time")
	}
	python, reason := findPython()
	if reason != "" {
		skipOrFail(t, "%s", reason)
	}
	src, from, reason, err := tiniSource(t)
	if err != nil {
		t.Fatalf("getting tini's source: %v", err)
	}
	if reason != "" {
		skipOrFail(t, "%s", reason)
	}
	t.Logf("tini's suite from %s", from)

	work := t.TempDir()
	build := filepath.Join(work, "build")      // BUILD_DIR: tini and sigconf-test
	pybin := filepath.Join(work, "bin")        // python and python3 for the stage scripts' #! lines
	pylib := filepath.Join(work, "pythonpath") // the bitmap stand-in
	for _, d := range []string{build, pybin, pylib} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Called as tini, initbox is tini mode only.
	if err := os.Symlink(initBin, filepath.Join(build, "tini")); err != nil {
		t.Fatal(err)
	}
	// As tini's ci/run_build.sh: ${CC} -o ${BUILD_DIR}/sigconf-test test/sigconf/sigconf-test.c
	if out, err := exec.Command("gcc", "-o", filepath.Join(build, "sigconf-test"),
		filepath.Join(src, "test", "sigconf", "sigconf-test.c")).CombinedOutput(); err != nil {
		t.Fatalf("compiling sigconf-test.c: %v\n%s", err, out)
	}
	// The stage scripts start with #!/usr/bin/env python or python3 (tini's
	// CI runs them in a virtualenv); a fresh Debian has no `python`, and the
	// first python3 on PATH may lack psutil and prctl.
	for _, name := range []string{"python", "python3"} {
		if err := os.Symlink(python, filepath.Join(pybin, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(pylib, "bitmap.py"), []byte(bitmapStandIn), 0o644); err != nil {
		t.Fatal(err)
	}

	env := suiteEnv(
		"PATH="+pybin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SOURCE_DIR="+src,
		"BUILD_DIR="+build,
		"FORCE_SUBREAPER=1", // tini's CI default: the -s and TINI_SUBREAPER variants run too
		"PYTHONUNBUFFERED=1",
		"PYTHONPATH="+pylib,
		"PYTHONDONTWRITEBYTECODE=1", // leave the cached source tree as fetched
	)

	// run runs the suite once: its output, whether it passed, and how it
	// ended.
	if err := resetLibcSignals(); err != nil {
		t.Fatal(err)
	}
	run := func(n int) (out string, ok bool, how string) {
		// The output goes to a file, not a pipe: a process the suite leaves
		// behind (a sleep of a failed check) cannot hold up the test.
		logPath := filepath.Join(work, fmt.Sprintf("suite-%d.log", n))
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, "-c", resetSignals, python, filepath.Join(src, innerSuite))
		cmd.Dir = work
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		start := time.Now()
		runErr := cmd.Run()
		logFile.Close()
		elapsed := time.Since(start).Round(100 * time.Millisecond)
		data, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		done := summarize(string(data)).done
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return string(data), false, fmt.Sprintf("timed out after %v", suiteTimeout)
		case runErr != nil:
			return string(data), false, fmt.Sprintf("%v, after %v", runErr, elapsed)
		case !done:
			return string(data), false, fmt.Sprintf("exited 0 without its closing line, after %v", elapsed)
		}
		return string(data), true, fmt.Sprintf("in %v", elapsed)
	}

	out, ok, how := run(1)
	if !ok && psutilRace.MatchString(out) {
		t.Logf("tini's inner suite failed (%s) on psutil's /proc race, not on a check (%s): running it once more; its output:\n%s",
			how, psutilRace.FindString(out), lastLines(out, 0))
		out, ok, how = run(2)
	}
	r := summarize(out)
	if ok {
		t.Logf("tini's inner suite passed with %s as tini %s: %d checks\n%s", initBin, how, len(r.passed), lastLines(out, 12))
		return
	}
	failed := "before its first check"
	if r.failed != "" {
		failed = fmt.Sprintf("at %q", r.failed)
	}
	// The whole output: a failed stage's own output and traceback are in
	// the middle of the suite's assertion message.
	t.Errorf("tini's inner suite failed with %s as tini (%s) %s, after %d checks passed: %s\nthe suite's output:\n%s",
		initBin, how, failed, len(r.passed), r.assertion, lastLines(out, 0))
}

// psutilRace is the error psutil before 6.1.1 (Debian 12 has 5.9.4) can
// raise when it lists processes while others exit: /proc/PID/stat is gone
// but /proc/PID is still there (giampaolo/psutil#2418). The suite's reaping
// stage lists every process on the machine, so a busy machine can fail it
// with nothing wrong in the init under test; such a run is run once more.
var psutilRace = regexp.MustCompile(`FileNotFoundError: \[Errno 2\] No such file or directory: '/proc/[0-9]+/stat'`)

// result is what the suite's output says of its checks.
type result struct {
	passed    []string // the lines that started each check that passed
	failed    string   // the line that started the check that did not end
	assertion string   // the suite's own error line
	done      bool     // the suite printed its closing line
}

// summarize reads the suite's output: each check starts with a line
// "Running ..." or "running ...", and it passed when the next one starts or
// the suite prints "All done, tests as expected". The suite's own error is
// the first unindented line after the last frame of run_inner_tests.py in
// its traceback (a failed stage's traceback can be inside its message).
func summarize(out string) result {
	var r result
	current := ""
	lines := strings.Split(out, "\n")
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "Running ") || strings.HasPrefix(line, "running "):
			if current != "" {
				r.passed = append(r.passed, current)
			}
			current = line
		case strings.Contains(line, "All done, tests as expected"):
			if current != "" {
				r.passed = append(r.passed, current)
			}
			current = ""
			r.done = true
		}
	}
	r.failed = current
	frame := -1
	for i, line := range lines {
		if strings.HasPrefix(line, "  File ") && strings.Contains(line, "run_inner_tests.py\", line ") {
			frame = i
		}
	}
	if frame >= 0 {
		for _, line := range lines[frame+1:] {
			if line != "" && !strings.HasPrefix(line, " ") {
				r.assertion = line
				break
			}
		}
	}
	if r.assertion == "" {
		r.assertion = "(no traceback of the suite's own)"
	}
	return r
}

// lastLines returns the last n lines of s (all when n is 0), indented.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
