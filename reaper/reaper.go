//go:build linux

// Package reaper is the one owner of wait in initbox.
//
// A PID 1 (or child subreaper) must call wait4(-1) to collect the orphans
// the kernel reparents to it, and whoever waits first gets a status: a second
// waiter, such as exec.Cmd.Wait, gets ECHILD and loses the status
// (ramr/go-reaper#2, golang/go#71828). So nothing else in initbox waits.
// Every child is started through Start, which holds the reaper's lock across
// fork+exec and the registration of the pid; the reaping goroutine drains
// wait4(-1, WNOHANG) under the same lock. A child that exits before its
// starter has registered it is therefore reaped only after the registration,
// and its status reaches its subscriber: the race is closed by the lock, not
// by luck.
//
// The reaping goroutine learns of exits from waitid(P_ALL, WEXITED|WNOWAIT),
// which sleeps until a child is a zombie and collects nothing, not from
// SIGCHLD: while there are children SIGCHLD is discarded by the kernel as
// it is sent (issue #17: a signal per exit cost a handler, the runtime's
// signal goroutine and a channel hop, the most of initbox's CPU in an
// orphan storm). With no children at all waitid cannot sleep, yet a
// process can still become a child without being started here (one that
// entered the PID namespace from outside is reparented to PID 1 when its
// parent outside dies) and says so only by SIGCHLD when it exits: so then,
// and only then, SIGCHLD is taken, on the reaping goroutine's thread
// (signals.Redirect), not through os/signal, whose first use costs a
// round trip to the runtime's signal-mask thread and that thread.
package reaper

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/signals"
)

// Exit is what the reaper learnt about a process that ended.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
	Rusage unix.Rusage
	Time   time.Time
}

// Code is the shell's view of the status: the exit code, or 128+N when
// the process died from signal N.
func (e Exit) Code() int {
	switch {
	case e.Status.Exited():
		return e.Status.ExitStatus()
	case e.Status.Signaled():
		return 128 + int(e.Status.Signal())
	}
	return 255
}

// String describes the status as os.ProcessState does.
func (e Exit) String() string {
	switch {
	case e.Status.Exited():
		return fmt.Sprintf("exit status %d", e.Status.ExitStatus())
	case e.Status.Signaled():
		s := "signal: " + e.Status.Signal().String()
		if e.Status.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %#x", uint32(e.Status))
}

// Options configure a Reaper.
type Options struct {
	// Orphan, if not nil, is called with each reaped process that was not
	// started through Start. It runs on the reaper's goroutine, outside
	// the lock, and must not block for long.
	Orphan func(Exit)
	// Error, if not nil, is told about unexpected wait4 failures and
	// recovered panics; the reaper carries on.
	Error func(error)
}

// A Reaper collects the exit status of every child of the process.
// There is one per process; create it with New before anything forks.
type Reaper struct {
	opts Options
	// parked is the id of the thread that waits for SIGCHLD while the
	// process has no children, 0 when none does: Start sends it a SIGCHLD
	// of its own when it has made a child.
	parked atomic.Int32
	stop   chan struct{}

	orphans atomic.Uint64

	mu sync.Mutex
	// orphan is Options.Orphan or what SetOrphan set. Guarded by mu.
	orphan func(Exit)
	// waiters maps the pid of each running child started by Start to the
	// channel that receives its Exit. Guarded by mu.
	waiters map[int]chan Exit
	// gen counts the children started, so a drain knows whether its ECHILD
	// is still true. Guarded by mu.
	gen uint64
	// childless is true when wait4 last reported ECHILD and nothing was
	// started since. Guarded by mu.
	childless bool
	// idle holds channels to close when childless next becomes true.
	// Guarded by mu.
	idle []chan struct{}
	// closed is set by Close: the loop then touches neither SIGCHLD's
	// disposition nor any child. Guarded by mu.
	closed bool
}

// chld is SIGCHLD's action as the Go runtime installed it, saved the first
// time a loop discards SIGCHLD, for Close to put back. One per process, as
// the disposition is.
var chld struct {
	once sync.Once
	gos  signals.Disposition
	err  error
}

// chldSet is SIGCHLD alone, as a signal mask.
var chldSet = unix.Sigset_t{Val: [16]uint64{1 << (unix.SIGCHLD - 1)}}

// New reaps whatever is already waiting (a PID 1 may inherit exited
// children from the program that exec'ed it) and starts the goroutine that
// reaps from then on. Nothing is missed between the two: waitid reports
// zombies, not events.
func New(opts Options) *Reaper {
	r := &Reaper{
		opts:    opts,
		stop:    make(chan struct{}),
		waiters: make(map[int]chan Exit),
		orphan:  opts.Orphan,
	}
	r.drain()
	go r.loop()
	return r
}

func (r *Reaper) loop() {
	if !r.setSIGCHLD(false) {
		return
	}
	for {
		// Lets whoever the last drain made runnable (a service's waiter,
		// the tini-mode main goroutine) run before this one blocks in a
		// syscall with the P: with GOMAXPROCS=1 it would otherwise wait
		// for sysmon to take the P back.
		runtime.Gosched()
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, nil)
		select {
		case <-r.stop:
			return
		default:
		}
		switch err {
		case nil:
			r.reap(exitedPid(&info))
		case unix.EINTR:
		case unix.ECHILD:
			if !r.waitChild() {
				return
			}
		default:
			r.report(os.NewSyscallError("waitid", err))
			if !r.waitChild() {
				return
			}
		}
	}
}

