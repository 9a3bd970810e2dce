//go:build linux

// Package tests holds black-box tests of the built initbox binary. They run it
// as a real PID 1 (unshare --pid --fork --mount-proc), as a child subreaper and
// as a plain child, and check what the kernel shows in /proc.
//
// Set INITBOX_BIN to test an existing binary (for example
// INITBOX_BIN=/usr/bin/tini-static to check which tests describe behaviour
// shared with tini); otherwise TestMain builds ../cmd/initbox.
package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/tests/internal/procfs"
	"github.com/initbox/initbox/tests/internal/testenv"
)

const (
	// defaultTimeout bounds every single run of the binary, so a hung init
	// fails its test instead of hanging the suite.
	defaultTimeout = 20 * time.Second
	// sizeBudget is the largest acceptable size of the stripped static
	// binary that holds every command (issue #13).
	sizeBudget = 4718592 // 4.5 MiB
)

var (
	// initBin is the absolute path of the binary under test.
	initBin string
	// builtHere is set when TestMain built initBin itself with the release
	// flags, so the size test can measure it instead of building again.
	builtHere bool
	// moduleRoot is the directory holding go.mod (the parent of tests/).
	moduleRoot string
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == noClone3Arg {
		err := execWithoutClone3(os.Args[2:])
		fmt.Fprintf(os.Stderr, "tests: %s: %v\n", noClone3Arg, err)
		os.Exit(1)
	}
	if len(os.Args) > 2 && os.Args[1] == sigCountArg {
		err := countSignals(os.Args[2])
		fmt.Fprintf(os.Stderr, "tests: %s: %v\n", sigCountArg, err)
		os.Exit(1)
	}
	if len(os.Args) > 2 && os.Args[1] == sigStateArg {
		err := execWithSignalState(os.Args[2:])
		fmt.Fprintf(os.Stderr, "tests: %s: %v\n", sigStateArg, err)
		os.Exit(1)
	}
	// Run under nohup or as a shell's background job, the test binary
	// would pass SIGHUP, SIGINT or SIGQUIT on ignored to every initbox it
	// starts, which then leaves them ignored (issue #14): caught here,
	// they reach the children at their default action, as from a terminal.
	// The tests that need an ignored signal set it up themselves
	// (sigStateArg).
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: getwd:", err)
		return 1
	}
	moduleRoot = filepath.Dir(wd)

	if b := os.Getenv("INITBOX_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tests: INITBOX_BIN:", err)
			return 1
		}
		if _, err := os.Stat(abs); err != nil {
			fmt.Fprintln(os.Stderr, "tests: INITBOX_BIN:", err)
			return 1
		}
		initBin = abs
	}

	dir, err := os.MkdirTemp("", "initbox-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: mkdtemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if initBin == "" {
		initBin = filepath.Join(dir, "initbox")
		if err := testenv.BuildInitbox(moduleRoot, initBin); err != nil {
			fmt.Fprintf(os.Stderr, "tests: %v\n", err)
			return 1
		}
		builtHere = true
	}
	return m.Run()
}

// requireRoot skips (or fails under CI) when the test needs root, which is
// what unshare --pid needs.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test requires root and CI is set")
		}
		t.Skip("requires root: unshare --pid needs CAP_SYS_ADMIN")
	}
}

// skipOrFail: see testenv.SkipOrFail.
var skipOrFail = testenv.SkipOrFail

// requireTool skips (or fails under CI) when a program is not on PATH.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("this test requires %q on PATH and CI is set", name)
		}
		t.Skipf("requires %q on PATH: %v", name, err)
	}
}

// requirePID1 gates every test that runs the binary as PID 1 of a new PID
// namespace.
func requirePID1(t *testing.T) {
	t.Helper()
	requireRoot(t)
	requireTool(t, "unshare")
}

// shq quotes s for /bin/sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// baseEnv is the test's environment without the variables that change the
// behaviour of tini or initbox, so the host environment cannot leak into a run.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TINI_") || strings.HasPrefix(k, "INITBOX_") || k == "POSIXLY_CORRECT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// mode says how the binary is started.
type mode int

