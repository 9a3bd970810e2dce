//go:build linux

// Package reaper is the one owner of wait in initbox.
//
// A PID 1 (or child subreaper) must call wait4(-1) to collect the orphans
// the kernel reparents to it, and whoever waits first gets a status: a second
// waiter, such as exec.Cmd.Wait, gets ECHILD and loses the status
// (ramr/go-reaper#2, golang/go#71828). So nothing else in initbox waits.
// Every child is started through Start, which holds the reaper's lock across
// fork+exec and the registration of the pid; the SIGCHLD loop drains
// wait4(-1, WNOHANG) under the same lock. A child that exits before its
// starter has registered it is therefore reaped only after the registration,
// and its status reaches its subscriber: the race is closed by the lock, not
// by luck.
package reaper

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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
	sigc chan os.Signal
	stop chan struct{}
	done chan struct{}

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
}

// New takes SIGCHLD, reaps whatever is already waiting (a PID 1 may inherit
// exited children from the program that exec'ed it), and starts the loop
// that reaps on each SIGCHLD. SIGCHLD is registered synchronously, before
// New returns, so no exit is missed (runc #5206).
func New(opts Options) *Reaper {
	r := &Reaper{
		opts:    opts,
		sigc:    make(chan os.Signal, 1), // SIGCHLDs coalesce: one drain collects them all
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		waiters: make(map[int]chan Exit),
		orphan:  opts.Orphan,
	}
	signal.Notify(r.sigc, unix.SIGCHLD)
	r.drain()
	go r.loop()
	return r
}

func (r *Reaper) loop() {
	defer close(r.done)
	for {
		select {
		case <-r.sigc:
			r.safeDrain()
		case <-r.stop:
			return
		}
	}
}

func (r *Reaper) safeDrain() {
	defer func() {
		if v := recover(); v != nil && r.opts.Error != nil {
			r.opts.Error(fmt.Errorf("reaper: recovered from panic: %v", v))
		}
	}()
	r.drain()
}

// drain reaps every child that has exited, holding mu throughout so that no
// exit is collected while a fork is between clone and registration.
func (r *Reaper) drain() {
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
		e.Time = time.Now()
		if c, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			c <- e // buffered for one: never blocks
			continue
		}
		r.orphans.Add(1)
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
		return
	}
	// Only after the callbacks, so that whoever waits for Childless has seen
	// every orphan reported (tini -w logs each one before initbox exits);
	// and only if nothing was started meanwhile.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == gen {
		r.childless = true
		for _, c := range r.idle {
			close(c)
		}
		r.idle = nil
	}
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

// Close stops the reaping loop and releases SIGCHLD. Children still
// running are no longer reaped. It is for tests; PID 1 never stops reaping.
func (r *Reaper) Close() {
	signal.Stop(r.sigc)
	close(r.stop)
	<-r.done
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
