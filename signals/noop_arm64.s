#include "textflag.h"

// noop: as noop_amd64.s.
TEXT ·noop(SB),NOSPLIT|NOFRAME,$0
	RET

// noopRestorer returns from noop: rt_sigreturn (139).
TEXT ·noopRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVD	$139, R8
	SVC
	BRK

// func noopAddrs() (handler, restorer uintptr)
TEXT ·noopAddrs(SB),NOSPLIT,$0-16
	MOVD	$·noop(SB), R0
	MOVD	R0, handler+0(FP)
	MOVD	$·noopRestorer(SB), R0
	MOVD	R0, restorer+8(FP)
	RET
