//go:build linux

package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// Starter registers a child with the process's one waiter (DESIGN: "One
// owner of wait"); *reaper.Reaper is one. Start calls fork with the
// reaper's lock held.
type Starter interface {
	Start(fork func() (int, error)) (int, <-chan reaper.Exit, error)
}

// Forker wraps every fork for the signal intake (*signals.Intake).
type Forker interface {
	Fork(fork func() (int, error)) (int, error)
}

// Launcher starts processes for one initbox: it knows the reaper that
// waits for them, the intake whose dispositions they inherit, and the
// signal state initbox itself was started with.
type Launcher struct {
	starter   Starter
	forker    Forker
	inherited signals.State
	// self is initbox's own executable, run as the trampoline.
	self string
	// forkIgnored caches what a child forked through forker has ignored
	// (the intake's dispositions, which do not change after Notify);
	// read under the reaper's lock, in the fork.
	forkIgnored    signals.Set
	forkIgnoredSet bool
}

// New returns a Launcher that starts processes registered with s, through
// f's fork when f is not nil.
func New(s Starter, f Forker) *Launcher {
	st := signals.Inherited()
	return &Launcher{starter: s, forker: f, inherited: st, self: "/proc/self/exe"}
}

// SignalState is the signal state a child starts with.
type SignalState int

const (
	// InheritSignals gives the child the ignored signals and the mask that
	// initbox was started with, as tini does: what initbox's parent meant
	// for the program (nohup's SIGHUP, a shell's background SIGINT and
	// SIGQUIT, a blocked mask) reaches it. Tini mode and spawn's program.
	InheritSignals SignalState = iota
	// CleanSignals gives the child every signal at its default action and
	// none blocked, whatever initbox was started with: services and their
	// checks, which must be able to trap SIGHUP for a reload even under
	// nohup.
	CleanSignals
)

// Cgroup is a cgroup a process can start inside (*cgroup.Group).
type Cgroup interface {
	// Path is the cgroup's directory, which the trampoline joins.
	Path() string
	// Prepare arranges sys so that the fork starts the child inside the
	// cgroup (clone3 with CLONE_INTO_CGROUP); ok is false where that
	// cannot be done. release is called once the child has started.
	Prepare(sys *syscall.SysProcAttr) (release func(), ok bool, err error)
}

// Cmd is a process to start, shaped like os/exec.Cmd. It is started once.
type Cmd struct {
	// Path is the program; a name without a slash is looked up in the
	// PATH of Env, as execvp(3) does.
	Path string
	// Args is the argv, Args[0] included.
	Args []string
	// Env is the environment, as is (nil is an empty one).
	Env []string
	// Dir is the working directory; "" keeps initbox's.
	Dir string

	// Stdin, Stdout and Stderr are the child's 0, 1 and 2; nil is
	// /dev/null. ExtraFiles follow from 3; a nil one is closed in the
	// child. They stay open in initbox: the caller closes what it opened
	// (the child has its own copies once Start returns).
	Stdin, Stdout, Stderr *os.File
	ExtraFiles            []*os.File

	// Credential is the user, group and groups to run as; nil keeps
	// initbox's.
	Credential *syscall.Credential
	// NoNewPrivs sets no_new_privs; Bounding, when not nil, is the
	// capability bounding set kept (every other one dropped); Ambient are
	// capabilities a non-root Credential keeps across the exec.
	NoNewPrivs bool
	Bounding   []int
	Ambient    []int
	// Cgroup, when not nil, is the cgroup the child starts inside: by
	// clone3, or by the trampoline joining it where clone3 is refused.
	Cgroup Cgroup
	// OOMScoreAdj, when not nil, is the child's oom_score_adj from its
	// first instruction on: initbox takes the value for the instant of
	// the fork (a process's own, inherited at fork; written after the
	// start instead, a short program would run with initbox's).
	OOMScoreAdj *int

	// Setpgid puts the child in a process group of its own; Foreground
	// then gives it initbox's terminal (stdin) when initbox has it in
	// the foreground.
	Setpgid    bool
	Foreground bool
	// Terminal makes the child the leader of a new session whose
	// controlling terminal is Stdin, which must be a terminal (initbox
	// exec --tty): ^C, ^Z and a hangup reach it as on a login. It
	// replaces Setpgid: a session leader leads its group already.
	Terminal bool
	// Signals is the signal state the child starts with.
	Signals SignalState
	// SysProcAttr, when not nil, holds further attributes (namespaces,
	// id maps, a cgroup fd); the fields above are added to a copy.
	SysProcAttr *syscall.SysProcAttr

	// Pid is the child's pid once Start has returned nil.
	Pid int
	// Trampolined is set when initbox ran as the trampoline between fork
	// and exec; CloneRefused is the error of a clone3 into Cgroup that
	// the kernel refused, after which the trampoline joined it instead.
	Trampolined  bool
	CloneRefused error

	l        *Launcher
	exited   <-chan reaper.Exit
	started  bool
	waitDone bool
	exit     reaper.Exit
}

