//go:build amd64 && !goexperiment.simd

#include "textflag.h"

// The float32 kernels of the default build on AVX-512. Each works on whole
// blocks of 16 values (or 32 or 64); the Go callers in float_amd64.go check
// the bounds and finish the tails. Operands are in Go's order: sources
// first, destination last.

// func axpyAVX512(alpha float32, x, y *float32, n int)
//
// y[i] += alpha·x[i] for i < n, n a multiple of 16: one fused multiply-add
// per value, four registers per step so that the loads overlap.
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Z0
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	SHLQ $2, CX
	MOVQ CX, DX
	ANDQ $-256, DX
	XORQ AX, AX

axpy64:
	CMPQ AX, DX
	JGE axpy16
	VMOVUPS (SI)(AX*1), Z1
	VMOVUPS 64(SI)(AX*1), Z2
	VMOVUPS 128(SI)(AX*1), Z3
	VMOVUPS 192(SI)(AX*1), Z4
	VMOVUPS (DI)(AX*1), Z5
	VMOVUPS 64(DI)(AX*1), Z6
	VMOVUPS 128(DI)(AX*1), Z7
	VMOVUPS 192(DI)(AX*1), Z8
	VFMADD231PS Z0, Z1, Z5
	VFMADD231PS Z0, Z2, Z6
	VFMADD231PS Z0, Z3, Z7
	VFMADD231PS Z0, Z4, Z8
	VMOVUPS Z5, (DI)(AX*1)
	VMOVUPS Z6, 64(DI)(AX*1)
	VMOVUPS Z7, 128(DI)(AX*1)
	VMOVUPS Z8, 192(DI)(AX*1)
	ADDQ $256, AX
	JMP axpy64

axpy16:
	CMPQ AX, CX
	JGE axpydone
	VMOVUPS (SI)(AX*1), Z1
	VMOVUPS (DI)(AX*1), Z5
	VFMADD231PS Z0, Z1, Z5
	VMOVUPS Z5, (DI)(AX*1)
	ADDQ $64, AX
	JMP axpy16

axpydone:
	VZEROUPPER
	RET

// func axpyRowsW64AVX512(w, m *float32, rows *int32, cnt, stride int, y *float32)
//
// y[0:64] += Σ_k w[k]·m[r_k·stride : r_k·stride+64], r_k = rows[k], or k
// when rows is nil; stride in values. y stays in four registers; rows go
// two at a time into two sets of sums, so that consecutive fused
// multiply-adds do not wait on each other.
TEXT ·axpyRowsW64AVX512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ m+8(FP), R9
	MOVQ rows+16(FP), BX
	MOVQ cnt+24(FP), CX
	MOVQ stride+32(FP), R10
	MOVQ y+40(FP), DI
	SHLQ $2, R10
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	XORQ DX, DX

rowsw2:
	LEAQ 2(DX), AX
	CMPQ AX, CX
	JGT rowsw1
	MOVQ DX, R8
	MOVQ AX, R11
	DECQ R11
	TESTQ BX, BX
	JZ rowsw2plain
	MOVLQSX (BX)(DX*4), R8
	MOVLQSX (BX)(R11*4), R11

rowsw2plain:
	IMULQ R10, R8
	IMULQ R10, R11
	ADDQ R9, R8
	ADDQ R9, R11
	VBROADCASTSS (SI)(DX*4), Z8
	VBROADCASTSS 4(SI)(DX*4), Z9
	VFMADD231PS (R8), Z8, Z0
	VFMADD231PS 64(R8), Z8, Z1
	VFMADD231PS 128(R8), Z8, Z2
	VFMADD231PS 192(R8), Z8, Z3
	VFMADD231PS (R11), Z9, Z4
	VFMADD231PS 64(R11), Z9, Z5
	VFMADD231PS 128(R11), Z9, Z6
	VFMADD231PS 192(R11), Z9, Z7
	MOVQ AX, DX
	JMP rowsw2

rowsw1:
	CMPQ DX, CX
	JGE rowswdone
	MOVQ DX, R8
	TESTQ BX, BX
	JZ rowsw1plain
	MOVLQSX (BX)(DX*4), R8

rowsw1plain:
	IMULQ R10, R8
	ADDQ R9, R8
	VBROADCASTSS (SI)(DX*4), Z8
	VFMADD231PS (R8), Z8, Z0
	VFMADD231PS 64(R8), Z8, Z1
	VFMADD231PS 128(R8), Z8, Z2
	VFMADD231PS 192(R8), Z8, Z3

rowswdone:
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VZEROUPPER
	RET

// func matMulTileAVX512(dst, a, b *float32, inner, cols, blocks int)
//
// Adds four rows of a (4×inner, rows inner apart) times b (inner×cols) to
// four rows of dst (cols apart), over the first 32·blocks columns. Each
// 4×32 tile of dst stays in eight registers while inner rows of b pass:
// each block of b loaded serves four rows.
TEXT ·matMulTileAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ inner+24(FP), CX
	MOVQ cols+32(FP), R12
	MOVQ blocks+40(FP), R11
	SHLQ $2, R12
	LEAQ (R12)(R12*2), R13
	SHLQ $2, CX
	LEAQ (SI)(CX*1), R8
	LEAQ (SI)(CX*2), R9
	LEAQ (R8)(CX*2), R10

tile:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS (DI)(R12*1), Z2
	VMOVUPS 64(DI)(R12*1), Z3
	VMOVUPS (DI)(R12*2), Z4
	VMOVUPS 64(DI)(R12*2), Z5
	VMOVUPS (DI)(R13*1), Z6
	VMOVUPS 64(DI)(R13*1), Z7
	MOVQ BX, AX
	XORQ DX, DX