const (
	direct mode = iota // a plain child of the test process
	pid1               // PID 1 of a new PID namespace via unshare
)

func (m mode) String() string {
	if m == pid1 {
		return "pid1"
	}
	return "direct"
}

// runSpec describes one start of the binary.
type runSpec struct {
	mode    mode
	bin     string // defaults to initBin (used for tini/docker-init symlinks)
	args    []string
	env     []string // added to baseEnv()
	stdin   io.Reader
	timeout time.Duration // defaults to defaultTimeout
	// stdout, when set, is the binary's stdout instead of a collected pipe.
	stdout *os.File
	// extra[i] becomes fd 3+i in the binary (nil entries stay closed),
	// without close-on-exec, as a shell or a container runtime passes them.
	extra []*os.File
}

// outBuf collects a stream and wakes waiters on every write.
type outBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func newOutBuf() *outBuf { return &outBuf{notify: make(chan struct{}, 1)} }

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	n, err := o.b.Write(p)
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (o *outBuf) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// proc is a running instance of the binary (or of unshare running it).
type proc struct {
	t       *testing.T
	spec    runSpec
	cmd     *exec.Cmd
	stdout  *outBuf
	stderr  *outBuf
	start   time.Time
	done    chan struct{}
	waitErr error
	elapsed time.Duration
	ctx     context.Context
	initPID int // host pid of the binary, once known
	// seen holds descendants (pid → start time) noticed while the run went
	// on, so cleanup can kill them even after the init itself died.
	seenMu sync.Mutex
	seen   map[int]uint64
}

// result is how a run ended.
type result struct {
	code     int            // exit status, -1 if killed by a signal
	signal   syscall.Signal // the signal that killed it, if any
	stdout   string
	stderr   string
	elapsed  time.Duration
	timedOut bool
}

func (r result) String() string {
	how := fmt.Sprintf("exit status %d", r.code)
	if r.code < 0 {
		how = fmt.Sprintf("killed by signal %d (%v)", int(r.signal), r.signal)
	}
	if r.timedOut {
		how += " (timed out)"
	}
	return fmt.Sprintf("%s after %v\n--- stdout:\n%s\n--- stderr:\n%s", how, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// startInit starts the binary and registers a cleanup that kills whatever
// is left of it.
func startInit(t *testing.T, s runSpec) *proc {
	t.Helper()
	if s.mode == pid1 {
		requirePID1(t)
	}
	if s.bin == "" {
		s.bin = initBin
	}
	if s.timeout == 0 {
		s.timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	var cmd *exec.Cmd
	if s.mode == pid1 {
		// --kill-child: if unshare is killed (timeout), the binary gets SIGKILL
		// and with it the whole namespace, so nothing leaks.
		args := append([]string{"--pid", "--fork", "--mount-proc", "--kill-child", s.bin}, s.args...)
		cmd = exec.CommandContext(ctx, "unshare", args...)
	} else {
		cmd = exec.CommandContext(ctx, s.bin, s.args...)
	}
	cmd.Env = baseEnv(s.env...)
	cmd.Stdin = s.stdin
	cmd.ExtraFiles = s.extra
	p := &proc{t: t, spec: s, cmd: cmd, stdout: newOutBuf(), stderr: newOutBuf(), done: make(chan struct{}), ctx: ctx}
	cmd.Stdout = p.stdout
	if s.stdout != nil {
		cmd.Stdout = s.stdout
	}
	cmd.Stderr = p.stderr
	// Orphans of the child may keep our pipes open; do not wait for them.
	cmd.WaitDelay = 2 * time.Second
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	if s.mode == direct {
		p.initPID = cmd.Process.Pid
	}
	go func() {
		p.waitErr = cmd.Wait()
		p.elapsed = time.Since(p.start)
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		cancel()
		<-p.done
		p.killSeen()
	})
	return p
}

// kill SIGKILLs the binary and everything it started that is still its
// descendant. As PID 1, killing it takes down the whole namespace.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	if p.spec.mode == pid1 {
		// unshare --kill-child SIGKILLs the init, the kernel the namespace.
		_ = p.cmd.Process.Kill()
		return
	}
	p.snapshot()
	_ = p.cmd.Process.Kill()
	p.killSeen()
}

