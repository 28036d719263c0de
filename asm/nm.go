package asm

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// N:M kernels.
//
// Packed layout (NMLayout). Every row has the same SPR slots (DESIGN §4), so rows need no
// pointer: slot s of row i is at i·SPR+s. Two position encodings are kept, one per kernel
// kind:
//
//   - Pos: one byte per slot, the position inside its group (SpMM kernels, N ≥ 16: X row
//     k = g·Group + Pos, advanced group by group, so the index stream is one byte per slot
//     and independent of ldx);
//   - Bits: the compact form for the byte-bound N = 1 kernels. Slots are taken in chunks of
//     16 (the zmm width); chunk c of a row covers the X window starting at column
//     c·16/Keep·Group and packs each slot's in-group position in PB bits (2 when Group ≤ 4,
//     else 4), 16·PB bits per chunk, low slot in the low bits. Only patterns with Keep
//     dividing 16 have aligned chunks (2:4, 1:4, 2:8, 4:8, 1:8, 1:2, …); others use Pos.
//     A row's last chunk may be partial (the partial group, or SPR % 16 ≠ 0): its spare
//     slots have position 0 and value 0 and their lanes are masked off by the kernel.
//
// Units are blocks of UH rows (the last may be shorter).
type NMLayout struct {
	M, K        int
	Keep, Group int
	SPR         int // slots per row
	UH          int // rows per unit
	Val         []float32
	Pos         []uint8
	// Compact positions for the N = 1 kernels (nil unless packed with bits).
	PB        int      // bits per position in Bits (2 or 4)
	Chunks    int      // chunks per row: ⌈SPR/16⌉
	Bits      []uint64 // M·Chunks words; 2-bit chunks use the low 32 bits
	ValChunks []float32
	Cost      []int64
}

// ChunkAligned reports whether keep:group has aligned 16-slot chunks (Keep divides 16).
func ChunkAligned(keep, group int) bool { return keep >= 1 && 16%keep == 0 && group <= 16 }

// PackNM packs a validated N:M matrix with uh rows per unit; bits adds the compact
// positions for the N = 1 kernels (patterns with ChunkAligned only).
func PackNM(w *formats.NM, uh int, bits bool) (*NMLayout, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if uh < 1 {
		return nil, fmt.Errorf("%w: %d rows per unit", ErrNotApplicable, uh)
	}
	l := &NMLayout{M: w.Rows, K: w.Cols, Keep: w.Keep, Group: w.Group, SPR: w.SlotsPerRow(), UH: uh}
	l.Val = append([]float32(nil), w.Val...)
	l.Pos = append([]uint8(nil), w.Pos...)
	units := (l.M + uh - 1) / uh
	l.Cost = make([]int64, units+1)
	for u := 0; u < units; u++ {
		rows := min(uh, l.M-u*uh)
		l.Cost[u+1] = l.Cost[u] + int64(rows)*int64(l.SPR+1)
	}
	if bits {
		if !ChunkAligned(w.Keep, w.Group) {
			return nil, fmt.Errorf("%w: %d:%d has no aligned 16-slot chunks", ErrNotApplicable, w.Keep, w.Group)
		}
		l.packBits()
	}
	return l, nil
}

func (l *NMLayout) packBits() {
	l.PB = 2
	if l.Group > 4 {
		l.PB = 4
	}
	l.Chunks = (l.SPR + 15) / 16
	l.Bits = make([]uint64, l.M*l.Chunks)
	l.ValChunks = make([]float32, l.M*l.Chunks*16)
	for i := 0; i < l.M; i++ {
		for s := 0; s < l.SPR; s++ {
			c, lane := s/16, s%16
			l.Bits[i*l.Chunks+c] |= uint64(l.Pos[i*l.SPR+s]) << (lane * l.PB)
			l.ValChunks[(i*l.Chunks+c)*16+lane] = l.Val[i*l.SPR+s]
		}
	}
}

// Units is ⌈M/UH⌉.
func (l *NMLayout) Units() int { return len(l.Cost) - 1 }

// UnitRows returns the output rows [r0, r1) of unit u.
func (l *NMLayout) UnitRows(u int) (int, int) { return u * l.UH, min((u+1)*l.UH, l.M) }

// Bytes is the packed size the kernels read (values and positions, no spare copies).
func (l *NMLayout) Bytes() int64 {
	if l.Bits != nil {
		return int64(len(l.ValChunks))*4 + int64(len(l.Bits))*int64(l.PB*2)
	}
	return int64(len(l.Val))*4 + int64(len(l.Pos))
}

