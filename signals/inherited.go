//go:build linux

package signals

import (
	"os/signal"
	"sync"
	"syscall"
)

// EntryFlag is the linker flag that makes entry initbox's entry point, so
// that Inherited knows what initbox was started with. Every build of
// initbox that is shipped or tested passes it (-ldflags "-E ...").
const EntryFlag = "-E github.com/initbox/initbox/signals.entry"

// Written by entry (entry_*.s) before the Go runtime starts, read after:
// the runtime's start-up orders the two.
var (
	entryRan      uint32
	entryMask     uint64
	entryHandlers [NSIG]uintptr
	entryAction   [4]uint64 // struct kernel_sigaction, 32 bytes on amd64 and arm64
	// entryBlocked is what entry blocked: waitable less what was ignored.
	entryBlocked uint64
)

// waitableSet are the signals initbox forwards that the Go runtime lets a
// program keep blocked in every thread: those it neither dies of nor
// needs (runtime.blockableSig: no _SigKill, _SigThrow or _SigUnblock).
// The entry point blocks them before the runtime starts, so that every
// thread the runtime makes has them blocked, and Notify takes them with
// sigtimedwait on a thread of its own, as tini takes every signal (issue
// #17): none is lost while initbox starts, none costs a round trip to
// the runtime's signal-mask thread, and a forwarded one wakes one thread,
// not two. USR1 USR2 ALRM CONT TSTP XCPU XFSZ VTALRM WINCH IO PWR and
// 35–64. Not PIPE: raised by a write on the writing thread, blocked it
// would stay pending there; nor TTIN and TTOU, which initbox ignores.
const waitableSet = 1<<(10-1) | 1<<(12-1) | 1<<(14-1) | 1<<(18-1) | 1<<(20-1) |
	1<<(24-1) | 1<<(25-1) | 1<<(26-1) | 1<<(28-1) | 1<<(29-1) | 1<<(30-1) |
	0xfffffffc00000000 // 35–64: bits 34 to 63

// resendable are the signals that, with the entry point, the intake takes
// on its thread too although the runtime unblocks them in every thread it
// makes (runtime.blockableSig: _SigKill, _SigThrow or _SigUnblock) and
// dies or dumps for them: HUP INT QUIT ABRT TERM STKFLT. Their handler is
// resend (resend_*.s), which sends each on to the intake's thread. With
// os/signal each cost a round trip to the runtime's signal-mask thread
// before the first fork, and that thread and os/signal's goroutine had to
// start (issue #17); a forwarded SIGTERM now wakes two threads, not four.
const resendable = 1<<(1-1) | 1<<(2-1) | 1<<(3-1) | 1<<(6-1) | 1<<(15-1) | 1<<(16-1)

// resendPid and resendTid are where resend sends a signal: the process,
// and the thread that takes the signal. Each is set before its signal has
// resend as its handler.
var (
	resendPid int32
	resendTid [NSIG]int32
)

// resendAddr returns the address of resend.
func resendAddr() uintptr

// waitable is waitableSet where entry can read it: data, not code.
var waitable uint64 = waitableSet

// entry is the process's entry point when linked with EntryFlag.
func entry()

// Set is a set of signals 1 to 64, signal n as bit n-1: the layout of the
// kernel's sigset_t and of SigIgn and SigBlk in /proc/PID/status.
type Set uint64

// Has reports whether sig is in s.
func (s Set) Has(sig syscall.Signal) bool {
	return sig > 0 && sig < NSIG && s&(1<<(sig-1)) != 0
}

// Add returns s with sig in it.
func (s Set) Add(sig syscall.Signal) Set {
	if sig <= 0 || sig >= NSIG {
		return s
	}
	return s | 1<<(sig-1)
}

// State is a process's signal state as exec passes it on: the signals it
// ignores and the signals it blocks. (Caught signals are reset to their
// default action by exec.)
type State struct {
	Ignored Set
	Blocked Set
}

const (
	sigDfl = 0 // SIG_DFL
	sigIgn = 1 // SIG_IGN
)

// Inherited returns the signal state initbox was started with. The Go
// runtime installs its own handlers and unblocks the synchronous signals
// before main runs, so only the entry point can see it; in a binary linked
// without EntryFlag (go test, go run) Inherited knows only what the runtime
// leaves visible: SIGHUP and SIGINT inherited as ignored, which it keeps.
//
// Notify calls it first, before its own Notify and Ignore change what
// signal.Ignored reports.
func Inherited() State { return inherited() }

var inherited = sync.OnceValue(func() State {
	var st State
	if entryRan == 0 {
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
			if signal.Ignored(sig) {
				st.Ignored = st.Ignored.Add(sig)
			}
		}
		return st
	}
	for n := 1; n < NSIG; n++ {
		if entryHandlers[n] == sigIgn {
			st.Ignored = st.Ignored.Add(syscall.Signal(n))
		}
	}
	st.Blocked = Set(entryMask)
	return st
})
