//go:build amd64

#include "textflag.h"

// func dotRowsInt8x64AVX2(q *int16, codes *int8, rows *int32, n int, out *float32)
//
// dotRowsInt8x64 on AVX2: the query's 64 values stay in Y0, Y3, Y4 and
// Y5; each row's codes are widened sixteen at a time and multiplied by
// the query in pairs into eight int32 sums, reduced to one and stored as
// a float32.
TEXT ·dotRowsInt8x64AVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), AX
	MOVQ codes+8(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DI
	VMOVDQU (AX), Y0
	VMOVDQU 32(AX), Y3
	VMOVDQU 64(AX), Y4
	VMOVDQU 96(AX), Y5
	XORQ DX, DX

loop:
	MOVLQSX (BX)(DX*4), R8
	SHLQ $6, R8
	ADDQ SI, R8
	VPMOVSXBW (R8), Y1
	VPMOVSXBW 16(R8), Y2
	VPMOVSXBW 32(R8), Y6
	VPMOVSXBW 48(R8), Y7
	VPMADDWD Y0, Y1, Y1
	VPMADDWD Y3, Y2, Y2
	VPMADDWD Y4, Y6, Y6
	VPMADDWD Y5, Y7, Y7
	VPADDD Y2, Y1, Y1
	VPADDD Y7, Y6, Y6
	VPADDD Y6, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPADDD X2, X1, X1
	VPSHUFD $0x4e, X1, X2
	VPADDD X2, X1, X1
	VPSHUFD $0xb1, X1, X2
	VPADDD X2, X1, X1
	VCVTDQ2PS X1, X1
	VMOVSS X1, (DI)(DX*4)
	INCQ DX
	CMPQ DX, CX
	JLT loop

	VZEROUPPER
	RET
