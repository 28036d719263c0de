package kernels

import "github.com/sparsegen/sparsegen/gen/vm"

// broadcastWeight sets w to the one weight of type e at at, in every lane and widened to
// float32 (a plain broadcast for float32, vm.WidenMachine.Load1Widen otherwise), and returns
// the vector the FMAs use: w, or for int8 ws = w·scale, with the row's scale read from
// scaleAt into sc (one rounding: the widened value the references use). tmp gives sc and
// ws; it is called for int8 only. The CSR tiles, the BSR kernels and the N:M SpMM tiles
// load their weights through it.
func broadcastWeight(m vm.Machine, e vm.Elem, w vm.Vec, at, scaleAt vm.Mem, tmp func() (sc, ws vm.Vec)) vm.Vec {
	if e == vm.ElemF32 {
		m.Load1(w, at)
		return w
	}
	m.(vm.WidenMachine).Load1Widen(w, at, e)
	if e != vm.ElemI8 {
		return w
	}
	sc, ws := tmp()
	m.Load1(sc, scaleAt)
	m.Zero(ws)
	m.FMA(ws, w, sc)
	return ws
}