// snapshot records the current descendants of a direct-mode run.
func (p *proc) snapshot() {
	if p.spec.mode != direct {
		return
	}
	p.seenMu.Lock()
	defer p.seenMu.Unlock()
	if p.seen == nil {
		p.seen = map[int]uint64{}
	}
	for _, pid := range descendants(p.cmd.Process.Pid) {
		if st, ok := readStat(pid); ok {
			p.seen[pid] = st.startTime
		}
	}
}

// killSeen SIGKILLs every recorded descendant that still runs.
func (p *proc) killSeen() {
	p.seenMu.Lock()
	defer p.seenMu.Unlock()
	for pid, start := range p.seen {
		if alive(pid, start) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the run to end and returns how.
func (p *proc) wait() result {
	p.t.Helper()
	<-p.done
	r := result{stdout: p.stdout.String(), stderr: p.stderr.String(), elapsed: p.elapsed}
	r.timedOut = errors.Is(p.ctx.Err(), context.DeadlineExceeded)
	ps := p.cmd.ProcessState
	if ps == nil {
		p.t.Fatalf("%v: %v", p.cmd.Args, p.waitErr)
	}
	ws := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited():
		r.code = ws.ExitStatus()
	case ws.Signaled():
		r.code = -1
		r.signal = ws.Signal()
	default:
		r.code = -1
	}
	if r.timedOut {
		p.t.Fatalf("%v did not finish within %v: %v", p.cmd.Args, p.spec.timeout, r)
	}
	return r
}

// waitStdout waits until stdout contains want. It fails the test if the
// process exits first or the deadline passes.
func (p *proc) waitStdout(want string, d time.Duration) {
	p.t.Helper()
	if p.waitOut(p.stdout, func(s string) bool { return strings.Contains(s, want) }, fmt.Sprintf("%q on stdout", want), d) {
		p.snapshot()
	}
}

// waitOut waits until match holds for what buf has collected, and reports
// whether the process was still running then. It fails the test if the
// process exits without a match or the deadline passes; what names the
// awaited output in the message.
func (p *proc) waitOut(buf *outBuf, match func(string) bool, what string, d time.Duration) (running bool) {
	p.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if match(buf.String()) {
			return true
		}
		select {
		case <-buf.notify:
		case <-p.done:
			if match(buf.String()) {
				return false
			}
			p.t.Fatalf("exited before %s: %v", what, p.wait())
		case <-deadline.C:
			p.t.Fatalf("no %s within %v\n--- stdout:\n%s\n--- stderr:\n%s", what, d, p.stdout.String(), p.stderr.String())
		}
	}
}

// waitFile waits until path exists and is not empty and returns its content.
// It fails the test if the process exits first or the deadline passes.
func (p *proc) waitFile(path string, d time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			p.snapshot()
			return string(b)
		}
		if p.exited() {
			p.t.Fatalf("exited before writing %s: %v", path, p.wait())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not written within %v\n--- stdout:\n%s\n--- stderr:\n%s", path, d, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hostInitPID returns the host pid of the binary. As PID 1 it is the only
// child of unshare (read from /proc/UNSHARE/task/UNSHARE/children).
func (p *proc) hostInitPID() int {
	p.t.Helper()
	if p.initPID != 0 {
		return p.initPID
	}
	u := p.cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		kids := childrenOf(u)
		if len(kids) > 0 {
			p.initPID = kids[0]
			return p.initPID
		}
		if p.exited() {
			break
		}
		// Short: TestSignalsDuringStart signals from the first moments.
		time.Sleep(100 * time.Microsecond)
	}
	p.t.Fatalf("no child of unshare (pid %d) found", u)
	return 0
}

// signal sends sig to the binary (by its host pid).
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := syscall.Kill(p.hostInitPID(), sig); err != nil {
		p.t.Fatalf("kill(%d, %v): %v", p.hostInitPID(), sig, err)
	}
}

