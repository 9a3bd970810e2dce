//go:build linux

// Package signals is initbox's intake of signals and the rule of what each
// one means.
//
// A Go PID 1 must catch every signal it can before anything slow happens: the
// runtime installs its own handler for TERM, INT, HUP and the rest at start,
// and without os/signal.Notify it "dies" from them, which the kernel refuses
// for PID 1, so the runtime falls back to exit(2) and the kernel then kills
// every other process of the namespace (pid_namespaces(7)). Notify is therefore the first thing
// initbox does.
//
// (With the entry point, the intake takes them on a thread of its own
// instead, see below, and os/signal is not used at all.)
//
// What is never forwarded, and why:
//   - SIGURG is the Go runtime's own preemption signal (golang/go#37942); a
//     genuine SIGURG for the child cannot be told apart from it, so the
//     intake does not even take it.
//   - SIGCHLD belongs to the reaper.
//   - SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP and SIGSYS are
//     synchronous: they describe a fault of the process that receives them.
//     Sent with kill to initbox they are dropped, so that they cannot kill
//     PID 1 and orphan the child, as they do tini (krallin/tini#104).
//   - SIGPIPE is what a write to a closed log pipe raises in initbox itself.
//
// SIGTTIN and SIGTTOU are ignored, as tini does, so that an initbox in the
// terminal's background is never stopped by the terminal; its children still
// get them with their default disposition (see Intake.Fork). SIGTSTP is
// forwarded. A signal that was already ignored when initbox started (nohup)
// stays ignored, by initbox and by its children, as tini keeps it.
//
// Real-time signals SIGRTMIN (34) to SIGRTMAX (64) are forwarded, except 34,
// which the Go runtime reserves (like 32 and 33, which glibc reserves).
//
// One way in with the entry point (issue #17): a thread of the intake
// takes every signal it handles with sigtimedwait, as tini takes them.
// Those a Go program may keep blocked in every thread are blocked by the
// entry point before the runtime starts (see waitableSet); those the
// runtime unblocks in every thread it makes are sent on to that thread by
// a handler of ours (see resendable); the faults and SIGPIPE are ignored
// through os/signal, which costs no round trip to the runtime. Without
// the entry point (go test) they are taken through os/signal.Notify.
package signals

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Action is what initbox does with a signal it receives.
type Action int

const (
	// Forward passes the signal on to the child (or its group).
	Forward Action = iota
	// Drop takes the signal and does nothing with it.
	Drop
	// Ignore leaves the signal's disposition SIG_IGN: it is never received.
	Ignore
	// Reap is SIGCHLD: the reaper's.
	Reap
	// Runtime is a signal the Go runtime keeps (SIGURG, SIGPROF, 32–34),
	// and SIGKILL and SIGSTOP, which nobody can catch.
	Runtime
)

