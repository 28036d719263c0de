package asm

import "testing"

// TestContract checks the drivers' side of the generated contract (contract.go) against the
// generated tables they use: the values themselves are written once, by gen/kernels, and
// `sh gen/check.sh` fails when contract.go differs from what the generator writes.
func TestContract(t *testing.T) {
	if epiLoadY|epiBias|epiClamp|epiReLU != 15 || epiLoadY == epiBias || epiClamp == epiReLU {
		t.Errorf("epilogue flags %d %d %d %d are not four distinct bits", epiLoadY, epiBias, epiClamp, epiReLU)
	}
	for _, s := range gemvSpecs {
		for i, g := range s.kern {
			if g.fn == nil {
				continue
			}
			if g.cols != i+1 || gemvUnitRows%g.rows != 0 {
				t.Errorf("%s: kernel %d computes %d columns, %d rows (unit %d)", s.Name, i, g.cols, g.rows, gemvUnitRows)
			}
		}
	}
	for _, s := range csrSpecs {
		if s.Tile%s.Lanes != 0 || s.Tile/s.Lanes > csrMaxU || !csrOffsetsFit(1, s.Tile) {
			t.Errorf("%s: tile %d on %d lanes", s.Name, s.Tile, s.Lanes)
			continue
		}
		for u := 1; u <= s.Tile/s.Lanes; u++ {
			if s.tiles[log2int(s.Rows)][0][u] == nil || s.tiles[log2int(s.Rows)][1][u] == nil {
				t.Errorf("%s: no generated tile for R = %d, U = %d", s.Name, s.Rows, u)
			}
		}
	}
	for _, group := range []int{2, 4, 8, 16} {
		if pb := nmPosBits(group); 1<<pb < group || nmChunkSlots*pb%nmWordBits != 0 {
			t.Errorf("group %d: %d-bit positions in %d-bit words, %d per chunk", group, pb, nmWordBits, nmChunkSlots)
		}
	}
}
