#include "textflag.h"

// resend is the handler of the signals taken on a thread of their own
// that the Go runtime will not leave blocked in its other threads (see
// resendable and Redirect): the thread the kernel picked sends the signal
// on to the thread that takes it, which blocks it and takes it with
// sigtimedwait. tgkill(resendPid, resendTid[sig], sig) and nothing else:
// no stack, no memory written, only registers the kernel restores on
// sigreturn.
TEXT ·resend(SB),NOSPLIT|NOFRAME,$0
	MOVQ	DI, DX
	LEAQ	·resendTid(SB), SI
	MOVL	(SI)(DI*4), SI
	MOVL	·resendPid(SB), DI
	MOVQ	$234, AX
	SYSCALL
	RET

// func resendAddr() uintptr
TEXT ·resendAddr(SB),NOSPLIT,$0-8
	LEAQ	·resend(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
