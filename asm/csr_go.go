package asm

import (
	"math"
	"unsafe"
)

// csrTileGo is the CSR tile kernel of gen/kernels/csr.go in Go, on the same packed layout
// and with the same arithmetic (one FMA chain per lane; FMA emulated in float64, which can
// differ from a fused float32 FMA in the last bit in rare double-rounding cases). Tests use
// it to exercise the packing and the driver on every GOARCH and under -tags purego.
func csrTileGo(R, U, lanes int, masked bool) csrTileFunc {
	return func(vals *float32, offs *uint16, cnt *uint32, ngroups int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, tail int) {
		w := U * lanes
		if masked {
			w = (U-1)*lanes + tail
		}
		cs := unsafe.Slice(cnt, ngroups)
		total := 0
		for _, c := range cs {
			total += int(c)
		}
		vs := unsafe.Slice(vals, total*R)
		os := unsafe.Slice(offs, total*R)
		acc := make([]float32, R*w)
		p := 0
		for g := 0; g < ngroups; g++ {
			rows := make([][]float32, R)
			for r := range rows {
				rows[r] = unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(y), (g*R+r)*ldy*4)), w)
				a := acc[r*w : r*w+w]
				if flags&epiLoadY != 0 {
					copy(a, rows[r])
				} else {
					clear(a)
				}
			}
			for s := 0; s < int(cs[g]); s++ {
				for r := 0; r < R; r++ {
					v := float64(vs[p])
					xr := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(x), int(os[p])*csrOffScale)), w)
					a := acc[r*w : r*w+w]
					for j := range a {
						a[j] = float32(math.FMA(v, float64(xr[j]), float64(a[j])))
					}
					p++
				}
			}
			for r := 0; r < R; r++ {
				a := acc[r*w : r*w+w]
				if flags&epiBias != 0 {
					b := *(*float32)(unsafe.Add(unsafe.Pointer(bias), (g*R+r)*4))
					for j := range a {
						a[j] += b
					}
				}
				if flags&epiClamp != 0 {
					for j, v := range a {
						if v < lo {
							a[j] = lo
						} else if v > hi {
							a[j] = hi
						}
					}
				}
				copy(rows[r], a)
			}
		}
	}
}

// csrGoTiles returns a tile table of csrTileGo kernels for a vector width of lanes.
func csrGoTiles(lanes int) *[csrGroups][2][csrMaxU + 1]csrTileFunc {
	var t [csrGroups][2][csrMaxU + 1]csrTileFunc
	for ri, R := range []int{1, 2, 4} {
		for u := 1; u <= 8; u++ {
			t[ri][0][u] = csrTileGo(R, u, lanes, false)
			t[ri][1][u] = csrTileGo(R, u, lanes, true)
		}
	}
	return &t
}
