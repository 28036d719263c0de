package asm

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// N:M kernels.
//
// Packed layout (NMLayout). Every row has the same SPR slots (DESIGN §4), so rows need no
// pointer. Units are blocks of UH rows; a unit's slots are interleaved row by row so a
// kernel walking UH rows at once reads one stream: slot s of row r of unit u is at
// (u·SPR + s)·UH + r (with UH = 1 that is the canonical order). Rows past M in the last
// unit hold value 0, position 0. Two position encodings, one per kernel kind:
//
//   - Val/Pos (SpMM kernels, any N): one byte per slot, the position inside its group; the
//     kernel reads X row g·Group + Pos, group after group, so the stream is independent of
//     ldx;
//   - Bits/ValChunks (the byte-bound N = 1 kernels, patterns with ChunkAligned): slots in
//     chunks of 16; chunk c of a row covers the X window starting at column c·16/Keep·Group
//     and packs each slot's position in PB bits (2 when Group ≤ 4, else 4), Words 32-bit
//     words per chunk, low slot in the low bits: 4.25 bytes per 2:4 slot. The chunks are
//     stored in K blocks of CB chunks (nmGemvKB columns of X, which stay in L1 while every
//     unit sweeps them), block after block: chunk c = b·CB + cc of row r of unit u is at
//     index (b·CB·Units + u·CBb + cc)·UH + r (×16 values, ×Words words; CBb = the block's
//     chunks, CB but in the last: chunkIdx). Spare slots past SPR (and rows past M) have
//     value 0 and position Group−1, which points past K: the kernels read a zero-padded
//     copy of X there.
type NMLayout struct {
	M, K        int
	Keep, Group int
	SPR         int // slots per row
	UH          int // rows per unit
	// K blocks (SpMM): KC columns each (a multiple of Group; the plan fixes it), stored
	// block after block so that a pass over one block streams Val and Pos in order. Slot
	// s of block b, row r of unit u is at BlockOff[b] + (u·BlockSlots[b] + s)·UH + r.
	KC         int
	BlockOff   []int64
	BlockSlots []int
	Val        []float32
	Pos        []uint8
	// Compact positions for the N = 1 kernels (nil unless packed with bits).
	PB, Words int // bits per position, 32-bit words per chunk
	Chunks    int // chunks per row: ⌈SPR/16⌉
	CB        int // chunks per K block (nmGemvKB columns of X)
	Bits      []uint32
	ValChunks []float32
	Cost      []int64
	// Low precision (PackNMLP): DType is the stored type and the values are in LP (the
	// SpMM stream, in Val's order) or LPChunks (the N = 1 chunks, in ValChunks' order),
	// DType.Bytes() each, little-endian; Val and ValChunks are nil. An int8 slot's weight
	// is Scale[row]·q (Scale: Units·UH, zero past M). DType 0: float32.
	DType    formats.DType
	LP       []byte
	LPChunks []byte
	Scale    []float32
}

// ChunkAligned reports whether keep:group has aligned 16-slot chunks for the N = 1 kernels:
// Keep divides 16, Group is a power of two above Keep.
func ChunkAligned(keep, group int) bool {
	return keep >= 1 && 16%keep == 0 && group > keep && group <= 16 && group&(group-1) == 0
}

// PackNM packs a validated N:M matrix with uh rows per unit: the SpMM stream (one K
// block), or (bits) the compact chunks for the N = 1 kernels (ChunkAligned patterns only).
func PackNM(w *formats.NM, uh int, bits bool) (*NMLayout, error) {
	return PackNMBlocked(w, uh, 0, bits)
}

