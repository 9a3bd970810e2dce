//go:build linux && (amd64 || arm64)

package signals

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// noopAddrs returns the addresses of noop and noopRestorer (noop_*.s).
func noopAddrs() (handler, restorer uintptr)

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

// setAction gives each of sigs the handler h (SIG_IGN, or noop) with one
// rt_sigaction each, behind the Go runtime's back: the runtime believes
// them ignored throughout (signal.Ignore), and neither disposition makes it
// act. On the signal stack, since a signal frame does not fit every
// goroutine stack.
func setAction(sigs []syscall.Signal, h uintptr) error {
	_, restorer := noopAddrs()
	act := kernelSigaction{handler: h, flags: saRestart | saOnstack | saRestorer, restorer: restorer}
	for _, sig := range sigs {
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
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