func (a Action) String() string {
	switch a {
	case Forward:
		return "forward"
	case Drop:
		return "drop"
	case Ignore:
		return "ignore"
	case Reap:
		return "reap"
	case Runtime:
		return "runtime"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// NSIG is one more than the highest signal number on Linux.
const NSIG = 65

// RTMin is SIGRTMIN as the C library and kill(1) number it: the kernel's 32
// plus the two glibc keeps for itself.
const RTMin = 34

// Classify returns the Action for sig when initbox runs one program.
func Classify(sig syscall.Signal) Action {
	switch sig {
	case unix.SIGCHLD:
		return Reap
	case unix.SIGURG, unix.SIGPROF, unix.SIGKILL, unix.SIGSTOP, 32, 33, 34:
		return Runtime
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGABRT,
		unix.SIGTRAP, unix.SIGSYS, unix.SIGPIPE:
		return Drop
	case unix.SIGTTIN, unix.SIGTTOU:
		return Ignore
	}
	if sig <= 0 || sig >= NSIG {
		return Runtime
	}
	return Forward
}

// Intake receives every catchable signal sent to the process.
type Intake struct {
	// C delivers each signal taken. Its buffer is large (as runc's) because
	// os/signal drops a signal rather than block when a channel is full.
	C <-chan os.Signal

	c chan os.Signal
	// forkDefault are the signals initbox ignores that a child must get
	// at their default (see Fork): SIGTTIN and SIGTTOU, and SIGPIPE with
	// the entry point, unless inherited ignored.
	forkDefault []syscall.Signal
	// ignored is what was ignored at start; see Notify.
	ignored Set
	// restTaken is closed once Notify's goroutine has taken the signals
	// that are not urgent.
	restTaken chan struct{}
	// resent, if not nil, is closed once the signals of resendable are
	// taken; Fork waits for it.
	resent chan struct{}
	// direct, if set, takes the waited signals instead of C; see Direct.
	direct atomic.Pointer[func(syscall.Signal)]
}

// Notify starts the intake. Call it first in main, before anything forks.
//
// In initbox's own binary (linked with EntryFlag), the signals of
// waitableSet are blocked since before the runtime started, pending until
// a goroutine of the intake takes them with sigtimedwait (see Direct);
// Notify takes the others with os/signal before it returns: each is a
// round trip to the runtime's signal-mask thread.
//
// Without the entry point (go test), it takes at once only the signals
// whose arrival before the first fork would matter (see urgent), and the
// others on a goroutine of their own, beside the path to the program's
// exec rather than on it (issue #17); TakeRest waits for them, and one
// that arrives before is dropped.
//
// A signal that was ignored when initbox started (nohup, a shell's
// background job) stays ignored: initbox neither forwards nor acts on it,
// as tini (issue #14). Ignored reports which they are, for the one line
// initbox says about them.
func Notify() *Intake {
	st := Inherited()
	in := &Intake{c: make(chan os.Signal, 2048), restTaken: make(chan struct{})}
	in.C = in.c
	waited := Set(entryBlocked)
	var (
		take, rest, ignore, drop []os.Signal
		resent                   []syscall.Signal
	)
	for n := 1; n < NSIG; n++ {
		sig := syscall.Signal(n)
		a := Classify(sig)
		if a == Reap || a == Runtime || waited.Has(sig) {
			continue
		}
		if st.Ignored.Has(sig) {
			in.ignored = in.ignored.Add(sig)
			// The runtime may have put its handler in place of SIG_IGN
			// already (all but SIGHUP and SIGINT): back to SIG_IGN, which
			// children inherit. (The synchronous signals stay the
			// runtime's: it must see its own faults.)
			ignore = append(ignore, sig)
			continue
		}
		switch {
		case a == Ignore:
			in.forkDefault = append(in.forkDefault, sig)
		case entryRan == 0:
			if urgent(sig) {
				take = append(take, sig)
			} else {
				rest = append(rest, sig)
			}
		case Set(resendable).Has(sig):
			resent = append(resent, sig)
		case sig == unix.SIGPIPE:
			// Dropped all the same, and without a round trip to the
			// runtime's signal-mask thread: ignored, which also keeps a
			// write to a closed stdout from killing initbox (os/signal),
			// and at its default in each child (Fork).
			in.forkDefault = append(in.forkDefault, sig)
		case a == Drop:
			// The faults: the runtime keeps its handler, so that a real
			// fault still panics, and drops one sent with kill because it
			// is ignored, where it would otherwise dump and exit.
			drop = append(drop, sig)
		default:
			take = append(take, sig)
		}
	}
	if len(take) > 0 {
		signal.Notify(in.c, take...)
	}
	for _, sig := range in.forkDefault {
		ignore = append(ignore, sig)
	}
	signal.Ignore(append(ignore, drop...)...)
	if waited != 0 || len(resent) > 0 {
		set := waited
		for _, sig := range resent {
			set = set.Add(sig)
		}
		in.resent = make(chan struct{})
		go in.wait(set, resent)
	}
	if len(rest) == 0 {
		close(in.restTaken)
		return in
	}
	go func() {
		defer close(in.restTaken)
		signal.Notify(in.c, rest...)
	}()
	return in
}

// Direct has f called for each signal of waitableSet and resendable, on
// the thread that took it with sigtimedwait, instead of sending it on C
// (Direct(nil): on C again): tini mode
// forwards it from there, so that a forwarded signal wakes one thread, as
// under tini, not the runtime's signal thread and then the goroutine
// reading C (issue #17: 1.65 x tini's latency). f must not block. Those
// taken before Direct went to C.
func (in *Intake) Direct(f func(syscall.Signal)) {
	if f == nil {
		in.direct.Store(nil)
		return
	}
	in.direct.Store(&f)
}

// wait takes the signals of set, for as long as the process lives: those
// every thread blocks (entry), and resent, which it has resend send on to
// this thread once they are blocked here; then it closes in.resent. Not
// waited for by Notify: main keeps its thread and goes on, and Fork waits
// (issue #17: waiting here made the runtime start a thread for main on
// the way to the first fork).
func (in *Intake) wait(set Set, resent []syscall.Signal) {
	// This thread takes only set: blocked here, the others go to the
	// runtime's threads. Not the runtime's own (URG, PROF, 32-34) nor the
	// faults, which must reach the thread that caused them, nor SIGCHLD.
	// Locked for good: the mask stays with the thread.
	runtime.LockOSThread()
	var here Set
	for n := 1; n < NSIG; n++ {
		switch sig := syscall.Signal(n); {
		case Classify(sig) == Runtime:
		case sig == unix.SIGSEGV, sig == unix.SIGBUS, sig == unix.SIGFPE, sig == unix.SIGILL, sig == unix.SIGTRAP:
		case sig == unix.SIGCHLD:
			// Not blocked by any thread for long: the kernel discards a
			// SIGCHLD at its default action only if the process's main
			// thread, which this one may be, does not block it (package
			// reaper).
		default:
			here = here.Add(sig)
		}
	}
	mask := unix.Sigset_t{Val: [16]uint64{uint64(here)}}
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, &mask, nil) // EINVAL only, for a bad how
	resendPid = int32(os.Getpid())
	tid := int32(unix.Gettid())
	for _, sig := range resent {
		resendTid[sig] = tid
	}
	// The runtime's handler of each is replaced, not consulted: it would
	// kill or dump the process for them.
	_ = setAction(resent, resendAddr()) // fails only for a bad signal number
	close(in.resent)
	for {
		sig, err := sigwait(set)
		if err == syscall.EINTR {
			// The runtime preempting this thread (SIGURG).
			continue
		}
		if err != nil {
			// EFAULT and EINVAL, which a valid set on the stack cannot
			// give: the signals would stay pending, as they do while
			// nobody waits.
			return
		}
		if f := in.direct.Load(); f != nil {
			(*f)(sig)
			continue
		}
		select {
		case in.c <- sig:
		default:
			// Full, as os/signal: drop rather than stop taking signals.
		}
	}
}

// sigwait is rt_sigtimedwait(2) without a timeout: the lowest pending
// signal of set, once there is one.
func sigwait(set Set) (syscall.Signal, error) {
	s := uint64(set)
	n, _, e := unix.Syscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&s)), 0, 0, 8, 0, 0)
	if e != 0 {
		return 0, e
	}
	return syscall.Signal(n), nil
}

