//go:build amd64 && !goexperiment.simd

#include "textflag.h"

// func dotRowsInt8x64(q *int16, codes *int8, rows *int32, n int, out *float32)
//
// The query's 64 values stay in Z0 and Z3. Each row's 64 codes, one cache
// line, are widened to 16 bits and multiplied by the query in pairs into
// sixteen int32 sums, reduced to one and stored as a float32. Rows do not
// depend on each other, so the processor overlaps their loads: the loop is
// bound by the rows' cache misses, as DotRowsInt8SIMD is.
TEXT ·dotRowsInt8x64(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), AX
	MOVQ codes+8(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DI
	VMOVDQU64 (AX), Z0
	VMOVDQU64 64(AX), Z3
	XORQ DX, DX

loop:
	MOVLQSX (BX)(DX*4), R8
	SHLQ $6, R8
	ADDQ SI, R8
	VPMOVSXBW (R8), Z1
	VPMOVSXBW 32(R8), Z2
	VPMADDWD Z0, Z1, Z1
	VPMADDWD Z3, Z2, Z2
	VPADDD Z2, Z1, Z1
	VEXTRACTI64X4 $1, Z1, Y2
	VPADDD Y2, Y1, Y1
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