// PackNMBlocked is PackNM with the SpMM stream split in K blocks of kc columns (rounded
// up to a multiple of Group; 0: one block).
func PackNMBlocked(w *formats.NM, uh, kc int, bits bool) (*NMLayout, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if uh < 1 {
		return nil, fmt.Errorf("%w: %d rows per unit", ErrNotApplicable, uh)
	}
	l := &NMLayout{M: w.Rows, K: w.Cols, Keep: w.Keep, Group: w.Group, SPR: w.SlotsPerRow(), UH: uh}
	units := (l.M + uh - 1) / uh
	if int64(units)*int64(uh)*int64(l.SPR+16) > 1<<40 {
		return nil, fmt.Errorf("%w: N:M matrix too large to pack", ErrNotApplicable)
	}
	l.Cost = make([]int64, units+1)
	for u := 0; u < units; u++ {
		rows := min(uh, l.M-u*uh)
		l.Cost[u+1] = l.Cost[u] + int64(rows)*int64(l.SPR+1)
	}
	if bits {
		if !ChunkAligned(w.Keep, w.Group) {
			return nil, fmt.Errorf("%w: %d:%d has no aligned 16-slot chunks", ErrNotApplicable, w.Keep, w.Group)
		}
		l.packBits(w, nmGemvKB)
		return l, nil
	}
	groups := (l.K + l.Group - 1) / l.Group
	gpb := groups // groups per block
	if kc > 0 {
		gpb = max(1, (kc+l.Group-1)/l.Group)
	}
	l.KC = gpb * l.Group
	var off int64
	for g0 := 0; g0 < groups || g0 == 0; g0 += gpb {
		bs := 0
		for g := g0; g < min(g0+gpb, groups); g++ {
			sl, _ := w.GroupSlots(g)
			bs += sl
		}
		l.BlockOff = append(l.BlockOff, off)
		l.BlockSlots = append(l.BlockSlots, bs)
		off += int64(units) * int64(uh) * int64(bs)
		if groups == 0 {
			break
		}
	}
	l.Val = make([]float32, off)
	l.Pos = make([]uint8, off)
	for b, bs := range l.BlockSlots {
		s0 := b * gpb * l.Keep
		for i := 0; i < l.M; i++ {
			for s := 0; s < bs; s++ {
				d := l.at(b, i/uh, s, i%uh)
				l.Val[d] = w.Val[i*l.SPR+s0+s]
				l.Pos[d] = w.Pos[i*l.SPR+s0+s]
			}
		}
	}
	return l, nil
}

// at is the index in Val and Pos of slot s of K block b, row r of unit u.
func (l *NMLayout) at(b, u, s, r int) int64 {
	return l.BlockOff[b] + (int64(u)*int64(l.BlockSlots[b])+int64(s))*int64(l.UH) + int64(r)
}

// packBits packs the compact chunks in K blocks of kb columns of X (rounded down to whole
// chunks, at least one).
func (l *NMLayout) packBits(w *formats.NM, kb int) {
	// The geometry is the generated kernels' (contract.go: nmPosBits, nmChunkSlots, nmWordBits).
	const cs = nmChunkSlots
	l.PB = nmPosBits(l.Group)
	l.Words = cs * l.PB / nmWordBits
	l.Chunks = (l.SPR + cs - 1) / cs
	l.CB = max(1, kb/(cs/l.Keep*l.Group))
	units := len(l.Cost) - 1
	l.Bits = make([]uint32, units*l.Chunks*l.UH*l.Words)
	l.ValChunks = make([]float32, units*l.Chunks*l.UH*cs)
	lpw := nmWordBits / l.PB // lanes per word
	for i := 0; i < units*l.UH; i++ {
		u, r := i/l.UH, i%l.UH
		for s := 0; s < l.Chunks*cs; s++ {
			c, lane := s/cs, s%cs
			pos := uint32(l.Group - 1)
			ci := l.chunkIdx(u, c, r)
			if i < l.M && s < l.SPR {
				pos = uint32(w.Pos[i*l.SPR+s])
				l.ValChunks[ci*cs+lane] = w.Val[i*l.SPR+s]
			}
			l.Bits[ci*l.Words+lane/lpw] |= pos << (lane % lpw * l.PB)
		}
	}
}

// nmGemvKB is the K block of the N = 1 chunks: the columns of X one block's windows span
// (16 KiB of float32), so that X[block] stays in L1 while every unit sweeps it.
const nmGemvKB = 4096

// chunkIdx is the index (×16 values, ×Words words) of chunk c of row r of unit u in the
// compact chunks, K block after K block of CB chunks.
func (l *NMLayout) chunkIdx(u, c, r int) int {
	b := c / l.CB
	bc := min(l.CB, l.Chunks-b*l.CB)
	return (b*l.CB*l.Units()+u*bc+c-b*l.CB)*l.UH + r
}

// Units is ⌈M/UH⌉.
func (l *NMLayout) Units() int { return len(l.Cost) - 1 }

// UnitRows returns the output rows [r0, r1) of unit u.
func (l *NMLayout) UnitRows(u int) (int, int) { return u * l.UH, min((u+1)*l.UH, l.M) }

// Bytes is the packed size the kernels read.
func (l *NMLayout) Bytes() int64 {
	if l.DType != 0 {
		b := int64(len(l.LP)) + int64(len(l.Pos)) + int64(len(l.Scale))*4
		if l.Bits != nil {
			b = int64(len(l.LPChunks)) + int64(len(l.Bits))*4 + int64(len(l.Scale))*4
		}
		return b
	}
	if l.Bits != nil {
		return int64(len(l.ValChunks))*4 + int64(len(l.Bits))*4
	}
	return int64(len(l.Val))*4 + int64(len(l.Pos))
}