tilek:
	VMOVUPS (AX), Z8
	VMOVUPS 64(AX), Z9
	VBROADCASTSS (SI)(DX*1), Z10
	VBROADCASTSS (R8)(DX*1), Z11
	VBROADCASTSS (R9)(DX*1), Z12
	VBROADCASTSS (R10)(DX*1), Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z10, Z9, Z1
	VFMADD231PS Z11, Z8, Z2
	VFMADD231PS Z11, Z9, Z3
	VFMADD231PS Z12, Z8, Z4
	VFMADD231PS Z12, Z9, Z5
	VFMADD231PS Z13, Z8, Z6
	VFMADD231PS Z13, Z9, Z7
	ADDQ R12, AX
	ADDQ $4, DX
	CMPQ DX, CX
	JLT tilek

	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, (DI)(R12*1)
	VMOVUPS Z3, 64(DI)(R12*1)
	VMOVUPS Z4, (DI)(R12*2)
	VMOVUPS Z5, 64(DI)(R12*2)
	VMOVUPS Z6, (DI)(R13*1)
	VMOVUPS Z7, 64(DI)(R13*1)
	ADDQ $128, DI
	ADDQ $128, BX
	DECQ R11
	JNZ tile
	VZEROUPPER
	RET

// func adamAVX512(w, m, v, grad *float32, n int, c *[7]float32)
//
// One Adam step on n weights, n a multiple of 16; c holds b1, 1−b1, b2,
// 1−b2, lr, c2 and eps. The square root and the division are the correctly
// rounded ones, as in adamPortable.
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ m+8(FP), R8
	MOVQ v+16(FP), R9
	MOVQ grad+24(FP), SI
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS (AX), Z10
	VBROADCASTSS 4(AX), Z11
	VBROADCASTSS 8(AX), Z12
	VBROADCASTSS 12(AX), Z13
	VBROADCASTSS 16(AX), Z14
	VBROADCASTSS 20(AX), Z15
	VBROADCASTSS 24(AX), Z16
	SHLQ $2, CX
	XORQ DX, DX

adam16:
	CMPQ DX, CX
	JGE adamdone
	VMOVUPS (SI)(DX*1), Z0
	VMOVUPS (R8)(DX*1), Z1
	VMOVUPS (R9)(DX*1), Z3
	VMULPS Z10, Z1, Z1
	VMULPS Z0, Z11, Z2
	VADDPS Z2, Z1, Z1
	VMULPS Z0, Z0, Z2
	VMULPS Z2, Z13, Z2
	VMULPS Z12, Z3, Z3
	VADDPS Z2, Z3, Z3
	VMOVUPS Z1, (R8)(DX*1)
	VMOVUPS Z3, (R9)(DX*1)
	VMULPS Z15, Z3, Z4
	VSQRTPS Z4, Z4
	VADDPS Z16, Z4, Z4
	VMULPS Z14, Z1, Z5
	VDIVPS Z4, Z5, Z5
	VMOVUPS (DI)(DX*1), Z6
	VSUBPS Z5, Z6, Z6
	VMOVUPS Z6, (DI)(DX*1)
	ADDQ $64, DX
	JMP adam16

adamdone:
	VZEROUPPER
	RET

// func expSubAVX512(x *float32, n int, m float32, c *[11]float32, sum *[16]float32)
//
// x[i] = e^(x[i]−m) for i < n, n a multiple of 16, the lanes' sums stored
// in sum; c holds expMin, log2e, −ln2Hi, −ln2Lo, expP0…expP5 and 1. The
// steps are exp32's, sixteen lanes at a time: VRNDSCALEPS rounds to even,
// VSCALEFPS multiplies by 2ⁿ, and lanes below expMin (−Inf among them)
// are zeroed by the comparison's mask.
TEXT ·expSubAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Z0
	MOVQ c+24(FP), AX
	MOVQ sum+32(FP), DI
	VBROADCASTSS (AX), Z1
	VBROADCASTSS 4(AX), Z2
	VBROADCASTSS 8(AX), Z3
	VBROADCASTSS 12(AX), Z4
	VBROADCASTSS 16(AX), Z5
	VBROADCASTSS 20(AX), Z6
	VBROADCASTSS 24(AX), Z7
	VBROADCASTSS 28(AX), Z8
	VBROADCASTSS 32(AX), Z9
	VBROADCASTSS 36(AX), Z10
	VBROADCASTSS 40(AX), Z11
	VPXORD Z12, Z12, Z12
	SHLQ $2, CX
	XORQ DX, DX

exp16:
	CMPQ DX, CX
	JGE expdone
	VMOVUPS (SI)(DX*1), Z13
	VSUBPS Z0, Z13, Z13
	VCMPPS $0x1d, Z1, Z13, K1
	VMULPS Z2, Z13, Z14
	VRNDSCALEPS $0, Z14, Z14
	VFMADD231PS Z3, Z14, Z13
	VFMADD231PS Z4, Z14, Z13
	VMOVAPS Z5, Z15
	VFMADD213PS Z6, Z13, Z15
	VFMADD213PS Z7, Z13, Z15
	VFMADD213PS Z8, Z13, Z15
	VFMADD213PS Z9, Z13, Z15
	VFMADD213PS Z10, Z13, Z15
	VMULPS Z13, Z13, Z16
	VADDPS Z11, Z13, Z17
	VFMADD213PS Z17, Z16, Z15
	VSCALEFPS Z14, Z15, Z15
	VMOVAPS.Z Z15, K1, Z15
	VMOVUPS Z15, (SI)(DX*1)
	VADDPS Z15, Z12, Z12
	ADDQ $64, DX
	JMP exp16

expdone:
	VMOVUPS Z12, (DI)
	VZEROUPPER
	RET