// Cmd returns c bound to l, for a Cmd built as a literal.
func (l *Launcher) Cmd(c *Cmd) *Cmd {
	c.l = l
	return c
}

// Errors Start returns that callers branch on.
var (
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("launch: already started")
	// ErrOOMScoreAdj: the oom_score_adj could not be taken for the fork.
	ErrOOMScoreAdj = errors.New("oom_score_adj")
)

// Start starts the process and registers it with the reaper. The error of
// a program that could not be started matches ErrNotFound or
// ErrCannotExec as the shell would classify it (127, 126).
func (c *Cmd) Start() error {
	if c.started {
		return ErrStarted
	}
	if c.l == nil {
		return errors.New("launch: Cmd not made by a Launcher")
	}
	if len(c.Args) == 0 {
		c.Args = []string{c.Path}
	}
	c.started = true
	path, err := LookPath(c.Path, c.Env)
	if err != nil {
		return fmt.Errorf("exec %s: %w", c.Path, err)
	}
	files, closeAfter, err := c.files()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	sys := &syscall.SysProcAttr{}
	if c.SysProcAttr != nil {
		*sys = *c.SysProcAttr
	}
	sys.Setpgid = sys.Setpgid || c.Setpgid
	if c.Terminal {
		// setpgid after setsid fails with EPERM for a session leader;
		// Ctty names the child's descriptor for Setctty.
		sys.Setsid, sys.Setctty, sys.Ctty, sys.Setpgid = true, true, 0, false
	}
	if c.Setpgid && !c.Terminal && c.Foreground && Foreground() {
		// Ctty is initbox's own stdin here: for Foreground the field
		// names a parent fd (syscall.SysProcAttr).
		sys.Foreground, sys.Ctty = true, 0
	}
	// Its own uid and groups need no privilege: the credential then
	// changes nothing that would need one (setgroups, see keepGroups).
	sys.Credential = keepGroups(c.Credential)
	attr := &syscall.ProcAttr{Dir: c.Dir, Env: c.Env, Files: files, Sys: sys}

	err = c.start(path, attr)
	if err != nil && c.CloneRefused == nil && cloneRefused(sys, err) {
		// Probed when the cgroups were laid out, but a kernel with clone3
		// and without CLONE_INTO_CGROUP (5.3–5.6) only tells at the first
		// start: the trampoline joins instead.
		c.CloneRefused = err
		sys.UseCgroupFD, sys.CgroupFD = false, 0
		err = c.start(path, attr)
	}
	if err != nil {
		if errors.Is(err, ErrOOMScoreAdj) {
			return err
		}
		// ForkExec reports a failed chdir in the child like a failed exec
		// ("exec /bin/sh: no such file or directory"): name the directory
		// when it is the one that is missing.
		if c.Dir != "" {
			if _, serr := os.Stat(c.Dir); serr != nil {
				return fmt.Errorf("working directory: %w", serr)
			}
		}
		return fmt.Errorf("exec %s: %w", c.Path, ExecError(err))
	}
	return nil
}

