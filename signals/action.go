//go:build linux && (amd64 || arm64)

package signals

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is rt_sigaction(2), wrapped once: the dispositions set behind
// the Go runtime's back (Intake.Fork, Unblock) and those a process reads
// or gives itself before exec (IgnoredNow, State.Apply, for package
// launch).

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on
// amd64 and arm64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saRestart  = 0x10000000
	saOnstack  = 0x08000000
	saRestorer = 0x04000000
)

// rtSigaction is rt_sigaction(sig, act, old), either may be nil. Raw: it
// never blocks.
func rtSigaction(sig syscall.Signal, act, old *kernelSigaction) syscall.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	return e
}

// noopAddrs returns the addresses of noop and noopRestorer (noop_*.s).
func noopAddrs() (handler, restorer uintptr)

// setAction gives each of sigs the handler h (SIG_DFL, SIG_IGN, or noop)
// behind the Go runtime's back: the runtime believes them ignored
// throughout (signal.Ignore), and none of these dispositions makes it act.
// On the signal stack, since a signal frame does not fit every goroutine
// stack.
func setAction(sigs []syscall.Signal, h uintptr) error {
	_, restorer := noopAddrs()
	act := kernelSigaction{handler: h, flags: saRestart | saOnstack | saRestorer, restorer: restorer}
	for _, sig := range sigs {
		if e := rtSigaction(sig, &act, nil); e != 0 {
			return os.NewSyscallError("rt_sigaction", e)
		}
	}
	return nil
}

// catchNoop makes sigs caught by a handler that does nothing, until
// ignoreAgain: for the length of a fork, so that the child, whose exec
// resets a caught signal to its default action, does not inherit SIG_IGN.
func catchNoop(sigs []syscall.Signal) error {
	h, _ := noopAddrs()
	return setAction(sigs, h)
}

// ignoreAgain puts SIG_IGN back after catchNoop.
func ignoreAgain(sigs []syscall.Signal) error { return setAction(sigs, sigIgn) }

// IgnoredNow returns the signals whose disposition is SIG_IGN now: those a
// child forked now keeps ignored across its exec.
func IgnoredNow() Set {
	var s Set
	for n := 1; n < NSIG; n++ {
		var old kernelSigaction
		if rtSigaction(syscall.Signal(n), nil, &old) == 0 && old.handler == sigIgn {
			s = s.Add(syscall.Signal(n))
		}
	}
	return s
}

// Apply gives the calling process st: every signal but SIGKILL and SIGSTOP
// ignored if in st.Ignored, else at its default action, and the calling
// thread's mask st.Blocked. For launch's trampoline, last before exec.
func (st State) Apply() error {
	for n := 1; n < NSIG; n++ {
		sig := syscall.Signal(n)
		if sig == unix.SIGKILL || sig == unix.SIGSTOP {
			continue
		}
		act := kernelSigaction{handler: sigDfl}
		if st.Ignored.Has(sig) {
			act.handler = sigIgn
		}
		if e := rtSigaction(sig, &act, nil); e != 0 && e != unix.EINVAL {
			return fmt.Errorf("signal %d: %w", n, os.NewSyscallError("rt_sigaction", e))
		}
	}
	mask := unix.Sigset_t{Val: [16]uint64{uint64(st.Blocked)}}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &mask, nil); err != nil {
		return os.NewSyscallError("rt_sigprocmask", err)
	}
	return nil
}

// A Disposition is a signal's disposition as the kernel holds it, saved by
// Discard to be put back by Restore.
type Disposition struct {
	sig syscall.Signal
	act kernelSigaction
}

// Discard gives sig its default action behind the Go runtime's back and
// returns the action it had. For a signal whose default is to be ignored
// (SIGCHLD, SIGWINCH, SIGURG) the kernel then drops it as it is sent: no
// thread is interrupted, no handler runs. It is for package reaper, which
// waits for exits with waitid(2) and needs no SIGCHLD while it has
// children (issue #17). SIG_IGN would not do for SIGCHLD: it makes the
// kernel reap children itself, and their statuses would be lost.
func Discard(sig syscall.Signal) (Disposition, error) {
	a := Disposition{sig: sig}
	if e := rtSigaction(sig, &kernelSigaction{handler: sigDfl}, &a.act); e != 0 {
		return Disposition{}, os.NewSyscallError("rt_sigaction", e)
	}
	return a, nil
}

// Restore puts back the action that Discard replaced.
func (a Disposition) Restore() error {
	if e := rtSigaction(a.sig, &a.act, nil); e != 0 {
		return os.NewSyscallError("rt_sigaction", e)
	}
	return nil
}

// Redirect makes sig pend on the calling thread whichever thread the
// kernel picks for it, until Discard or another Redirect: its handler
// becomes resend (resend_*.s), which sends it on with tgkill. The caller
// must be locked to its thread (runtime.LockOSThread), block sig there and
// take it with Wait. It is for the signals the Go runtime will not let
// every thread block, such as SIGCHLD: taking one through os/signal costs
// a round trip to the runtime's signal-mask thread, and that thread.
func Redirect(sig syscall.Signal) error {
	if sig <= 0 || sig >= NSIG {
		return os.NewSyscallError("rt_sigaction", unix.EINVAL)
	}
	resendPid = int32(os.Getpid())
	resendTid[sig] = int32(unix.Gettid())
	return setAction([]syscall.Signal{sig}, resendAddr())
}

// Wait returns the lowest signal of set pending for the calling thread or
// the process, once there is one: rt_sigtimedwait(2), which takes it. The
// signals of set must be blocked on the calling thread.
func Wait(set Set) (syscall.Signal, error) {
	sig, err := sigwait(set)
	if err != nil {
		return 0, os.NewSyscallError("rt_sigtimedwait", err)
	}
	return sig, nil
}