// exitedPid is si_pid of what waitid filled in: on 64-bit Linux the first
// word of the union after si_signo, si_errno, si_code and padding.
func exitedPid(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), 16)))
}

// reap collects pid, which waitid reported exited, and hands its Exit to
// its subscriber or to the Orphan callback. By pid, not wait4(-1): the
// kernel finds one pid at once, where wait4(-1) walks the list of
// children up to a zombie, and the whole list, every live child, to say
// there is none left (issue #17: with 10,000 orphans alive that last walk
// after every exit was most of the storm's CPU). waitid walks it only to
// the first zombie, and all of it only when it then sleeps.
func (r *Reaper) reap(pid int) {
	var e Exit
	r.mu.Lock()
	for {
		got, err := unix.Wait4(pid, &e.Status, unix.WNOHANG, &e.Rusage)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got != pid {
			// ECHILD: ForkExec reaped its own child, whose exec failed,
			// while Start held the lock. 0: that pid was freed and is a
			// new child's now, still running.
			r.mu.Unlock()
			if err != nil && err != unix.ECHILD {
				r.report(os.NewSyscallError("wait4", err))
			}
			return
		}
		break
	}
	e.Pid = pid
	if !r.deliver(&e) {
		r.mu.Unlock()
		return
	}
	orphan := r.orphan
	r.mu.Unlock()
	if orphan != nil {
		defer func() {
			if v := recover(); v != nil {
				r.report(fmt.Errorf("reaper: recovered from panic: %v", v))
			}
		}()
		orphan(e)
	}
}

// deliver stamps e and hands it to the subscriber of e.Pid, if Start
// registered it; else it counts an orphan and reports true. mu is held.
func (r *Reaper) deliver(e *Exit) (orphan bool) {
	e.Time = time.Now()
	if c, ok := r.waiters[e.Pid]; ok {
		delete(r.waiters, e.Pid)
		c <- *e // buffered for one: never blocks
		return false
	}
	r.orphans.Add(1)
	return true
}

// waitChild waits, with SIGCHLD taken, until the process may have a child
// again: Start made one, or one that was not started here exited. It
// returns false once Close was called.
func (r *Reaper) waitChild() bool {
	// Blocked on this thread only for the wait: the kernel discards a
	// SIGCHLD at its default action only if the main thread, which this
	// may be, does not block it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, &chldSet, nil) // EINVAL only, for a bad how
	defer unix.PthreadSigmask(unix.SIG_UNBLOCK, &chldSet, nil)
	if !r.setSIGCHLD(true) {
		return false
	}
	r.parked.Store(int32(unix.Gettid()))
	defer r.parked.Store(0)
	// A child that exited since waitid said ECHILD was announced to the
	// discarding action: look once more now that SIGCHLD is taken.
	if r.safeDrain() {
		for {
			_, err := signals.Wait(signals.Set(0).Add(unix.SIGCHLD))
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
	}
	// Discarded again before the unblock: a SIGCHLD still pending here
	// must not find resend, which would send it back here.
	return r.setSIGCHLD(false)
}

// setSIGCHLD has SIGCHLD sent to the calling thread (signals.Redirect) if
// taken, else discards it. It returns false once Close was called, and
// then changes nothing: Close put back the runtime's handler.
func (r *Reaper) setSIGCHLD(taken bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	var err error
	if taken {
		err = signals.Redirect(unix.SIGCHLD)
	} else {
		first := false
		chld.once.Do(func() { chld.gos, chld.err = signals.Discard(unix.SIGCHLD); first = true })
		if err = chld.err; err == nil && !first {
			_, err = signals.Discard(unix.SIGCHLD)
		}
	}
	if err != nil {
		// Still correct, only dearer: SIGCHLD stays with the runtime.
		r.mu.Unlock()
		r.report(fmt.Errorf("reaper: SIGCHLD: %w", err))
		r.mu.Lock()
	}
	return true
}

// safeDrain is drain, with a panic in an Orphan callback reported
// instead of fatal.
func (r *Reaper) safeDrain() (childless bool) {
	defer func() {
		if v := recover(); v != nil && r.opts.Error != nil {
			r.opts.Error(fmt.Errorf("reaper: recovered from panic: %v", v))
		}
	}()
	return r.drain()
}

// drain reaps every child that has exited, holding mu throughout so that no
// exit is collected while a fork is between clone and registration. It
// reports whether the process was left with no children.
func (r *Reaper) drain() (childless bool) {
	var (
		orphans   []Exit
		sawECHILD bool
	)
	r.mu.Lock()
	gen := r.gen
	for {
		var e Exit
		pid, err := unix.Wait4(-1, &e.Status, unix.WNOHANG, &e.Rusage)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			sawECHILD = true
			break
		}
		if err != nil {
			r.mu.Unlock()
			r.report(os.NewSyscallError("wait4", err))
			r.mu.Lock()
			break
		}
		if pid <= 0 {
			break
		}
		e.Pid = pid
		if !r.deliver(&e) {
			continue
		}
		if r.orphan != nil {
			orphans = append(orphans, e)
		}
	}
	orphan := r.orphan
	r.mu.Unlock()
	for _, e := range orphans {
		orphan(e)
	}
	if !sawECHILD {
		return false
	}
	// Only after the callbacks, so that whoever waits for Childless has seen
	// every orphan reported (tini -w logs each one before initbox exits);
	// and only if nothing was started meanwhile.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen != gen {
		return false
	}
	r.childless = true
	for _, c := range r.idle {
		close(c)
	}
	r.idle = nil
	return true
}

