package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// SpMVDelta: CSR × one column (N = 1) with 8-bit column deltas (issue 17: the index
// encoding the sparsity literature ranks cheapest above ~80% sparsity). asm/spmvdelta.go
// packs W in blocks of at most 4096 columns (X's block stays in L1); within a block each
// row stores its entries in column order as (value, delta) pairs, delta = column − the
// previous entry's column (the first entry's from the block's first column, so it is the
// column itself), 1 byte. A gap over 255 is bridged by padding entries of value 0 and
// delta 255 (each adds 0·x[col] = 0 for finite x: dispatch runs a non-finite X on the
// reference kernels, dispatch/nonfinite.go). Bytes per stored entry: 4 + 1 (float32), 2 + 1
// (bf16, fp16), 1 + 1 (int8), where CSR with 16-bit indices stores 6, 4 and 3; padding
// costs one entry per 255 columns of gap: rare for uniform W above a few percent density
// ((1 − d)^255 of the gaps: 0.6% at 2%), at most 16 before a block row's first entry.
//
// The kernel is the gather-free SpMV (genSpMVDiagBody) with another index decode: per chunk
// of L = Lanes() entries one vector load of weights, then per entry j one FMA of x[col]
// broadcast into accumulator j; the blend tree and ReduceAdd at the row's end, then the
// epilogue (bias, Accumulate, clamp; int8: times the row's scale first). The column is a
// running sum, a serial dependency (col += d per entry: one add of latency per entry on the
// loop-carried path), so the chain is cut: xp = &x[the column before a group of
// deltaGroup = 4 entries] is the only value a group hands the next; inside a group the
// deltas' prefix sums t_j = d_0 + … + d_j (three adds, off the chain), entry j reads x at
// xp + 4·t_j (one addressing mode), and xp += 4·t_3 (one LEA per four entries on the chain).
// The four deltas come from one 4-byte load (vm.ByteGroupMachine.LoadU8s: a MOVL, then
// MOVZX of the low byte and a shift per delta), the index stream padded by L bytes.
//
// Measured (asm BenchmarkSpMVDelta, AMD EPYC Zen 5 "Turin-like" VM, one thread, N = 1,
// uniform random W, go test -benchtime 20x; 2026-12-07): what bounds both kernels at these
// shapes is their per-entry work, not W's bytes: spmv_csr_i16_bcast runs ~0.25 ns per entry
// with W in L2 (512×4096 at 90%) and the same from a 27 MB W (11008×4096 at 90%), so the
// byte saving (5 against 6 B/nnz, 3 against 4 for bf16/fp16, 2 against 3 for int8) buys
// nothing, and the delta decode costs more per entry than the 16-bit one (per four entries
// one load and 6 ALU ops for four indices, against one load and 10 for four deltas). A
// byte load per delta (two loads per entry with the FMA's) measured 1.43 ms at 11008×4096,
// 90%, AVX-512, against 1.26 with LoadU8s and 1.15 for the i16 kernel; the chain's group
// (4, 8 or 16 entries) made no difference. The medians per dtype, shape and sparsity are in
// dispatch/delta.go, which keeps the family out of Compile's choice.

