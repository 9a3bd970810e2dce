#include "textflag.h"

// entry is initbox's entry point (the linker's -E, see the Makefile): it
// records the signal mask and dispositions initbox was started with, which
// the Go runtime replaces before main runs, and then starts the runtime
// (issue #14). It runs on the kernel's initial stack before any Go code:
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
	MOVL	$1, ·entryRan(SB)
	JMP	_rt0_amd64_linux(SB)