// start forks once with attr, through the trampoline when the child needs
// anything ForkExec cannot give it.
func (c *Cmd) start(path string, attr *syscall.ProcAttr) error {
	l := c.l
	want := signals.State{}
	if c.Signals == InheritSignals {
		want = l.inherited
	}
	spec := Spec{NoNewPrivs: c.NoNewPrivs, Bounding: c.Bounding, Ambient: c.Ambient}
	release := func() {}
	cgroupByClone := false
	if c.Cgroup != nil && !spec.Needed() && c.CloneRefused == nil {
		// The trampoline, when it runs anyway, joins the cgroup itself,
		// last before the uid switch: a Go runtime started inside a leaf
		// with a small pids_max could not make its threads.
		r, ok, err := c.Cgroup.Prepare(attr.Sys)
		if err != nil {
			return err
		}
		release, cgroupByClone = r, ok
	}
	defer release()
	if c.Cgroup != nil && !cgroupByClone {
		spec.Cgroup = c.Cgroup.Path()
	}

	// A trampoline reports why it could not exec the program on a pipe,
	// so that Start fails as it does for ForkExec's own child; the
	// descriptor follows the child's files. Made only for a trampoline.
	var errR, errW *os.File
	defer func() {
		for _, f := range []*os.File{errR, errW} {
			if f != nil {
				f.Close()
			}
		}
	}()
	fork := func() (int, error) {
		// Under the reaper's lock and inside the intake's fork: the
		// dispositions are those the child will have.
		if !l.forkIgnoredSet {
			l.forkIgnored, l.forkIgnoredSet = signals.IgnoredNow(), true
		}
		execPath, execArgv, execAttr := path, c.Args, attr
		c.Trampolined = spec.Needed() || (want.Ignored^l.forkIgnored)&^libcReserved != 0
		if c.Trampolined {
			var err error
			if errR, errW, err = errorPipe(); err != nil {
				return 0, err
			}
			trampAttr := *attr
			trampAttr.Files = append(append([]uintptr(nil), attr.Files...), errW.Fd())
			s := spec
			s.Signals, s.SetSignals, s.ErrFD = want, true, len(attr.Files)
			execPath, execArgv, execAttr = Wrap(l.self, s, path, c.Args, &trampAttr)
		}
		restore, err := borrowOOMScoreAdj(c.OOMScoreAdj)
		if err != nil {
			return 0, err
		}
		defer restore()
		// The child's mask is the forking thread's (the runtime saves it
		// before the fork and restores it in the child): set it on this
		// thread for the length of the fork.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var old unix.Sigset_t
		mask := unix.Sigset_t{Val: [16]uint64{uint64(want.Blocked)}}
		if err := unix.PthreadSigmask(unix.SIG_SETMASK, &mask, &old); err != nil {
			return 0, os.NewSyscallError("rt_sigprocmask", err)
		}
		defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
		return syscall.ForkExec(execPath, execArgv, execAttr)
	}
	if l.forker != nil {
		inner := fork
		fork = func() (int, error) { return l.forker.Fork(inner) }
	}
	pid, exited, err := l.starter.Start(fork)
	if err != nil {
		return err
	}
	if c.Trampolined {
		errW.Close()
		errW = nil
		if err := trampolineError(errR); err != nil {
			// The trampoline exits; the reaper collects it, and nobody
			// waits for this Cmd.
			return err
		}
	}
	c.Pid, c.exited = pid, exited
	return nil
}

// errorPipe makes the trampoline's error pipe: plain blocking descriptors,
// which os.NewFile leaves out of the runtime's poller (os.Pipe would set
// the poller up, epoll and all, before the first child's exec).
func errorPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	return os.NewFile(uintptr(p[0]), "trampoline errors"), os.NewFile(uintptr(p[1]), "trampoline errors"), nil
}