// Unblock is for the commands that are not an init (ctl, check, notify,
// exec, version, help): a signal that the entry point blocked acts on
// them at its default action, as on any program (terminate, stop, or
// nothing), except keep, which the command takes itself with os/signal.
// Go cannot unblock a signal in every thread, so a thread of its own
// takes them and raises each on itself with the default action.
func Unblock(keep ...os.Signal) {
	set := Set(entryBlocked)
	for _, s := range keep {
		set &^= Set(0).Add(s.(syscall.Signal))
	}
	if set == 0 {
		return
	}
	go func() {
		// Never unlocked: the thread's mask is changed for the raise.
		runtime.LockOSThread()
		tid := unix.Gettid()
		for {
			sig, err := sigwait(set)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return // as in Intake.wait
			}
			one := unix.Sigset_t{Val: [16]uint64{uint64(Set(0).Add(sig))}}
			_ = setAction([]syscall.Signal{sig}, sigDfl)
			_ = unix.PthreadSigmask(unix.SIG_UNBLOCK, &one, nil)
			_ = unix.Tgkill(unix.Getpid(), tid, sig)
			// Still here: ignored by default (CONT, WINCH), or stopped and
			// continued.
			_ = unix.PthreadSigmask(unix.SIG_BLOCK, &one, nil)
		}
	}()
}

// urgent reports whether sig must be taken before the first fork: the
// runtime kills the process for HUP, INT and TERM, and dumps and exits for
// QUIT, ABRT, ILL, TRAP, STKFLT and SYS, and for BUS, FPE and SEGV even
// when sent with kill, when nobody has asked for them; TSTP would stop it
// (the kernel's default: the runtime leaves job control alone until
// asked). Every other signal the runtime drops while nobody has asked for
// it, so one arriving before TakeRest is lost, not fatal.
func urgent(sig syscall.Signal) bool {
	switch sig {
	case unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGQUIT, unix.SIGABRT,
		unix.SIGILL, unix.SIGTRAP, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV,
		unix.SIGSTKFLT, unix.SIGSYS, unix.SIGTSTP:
		return true
	}
	return false
}

