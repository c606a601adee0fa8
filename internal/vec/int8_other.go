//go:build !amd64

package vec

func fastInt8(int) bool { return false }

func dotRowsInt8(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	dotRowsInt8Portable(q, qs, codes, scales, rows, out)
}
