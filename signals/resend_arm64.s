#include "textflag.h"

// resend: as resend_amd64.s. tgkill is 131; the return goes to the
// restorer the kernel put in the link register.
TEXT ·resend(SB),NOSPLIT|NOFRAME,$0
	MOVD	R0, R2
	MOVD	$·resendTid(SB), R3
	MOVWU	(R3)(R0<<2), R1
	MOVD	$·resendPid(SB), R3
	MOVWU	0(R3), R0
	MOVD	$131, R8
	SVC
	RET

// func resendAddr() uintptr
TEXT ·resendAddr(SB),NOSPLIT,$0-8
	MOVD	$·resend(SB), R0
	MOVD	R0, ret+0(FP)
	RET