// runInit starts the binary and waits for it to end.
func runInit(t *testing.T, s runSpec) result {
	t.Helper()
	return startInit(t, s).wait()
}

// wantExit fails the test unless the run ended with exit status want.
func wantExit(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("want exit status %d, got %v", want, r)
	}
}

// childrenOf and descendants: see package procfs.
var (
	childrenOf  = procfs.ChildrenOf
	descendants = procfs.Descendants
)

// procStat is the part of /proc/PID/stat the tests use.
type procStat struct {
	pid, ppid, pgrp, session, ttyNr, tpgid int
	comm, state                            string
	startTime                              uint64
}

// parseStat parses one line of /proc/PID/stat.
func parseStat(line string) (procStat, error) {
	var s procStat
	line = strings.TrimSpace(line)
	open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || close < open {
		return s, fmt.Errorf("not a stat line: %q", line)
	}
	var err error
	if s.pid, err = strconv.Atoi(strings.TrimSpace(line[:open])); err != nil {
		return s, fmt.Errorf("bad pid in %q", line)
	}
	s.comm = line[open+1 : close]
	f := strings.Fields(line[close+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid) ... f[19] field 22 (starttime).
	if len(f) < 20 {
		return s, fmt.Errorf("short stat line: %q", line)
	}
	s.state = f[0]
	ints := []*int{&s.ppid, &s.pgrp, &s.session, &s.ttyNr, &s.tpgid}
	for i, p := range ints {
		if *p, err = strconv.Atoi(f[1+i]); err != nil {
			return s, fmt.Errorf("bad field %d in %q", 4+i, line)
		}
	}
	if s.startTime, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return s, fmt.Errorf("bad starttime in %q", line)
	}
	return s, nil
}

// readStat reads /proc/PID/stat; ok is false when the process is gone.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	s, err := parseStat(string(b))
	return s, err == nil
}

// alive reports whether the process identified by pid and start time still
// runs (exists and is not a zombie). The start time guards against pid reuse.
func alive(pid int, start uint64) bool {
	s, ok := readStat(pid)
	return ok && s.startTime == start && s.state != "Z"
}

// waitGone waits until the process is gone or a zombie.
func waitGone(pid int, start uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pid, start) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFile waits until path exists and is not empty, and returns its content.
func waitFile(t *testing.T, path string, d time.Duration) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return string(b), true
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// zombieReport is a shell snippet that prints "zombies:" followed by the pid
// of every process in state Z that /proc shows. Run inside the namespace it
// sees only the namespace's processes. It retries for up to ~1 s while
// zombies remain, so a zombie caught in the instant between its exit and a
// working reaper's wait does not count; a missing reaper keeps them forever.
const zombieReport = `zombie_scan() {
	zl=
	for f in /proc/[0-9]*/status; do
		{ while read -r k v r; do
			if [ "$k" = State: ]; then
				if [ "$v" = Z ]; then p=${f#/proc/}; zl="$zl ${p%/status}"; fi
				break
			fi
		done < "$f"; } 2>/dev/null
	done
}
zombie_scan; zn=0
while [ -n "$zl" ] && [ $zn -lt 10 ]; do sleep 0.1; zombie_scan; zn=$((zn+1)); done
echo "zombies:$zl"
`

// zombiesFrom returns the pids that zombieReport printed in out.
func zombiesFrom(t *testing.T, out string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^zombies:(.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no zombies: line in output:\n%s", out)
	}
	return strings.Fields(m[1])
}

// openPty makes a pseudo-terminal pair without cgo: open /dev/ptmx, unlock
// it (TIOCSPTLCK 0), ask its number (TIOCGPTN) and open /dev/pts/N. Neither
// side becomes the test's controlling terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		skipOrFail(t, "no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil {
			return
		}
		n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	}); err != nil {
		t.Fatal(err)
	}
	if ioErr != nil {
		t.Fatalf("ptmx ioctl: %v", ioErr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}
