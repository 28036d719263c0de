//go:build unix

package asm

import (
	"math/rand/v2"
	"testing"
)

// TestTransposeGuard places src and dst, each exactly as long as the shape needs, against an
// unmapped page, after and then before it: a read or write outside either slice faults.
// Every ISA here, both loop orders, every tail of every tile size, strides exact and padded.
func TestTransposeGuard(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	defer func(o int) { transposeOrder = o }(transposeOrder)
	sizes := []int{1, 3, 8, 9, 15, 16, 17, 33, 64}
	for _, isa := range transposeISAsHere(t) {
		for _, order := range []int{transposeColsOuter, transposeRowsOuter} {
			transposeOrder = order
			for _, side := range []guardSide{guardAfter, guardBefore} {
				for _, rows := range sizes {
					for _, cols := range sizes {
						for _, pad := range [][2]int{{0, 0}, {5, 3}} {
							lds, ldd := cols+pad[0], rows+pad[1]
							src := guardCopy(t, randBits(rng, (rows-1)*lds+cols), side)
							dst := guardSlice[float32](t, (cols-1)*ldd+rows, side)
							checkTransposeCase(t, isa, dst, ldd, src, lds, rows, cols)
						}
					}
				}
			}
		}
	}
}