// SpMVDeltaParams is the signature of the float32 8-bit-delta SpMV functions.
func SpMVDeltaParams() []vm.Param {
	return []vm.Param{
		{Name: "vals", Kind: vm.PtrF32}, {Name: "deltas", Kind: vm.PtrU8}, {Name: "cnt", Kind: vm.PtrU32},
		{Name: "nrows", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
		{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
		{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	}
}

// SpMVDeltaLPParams is the signature of the low-precision ones (bf16, fp16, int8): vals is
// a byte pointer and scale (int8's row scales; ignored otherwise) follows bias.
func SpMVDeltaLPParams() []vm.Param {
	p := SpMVDeltaParams()
	p[0].Kind = vm.PtrU8
	return append(p[:9:9], append([]vm.Param{{Name: "scale", Kind: vm.PtrF32}}, p[9:]...)...)
}

// SpMVDeltaFuncName names the 8-bit-delta SpMV function for isa and stored value type e.
func SpMVDeltaFuncName(isa string, e vm.Elem) string {
	if e == vm.ElemF32 {
		return "spmvD8" + ident(isa)
	}
	return "spmvD8" + strings.ToUpper(e.String()) + ident(isa)
}

// spmvDeltaFamily is the 8-bit-delta SpMV on values stored as e, in a file of its own
// (spmvdelta, spmvdelta<e>): asmgen computes a file's CPU features from all its
// instructions, and AVX2's fp16 widening needs F16C. x86 only (vm.BlendMachine, as the
// gather-free SpMV); NEON has no blend and registers none.
func spmvDeltaFamily(e vm.Elem) Family {
	file, typ, format := "spmvdelta", "spmvDeltaFunc", "csr"
	if e != vm.ElemF32 {
		file, typ, format = "spmvdelta"+e.String(), "spmvDeltaLPFunc", "csr_"+e.String()
	}
	return Family{
		File: file,
		Desc: "spmvdelta",
		Gen: func(m vm.Machine) {
			b, ok := m.(vm.BlendMachine)
			if !ok {
				return
			}
			if _, ok := m.(vm.WidenMachine); !ok && e != vm.ElemF32 {
				return
			}
			genSpMVDelta(b, e)
		},
		Table: func(isa, features string) string {
			if isa == "neon" {
				return ""
			}
			id := ident(isa)
			if e != vm.ElemF32 {
				id = strings.ToUpper(e.String()) + id
			}
			var b strings.Builder
			fmt.Fprintf(&b, "// spmvDelta%sLanes is the chunk width in entries (the streams' padding).\nconst spmvDelta%[1]sLanes = %d\n\n", id, lanesOf(isa))
			fmt.Fprintf(&b, "// spmvDelta%sFunc is the generated 8-bit-delta SpMV function.\nvar spmvDelta%[1]sFunc %s = %s\n", id, typ, SpMVDeltaFuncName(isa, e))
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			if isa == "neon" {
				return nil
			}
			dt := ""
			if e != vm.ElemF32 {
				dt = e.String()
			}
			return []Kernel{{Kind: KindSpMVDelta, Func: "genSpMVDelta", Symbols: []string{SpMVDeltaFuncName(isa, e)}, Format: format, DType: dt,
				Lanes: lanesOf(isa), Rows: 1, IndexBits: 8, Delta: true, MinN: 1, MaxN: 1}}
		},
		Driver:    "asm/spmvdelta.go (spmvdelta_amd64.go registers)",
		Reference: "ref.CSR (on W widened: formats.CSRLP.ToCSR); asm.DeltaLayout.MulVec, the pure-Go kernel",
		Test:      "asm/spmvdelta_test.go",
	}
}

func init() {
	Register(spmvDeltaFamily(vm.ElemF32))
	for _, e := range []vm.Elem{vm.ElemBF16, vm.ElemF16, vm.ElemI8} {
		Register(spmvDeltaFamily(e))
	}
}

// genSpMVDelta emits the 8-bit-delta SpMV on values stored as e.
func genSpMVDelta(m vm.BlendMachine, e vm.Elem) {
	name := SpMVDeltaFuncName(m.ISA(), e)
	params, what := SpMVDeltaParams(), ""
	if e != vm.ElemF32 {
		params, what = SpMVDeltaLPParams(), " of "+e.String()+" values"
	}
	m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for nrows packed CSR rows%s with 8-bit column deltas, without gathers.", name, what), params)
	genSpMVDiagBody(m, e, deltaCols(m))
}

// deltaGroup is the entries per step of the column chain (a power of two ≤ 16; 4, 8 and
// 16 measured the same).
const deltaGroup = 4

// deltaLoad is the deltas per load (1: a byte load each; 2 or 4: vm.ByteGroupMachine; 8
// runs out of registers on AVX-512).
const deltaLoad = 4

// deltaCols decodes the columns of genSpMVDiagBody from 8-bit deltas (the family comment
// above): xp, the address of x at the column before the current group of deltaGroup
// entries, is the only value a group hands the next; it starts each row at x.
func deltaCols(m vm.Machine) diagCols {
	dl := m.Param("deltas")
	var xp, t vm.Reg
	var ds []vm.Reg
	return diagCols{stream: dl, bytes: 1,
		rowStart: func() { xp = m.Param("x") },
		at: func(q vm.Reg, j int, lastOfRow bool) (vm.Mem, func()) {
			var d vm.Reg
			if bg, ok := m.(vm.ByteGroupMachine); ok && deltaLoad > 1 {
				if j%deltaLoad == 0 {
					// The delta stream is padded by L bytes: a group may run past the row.
					ds = make([]vm.Reg, deltaLoad)
					for i := range ds {
						ds[i] = m.GP()
					}
					bg.LoadU8s(ds, vm.Idx(dl, q, 1).Off(j))
				}
				d = ds[j%deltaLoad]
			} else {
				d = m.GP()
				m.Load(d, vm.Idx(dl, q, 1).Off(j), 1)
			}
			if j%deltaGroup > 0 {
				m.Add(d, t)
			}
			t = d
			at, step := vm.Idx(xp, t, 4), func() { m.Lea(xp, vm.Idx(xp, t, 4)) }
			if j%deltaGroup != deltaGroup-1 || lastOfRow {
				step = nil // the chain moves once per group, and not past a row's last entry
			}
			return at, step
		}}
}
