#include "textflag.h"

// noop is a signal handler that does nothing; see catchNoop. It touches
// no memory and no register the kernel does not restore, so it is safe on
// any thread, in the Go runtime or in a child between fork and exec.
TEXT ·noop(SB),NOSPLIT|NOFRAME,$0
	RET

// noopRestorer returns from noop: rt_sigreturn (15). x86-64 has no
// kernel-provided restorer, so every handler must name one.
TEXT ·noopRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVQ	$15, AX
	SYSCALL
	INT	$3

// func noopAddrs() (handler, restorer uintptr)
TEXT ·noopAddrs(SB),NOSPLIT,$0-16
	LEAQ	·noop(SB), AX
	MOVQ	AX, handler+0(FP)
	LEAQ	·noopRestorer(SB), AX
	MOVQ	AX, restorer+8(FP)
	RET