// trampolineError reads what the trampoline reported on its error pipe:
// nothing (EOF at its exec) when the program runs. An exec failure comes
// back as the errno, which Start classifies as for ForkExec.
func trampolineError(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil || len(b) == 0 {
		return nil
	}
	kind, rest, _ := strings.Cut(string(b), " ")
	num, msg, _ := strings.Cut(rest, " ")
	n, _ := strconv.Atoi(num)
	if kind == "exec" && n != 0 {
		return syscall.Errno(n)
	}
	if n != 0 {
		return fmt.Errorf("%s: %w", strings.TrimPrefix(msg, "initbox: "), trampolineErrno{syscall.Errno(n)})
	}
	return errors.New(msg)
}

// trampolineErrno is an errno from the trampoline's setup (not the exec):
// it unwraps for errors.Is but is not classified as an exec failure.
type trampolineErrno struct{ errno syscall.Errno }

func (e trampolineErrno) Error() string { return e.errno.Error() }
func (e trampolineErrno) Is(target error) bool {
	return target == e.errno
}

// files returns the child's descriptors, opening /dev/null for nil
// standard files; closeAfter is what Start opened.
func (c *Cmd) files() (fds []uintptr, closeAfter []*os.File, err error) {
	var null *os.File
	for i, f := range append([]*os.File{c.Stdin, c.Stdout, c.Stderr}, c.ExtraFiles...) {
		if f == nil && i < 3 {
			if null == nil {
				if null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return nil, nil, err
				}
				closeAfter = append(closeAfter, null)
			}
			f = null
		}
		if f == nil {
			fds = append(fds, ^uintptr(0)) // -1: closed in the child
			continue
		}
		fds = append(fds, f.Fd())
	}
	return fds, closeAfter, nil
}

// Exited returns the channel that receives the child's exit, once; nil
// before Start.
func (c *Cmd) Exited() <-chan reaper.Exit { return c.exited }

// Wait waits for the child to exit and returns how it ended. A Cmd whose
// exit was already taken from Exited must not be waited for.
func (c *Cmd) Wait() (reaper.Exit, error) {
	if c.exited == nil {
		return reaper.Exit{}, errors.New("launch: not started")
	}
	if !c.waitDone {
		c.exit, c.waitDone = <-c.exited, true
	}
	return c.exit, nil
}

// cloneRefused reports whether a start inside a cgroup failed because
// clone3 or its CLONE_INTO_CGROUP was refused rather than the program:
// seccomp's ENOSYS, or EINVAL/E2BIG from kernels 5.3–5.6.
func cloneRefused(sys *syscall.SysProcAttr, err error) bool {
	return sys.UseCgroupFD &&
		(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.E2BIG))
}

// borrowOOMScoreAdj sets initbox's oom_score_adj to *v, for a fork to
// pass on, and returns what puts initbox's own back. It runs under the
// reaper's lock, the only place initbox forks, so no other child
// inherits the borrowed value. Raising the value, and lowering it back,
// needs no privilege; going below initbox's own needs CAP_SYS_RESOURCE.
func borrowOOMScoreAdj(v *int) (restore func(), err error) {
	if v == nil {
		return func() {}, nil
	}
	const file = "/proc/self/oom_score_adj"
	own, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOOMScoreAdj, err)
	}
	if err := os.WriteFile(file, []byte(strconv.Itoa(*v)), 0); err != nil {
		return nil, fmt.Errorf("%w %d: %w (below initbox's own %s needs CAP_SYS_RESOURCE)", ErrOOMScoreAdj, *v, err, strings.TrimSpace(string(own)))
	}
	return func() { os.WriteFile(file, own, 0) }, nil
}

// libcReserved are signals 32 and 33, which the C library takes for its
// own threads' use (SIGCANCEL, SIGSETXID) and installs handlers for at
// every program's start: whether a child starts with them ignored makes no
// difference, and is not worth a trampoline. (GNU make leaves them ignored
// for what it runs.)
var libcReserved = signals.Set(0).Add(32).Add(33)
