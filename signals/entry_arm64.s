#include "textflag.h"

// entry: as entry_amd64.s. _rt0_arm64_linux reads argc and argv from RSP,
// which is left as the kernel set it.
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	// rt_sigprocmask(SIG_BLOCK, NULL, &entryMask, 8)
	MOVD	$135, R8
	MOVD	$0, R0
	MOVD	$0, R1
	MOVD	$·entryMask(SB), R2
	MOVD	$8, R3
	SVC
	MOVD	$1, R19
loop:
	CMP	$65, R19
	BGE	done
	// rt_sigaction(sig, NULL, &entryAction, 8)
	MOVD	$134, R8
	MOVD	R19, R0
	MOVD	$0, R1
	MOVD	$·entryAction(SB), R2
	MOVD	$8, R3
	SVC
	MOVD	$·entryAction(SB), R4
	MOVD	(R4), R5
	MOVD	$·entryHandlers(SB), R6
	MOVD	R5, (R6)(R19<<3)
	ADD	$1, R19
	B	loop
done:
	// entryBlocked = waitable minus the signals found ignored
	MOVD	$·waitable(SB), R4
	MOVD	(R4), R13
	MOVD	$1, R19
ign:
	CMP	$65, R19
	BGE	block
	MOVD	$·entryHandlers(SB), R6
	MOVD	(R6)(R19<<3), R5
	CMP	$1, R5
	BNE	nextign
	SUB	$1, R19, R7
	MOVD	$1, R9
	LSL	R7, R9, R9
	BIC	R9, R13, R13
nextign:
	ADD	$1, R19
	B	ign
block:
	MOVD	$·entryBlocked(SB), R4
	MOVD	R13, (R4)
	// rt_sigprocmask(SIG_BLOCK, &entryBlocked, NULL, 8)
	MOVD	$135, R8
	MOVD	$0, R0
	MOVD	$·entryBlocked(SB), R1
	MOVD	$0, R2
	MOVD	$8, R3
	SVC
	MOVD	$1, R4
	MOVD	$·entryRan(SB), R5
	MOVW	R4, (R5)
	B	_rt0_arm64_linux(SB)