// TakeRest returns once the signals Notify did not take at once are taken
// too (at once with the entry point: it leaves none). Call it once the
// first child has started (or before anything that is not start-up).
func (in *Intake) TakeRest() { <-in.restTaken }

// Ignored is the set of signals that were ignored when initbox started
// and that it would otherwise take, and therefore leaves ignored (not the
// runtime's, such as 32 and 33, which GNU make leaves ignored).
func (in *Intake) Ignored() Set { return in.ignored }

// Fork calls fork, which starts a child process, so that the child execs
// with SIGTTIN and SIGTTOU (and, with the entry point, SIGPIPE) at their
// default disposition although initbox ignores them: SIG_IGN survives exec, a caught signal is reset to SIG_DFL
// (golang/go#21078). For the length of fork they are caught by a handler
// that does nothing, set with rt_sigaction directly: through os/signal
// each signal would be a round trip to the runtime's signal-mask thread,
// 0.7 ms of every start here (issue #17). Calls must not overlap; the
// reaper's lock serialises them.
//
// The first Fork also waits until the signals Notify left to its goroutine
// are taken (DESIGN: every signal whose unhandled arrival would kill the
// process is taken before the first fork).
func (in *Intake) Fork(fork func() (int, error)) (int, error) {
	if in.resent != nil {
		<-in.resent
	}
	if len(in.forkDefault) == 0 {
		return fork()
	}
	if err := catchNoop(in.forkDefault); err != nil {
		return 0, err
	}
	defer ignoreAgain(in.forkDefault) // cannot fail where catchNoop did not: EINVAL and EFAULT are its errors
	return fork()
}

// Watch takes the signals arriving on c until one of sigs does, which the
// returned channel then receives; the others are dropped. stop ends the
// watch. It serves a grace period that a second stop signal cuts short.
func Watch(c <-chan os.Signal, sigs ...os.Signal) (got <-chan os.Signal, stop func()) {
	out, quit := make(chan os.Signal, 1), make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-c:
				for _, s := range sigs {
					if sig == s {
						out <- sig
						return
					}
				}
			case <-quit:
				return
			}
		}
	}()
	return out, func() { close(quit) }
}

// Parse reads a signal given as a name with or without the SIG prefix
// ("SIGTERM", "term"), a number ("15", "SIG32"), or a real-time offset ("RTMIN+3",
// "SIGRTMAX-1").
func Parse(s string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	// "SIG32" too: it is what Name gives for the signals without a name.
	name = strings.TrimPrefix(name, "SIG")
	if n, err := strconv.Atoi(name); err == nil {
		if n <= 0 || n >= NSIG {
			return 0, fmt.Errorf("signal %q: number out of range 1..%d", s, NSIG-1)
		}
		return syscall.Signal(n), nil
	}
	if rt, ok := strings.CutPrefix(name, "RTMIN"); ok {
		return rtOffset(s, rt, RTMin, 1)
	}
	if rt, ok := strings.CutPrefix(name, "RTMAX"); ok {
		return rtOffset(s, rt, NSIG-1, -1)
	}
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		return sig, nil
	}
	switch name {
	case "IOT":
		return unix.SIGABRT, nil
	case "POLL":
		return unix.SIGIO, nil
	case "CLD":
		return unix.SIGCHLD, nil
	}
	return 0, fmt.Errorf("signal %q: unknown name", s)
}

func rtOffset(orig, rest string, base, dir int) (syscall.Signal, error) {
	n := 0
	if rest != "" {
		sign := "+"
		if dir < 0 {
			sign = "-"
		}
		off, ok := strings.CutPrefix(rest, sign)
		v, err := strconv.Atoi(off)
		if !ok || err != nil || v < 0 {
			return 0, fmt.Errorf("signal %q: want RTMIN+N or RTMAX-N", orig)
		}
		n = v
	}
	sig := base + dir*n
	if sig < RTMin || sig >= NSIG {
		return 0, fmt.Errorf("signal %q: outside SIGRTMIN..SIGRTMAX", orig)
	}
	return syscall.Signal(sig), nil
}

// Name returns the conventional name of sig: "SIGTERM", "SIGRTMIN+6".
func Name(sig syscall.Signal) string {
	if sig >= RTMin && sig < NSIG {
		if sig == RTMin {
			return "SIGRTMIN"
		}
		return "SIGRTMIN+" + strconv.Itoa(int(sig)-RTMin)
	}
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "SIG" + strconv.Itoa(int(sig))
}