// runGo is the pure-Go kernel: separate multiply and add in storage order, equal to
// ref.NM bit for bit.
func (l *NMLayout) runGo(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	acc := make([]float32, n)
	r0, _ := l.UnitRows(u0)
	_, r1 := l.UnitRows(u1 - 1)
	groups := (l.K + l.Group - 1) / l.Group
	for m := r0; m < r1; m++ {
		clear(acc)
		s := m * l.SPR
		for g := 0; g < groups; g++ {
			slots := min(l.Keep, l.K-g*l.Group)
			for j := 0; j < slots; j++ {
				k := g*l.Group + int(l.Pos[s])
				axpyGo(acc, l.Val[s], x[k*ldx:][:n])
				s++
			}
		}
		storeGo(y[m*ldy:][:n], acc, m, epi)
	}
}

// runGoBits is the N = 1 pure-Go kernel on the compact chunks (the order of the generated
// GEMV kernels: 16 lane sums, each over its chunk lanes in order, then summed lane by lane).
func (l *NMLayout) runGoBits(u0, u1 int, x []float32, ldx int, y []float32, ldy int, epi *ref.Epilogue) {
	r0, _ := l.UnitRows(u0)
	_, r1 := l.UnitRows(u1 - 1)
	gpc := 16 / l.Keep // groups per chunk
	mask := uint64(1)<<l.PB - 1
	for m := r0; m < r1; m++ {
		var lanes [16]float32
		for c := 0; c < l.Chunks; c++ {
			b := l.Bits[m*l.Chunks+c]
			v := l.ValChunks[(m*l.Chunks+c)*16:][:16]
			base := c * gpc * l.Group
			n := min(16, l.SPR-c*16)
			for lane := 0; lane < n; lane++ {
				k := base + lane/l.Keep*l.Group + int(b>>(lane*l.PB)&mask)
				lanes[lane] += v[lane] * x[k*ldx]
			}
		}
		y[m*ldy] = epi.Apply(sumLanes(lanes[:]), m, y[m*ldy])
	}
}

// sumLanes adds 16 lanes as the vector kernels do: halves folded 16→8→4→2→1.
func sumLanes(v []float32) float32 {
	var t [16]float32
	copy(t[:], v)
	for w := len(v) / 2; w >= 1; w /= 2 {
		for i := 0; i < w; i++ {
			t[i] += t[i+w]
		}
	}
	return t[0]
}

// nmKernel is a packed N:M matrix with the kernel that runs it.
type nmKernel struct {
	name string
	isa  ISA
	gemv bool // N = 1 only
	l    *NMLayout
	run  func(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue)
}

func (k *nmKernel) Name() string              { return k.name }
func (k *nmKernel) ISA() ISA                  { return k.isa }
func (k *nmKernel) Shape() (int, int)         { return k.l.M, k.l.K }
func (k *nmKernel) Units() int                { return k.l.Units() }
func (k *nmKernel) UnitRows(u int) (int, int) { return k.l.UnitRows(u) }
func (k *nmKernel) UnitCost() []int64         { return k.l.Cost }
func (k *nmKernel) PackedBytes() int64        { return k.l.Bytes() }
func (k *nmKernel) Layout() *NMLayout         { return k.l }
func (k *nmKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if k.gemv && n > 1 {
		return fmt.Errorf("%w: %s runs N = 1 only, got N = %d", ref.ErrShape, k.name, n)
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	k.run(k.l, u0, u1, x, ldx, y, ldy, n, epi)
	return nil
}

func nmGoRun(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	l.runGo(u0, u1, x, ldx, y, ldy, n, epi)
}

func nmGoRunBits(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	l.runGoBits(u0, u1, x, ldx, y, ldy, epi)
}

func nmName(op string, w *formats.NM, suffix string) string {
	return fmt.Sprintf("%s_nm%dof%d%s", op, w.Keep, w.Group, suffix)
}

// The pure-Go families: any Keep:Group (SpMM), and aligned patterns on compact chunks (N = 1).
func init() {
	Register(Family{
		Name: "nm_packed_generic", Format: "nm", ISA: Generic,
		Pack: func(m formats.Matrix) (Kernel, error) {
			w, ok := m.(*formats.NM)
			if !ok {
				return nil, ErrNotApplicable
			}
			l, err := PackNM(w, 1, false)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: nmName("spmm", w, "_generic"), isa: Generic, l: l, run: nmGoRun}, nil
		},
	})
	Register(Family{
		Name: "nm_gemv_generic", Format: "nm", ISA: Generic, MinN: 1, MaxN: 1,
		Pack: func(m formats.Matrix) (Kernel, error) {
			w, ok := m.(*formats.NM)
			if !ok || !ChunkAligned(w.Keep, w.Group) {
				return nil, ErrNotApplicable
			}
			l, err := PackNM(w, 1, true)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: nmName("spmv", w, "_generic"), isa: Generic, gemv: true, l: l, run: nmGoRunBits}, nil
		},
	})
}