// weight is the float32 weight of SpMM slot d (chunks: ValChunks index d) of output row
// m: the stored float32, or the low-precision value widened as formats.NMLP.ToNM does.
func (l *NMLayout) weight(chunks bool, d int64, m int) float32 {
	if l.DType == 0 {
		if chunks {
			return l.ValChunks[d]
		}
		return l.Val[d]
	}
	b := l.LP
	if chunks {
		b = l.LPChunks
	}
	switch l.DType {
	case formats.BF16:
		return formats.BF16ToFloat32(uint16(b[2*d]) | uint16(b[2*d+1])<<8)
	case formats.F16:
		return formats.F16ToFloat32(uint16(b[2*d]) | uint16(b[2*d+1])<<8)
	}
	return l.Scale[m] * float32(int8(b[d]))
}

// runGo is the pure-Go kernel: separate multiply and add in storage order, equal to
// ref.NM bit for bit.
func (l *NMLayout) runGo(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	acc := make([]float32, n)
	r0, _ := l.UnitRows(u0)
	_, r1 := l.UnitRows(u1 - 1)
	gpb := l.KC / l.Group
	for m := r0; m < r1; m++ {
		clear(acc)
		u, r := m/l.UH, m%l.UH
		for b, bs := range l.BlockSlots {
			for s := 0; s < bs; s++ {
				d := l.at(b, u, s, r)
				k := (b*gpb+s/l.Keep)*l.Group + int(l.Pos[d])
				axpyGo(acc, l.weight(false, d, m), x[k*ldx:][:n])
			}
		}
		storeGo(y[m*ldy:][:n], acc, m, epi)
	}
}

// runGoBits is the N = 1 pure-Go kernel on the compact chunks, in the order of the
// generated GEMV kernels on 16 lanes: each lane sums its chunk lanes in order, then the
// lanes are folded 16→8→4→2→1.
func (l *NMLayout) runGoBits(u0, u1 int, x []float32, ldx int, y []float32, ldy int, epi *ref.Epilogue) {
	r0, _ := l.UnitRows(u0)
	_, r1 := l.UnitRows(u1 - 1)
	gpc := 16 / l.Keep // groups per chunk
	lpw := 32 / l.PB
	mask := uint32(1)<<l.PB - 1
	for m := r0; m < r1; m++ {
		u, r := m/l.UH, m%l.UH
		var lanes [16]float32
		for c := 0; c < l.Chunks; c++ {
			ci := l.chunkIdx(u, c, r)
			b := l.Bits[ci*l.Words:]
			v0 := int64(ci * 16)
			base := c * gpc * l.Group
			n := min(16, l.SPR-c*16)
			for lane := 0; lane < n; lane++ {
				k := base + lane/l.Keep*l.Group + int(b[lane/lpw]>>(lane%lpw*l.PB)&mask)
				lanes[lane] += l.weight(true, v0+int64(lane), m) * x[k*ldx]
			}
		}
		y[m*ldy] = epi.Apply(sumLanes(lanes[:]), m, y[m*ldy])
	}
}

// sumLanes adds lanes as the vector kernels' driver does: halves folded until one is left.
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
	name string // the family's
	isa  ISA
	tile int  // columns per tile of the generated SpMM kernel (0: GEMV or pure Go)
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

// The pure-Go families: any Keep:Group (SpMM), and aligned patterns on compact chunks (N = 1).
func init() {
	Register(Family{
		Desc: &Desc{Name: "nm_packed_generic", Source: "asm/nm.go runGo", Format: "nm", ISA: Generic, DType: "float32"},
		Pack: func(m formats.Matrix) (Kernel, error) {
			w, ok := m.(*formats.NM)
			if !ok {
				return nil, ErrNotApplicable
			}
			l, err := PackNM(w, 1, false)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: "nm_packed_generic", isa: Generic, l: l, run: nmGoRun}, nil
		},
	})
	Register(Family{
		Desc: &Desc{Name: "nm_gemv_generic", Source: "asm/nm.go runGoBits", Format: "nm", ISA: Generic, DType: "float32", MinN: 1, MaxN: 1},
		Pack: func(m formats.Matrix) (Kernel, error) {
			w, ok := m.(*formats.NM)
			if !ok || !ChunkAligned(w.Keep, w.Group) {
				return nil, ErrNotApplicable
			}
			l, err := PackNM(w, 1, true)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: "nm_gemv_generic", isa: Generic, gemv: true, l: l, run: nmGoRunBits}, nil
		},
	})
}