func (r *Reaper) report(err error) {
	if r.opts.Error != nil {
		r.opts.Error(err)
	}
}

// SetOrphan replaces Options.Orphan: f is called with each reaped process
// that was not started by Start.
func (r *Reaper) SetOrphan(f func(Exit)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.orphan = f
}

// Start calls fork, which must start exactly one child and return its pid,
// with the reaper's lock held, and registers the pid before the lock is
// released. The returned channel receives the child's Exit once.
//
// fork must not block for long: every exit waits for it. Path lookup and
// other preparation belong before Start. If fork fails, Start returns its
// error unchanged; syscall.ForkExec reaps a child whose exec failed itself,
// and the lock keeps the reaper from stealing that status.
func (r *Reaper) Start(fork func() (int, error)) (int, <-chan Exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	c := make(chan Exit, 1)
	r.waiters[pid] = c
	r.gen++
	r.childless = false
	if tid := r.parked.Load(); tid != 0 {
		// Read after the registration, and the loop parks before its last
		// drain: either that drain sees this child or this wakes it. A
		// stale id reaches a thread of this process that discards it.
		_ = unix.Tgkill(os.Getpid(), int(tid), unix.SIGCHLD)
	}
	return pid, c, nil
}

// Signal sends sig to pid if pid was started by Start and has not been
// reaped yet; otherwise it returns os.ErrProcessDone. Checking and sending
// under the lock means a pid that was reaped, and perhaps reused, is never
// signalled.
func (r *Reaper) Signal(pid int, sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.waiters[pid]; !ok {
		return os.ErrProcessDone
	}
	if err := unix.Kill(pid, sig); err != nil {
		if err == unix.ESRCH {
			return os.ErrProcessDone
		}
		return os.NewSyscallError("kill", err)
	}
	return nil
}

// Childless returns a channel that is closed once the process has no
// children at all (wait4 reports ECHILD): every child and every adopted
// orphan has been reaped. A descendant whose parent lives is not a child,
// but when its parent dies it becomes one, so "childless" means "no
// descendants left".
func (r *Reaper) Childless() <-chan struct{} {
	c := make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.childless {
		close(c)
		return c
	}
	r.idle = append(r.idle, c)
	return c
}

// Orphans is the number of processes reaped that were not started by Start.
func (r *Reaper) Orphans() uint64 { return r.orphans.Load() }

// Running is the number of children started by Start not yet reaped.
func (r *Reaper) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiters)
}

// Close stops reaping: children still running are no longer reaped. The
// reaping goroutine ends at once if the process has no children, else when
// the next one exits, and leaves it unreaped; SIGCHLD's handler is the Go
// runtime's again. It is for tests; PID 1 never stops reaping.
func (r *Reaper) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.stop)
	chld.once.Do(func() { chld.gos, chld.err = signals.Discard(unix.SIGCHLD) })
	if chld.err == nil {
		_ = chld.gos.Restore()
	}
	if tid := r.parked.Load(); tid != 0 {
		_ = unix.Tgkill(os.Getpid(), int(tid), unix.SIGCHLD)
	}
}

// SetSubreaper makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER, Linux 3.4): orphaned descendants are reparented
// to it instead of to PID 1 of the namespace.
func SetSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
	}
	return nil
}

// IsSubreaper reports whether the calling process is a child subreaper.
func IsSubreaper() (bool, error) {
	var v int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
		return false, os.NewSyscallError("prctl(PR_GET_CHILD_SUBREAPER)", err)
	}
	return v != 0, nil
}
