#include "textflag.h"

// entry is initbox's entry point (the linker's -E, see the Makefile): it
// records the signal mask and dispositions initbox was started with, which
// the Go runtime replaces before main runs (issue #14), blocks the signals
// of waitable that were not ignored (issue #17), and then starts the
// runtime. It runs on the kernel's initial stack before any Go code:
// no stack frame of its own, system calls only, and SP left as the kernel
// set it, since _rt0_amd64_linux reads argc and argv from it.
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	// rt_sigprocmask(SIG_BLOCK, NULL, &entryMask, 8)
	MOVQ	$14, AX
	MOVQ	$0, DI
	MOVQ	$0, SI
	LEAQ	·entryMask(SB), DX
	MOVQ	$8, R10
	SYSCALL
	// for sig := 1; sig < 65; sig++ { rt_sigaction(sig, NULL, &entryAction, 8); entryHandlers[sig] = entryAction.handler }
	MOVQ	$1, R12
loop:
	CMPQ	R12, $65
	JGE	done
	MOVQ	$13, AX
	MOVQ	R12, DI
	MOVQ	$0, SI
	LEAQ	·entryAction(SB), DX
	MOVQ	$8, R10
	SYSCALL
	MOVQ	·entryAction(SB), AX
	LEAQ	·entryHandlers(SB), BX
	MOVQ	AX, (BX)(R12*8)
	INCQ	R12
	JMP	loop
done:
	// entryBlocked = waitable minus the signals found ignored
	MOVQ	·waitable(SB), R13
	MOVQ	$1, R12
ign:
	CMPQ	R12, $65
	JGE	block
	LEAQ	·entryHandlers(SB), BX
	MOVQ	(BX)(R12*8), AX
	CMPQ	AX, $1
	JNE	nextign
	MOVQ	R12, CX
	DECQ	CX
	MOVQ	$1, DX
	SHLQ	CX, DX
	NOTQ	DX
	ANDQ	DX, R13
nextign:
	INCQ	R12
	JMP	ign
block:
	MOVQ	R13, ·entryBlocked(SB)
	// rt_sigprocmask(SIG_BLOCK, &entryBlocked, NULL, 8): every thread the
	// runtime makes starts with this mask (see waitable)
	MOVQ	$14, AX
	MOVQ	$0, DI
	LEAQ	·entryBlocked(SB), SI
	MOVQ	$0, DX
	MOVQ	$8, R10
	SYSCALL
	MOVL	$1, ·entryRan(SB)
	JMP	_rt0_amd64_linux(SB)
