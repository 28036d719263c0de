package formats

import "fmt"

// NMLP is an N:M matrix (see NM: the same Rows, Cols, Keep, Group, slots and Pos, the same
// invariants) whose slot values are stored in low precision: bf16 or f16 bit patterns in
// Bits, or int8 values in I8 with one float32 scale per row in Scale (symmetric,
// weight-only quantisation: the value of slot s of row i is Scale[i]·I8[s]). Exactly the
// slices of its DType are set, as in DenseLP and CSRLP. Spare slots hold a zero value.
// Kernels accumulate in float32; nothing converts an NM to an NMLP unless asked
// (NMLPFromNM), and ToNM widens.
type NMLP struct {
	Rows, Cols  int
	Keep, Group int
	Pos         []uint8
	DType       DType
	Bits        []uint16  // BF16, F16: one per slot
	I8          []int8    // I8: one per slot
	Scale       []float32 // I8: one per row
}

var _ Matrix = (*NMLP)(nil)

func (m *NMLP) format() string {
	if m == nil {
		return "nm"
	}
	return "nm " + m.DType.String()
}

// geometry is m's pattern as an NM without values (Groups, GroupSlots, SlotsPerRow; Pos
// shared, not copied).
func (m *NMLP) geometry() *NM {
	return &NM{Rows: m.Rows, Cols: m.Cols, Keep: m.Keep, Group: m.Group, Pos: m.Pos}
}

// SlotsPerRow is the number of stored slots in each row (NM.SlotsPerRow).
func (m *NMLP) SlotsPerRow() int { return m.geometry().SlotsPerRow() }

// Validate proves NM's invariants on the pattern and DenseLP's rules on the dtype's slices.
func (m *NMLP) Validate() error {
	if m == nil {
		return invalid("nm", "", "nil matrix")
	}
	f := m.format()
	if m.DType < BF16 || m.DType > I8 {
		return invalid(f, "", "unknown dtype %d", m.DType)
	}
	have, err := lpSlices(f, m.DType, m.Rows, m.Bits, m.I8, m.Scale)
	if err != nil {
		return err
	}
	val := "len(Bits)"
	if m.DType == I8 {
		val = "len(I8)"
	}
	return nmStructure(f, m.Rows, m.Cols, m.Keep, m.Group, val, have, m.Pos)
}

// Shape returns (M, K).
func (m *NMLP) Shape() (int, int) { return m.Rows, m.Cols }

// Stored is the number of slots, zero-valued spare slots included.
func (m *NMLP) Stored() int64 { return int64(len(m.Pos)) }

// NNZ counts the stored values that are not ±0 (NaN counts; an int8 row with scale 0
// still counts its nonzero q), as DenseLP.NNZ does.
func (m *NMLP) NNZ() int64 { return countLPNonzero(m.Bits, m.I8) }

// ToNM widens the values into a new float32 NM (the positions copied): bf16 and f16
// exactly, int8 as Scale[row]·q (one float32 rounding), as DenseLP.RowFloat32.
func (m *NMLP) ToNM() *NM {
	out := &NM{Rows: m.Rows, Cols: m.Cols, Keep: m.Keep, Group: m.Group,
		Pos: append([]uint8(nil), m.Pos...), Val: make([]float32, len(m.Pos))}
	if m.DType != I8 {
		widenLP(m.DType, m.Bits, nil, 0, out.Val)
		return out
	}
	spr := m.SlotsPerRow()
	for i := 0; i < m.Rows; i++ {
		widenLP(I8, nil, m.I8[i*spr:(i+1)*spr], m.Scale[i], out.Val[i*spr:(i+1)*spr])
	}
	return out
}

// ToDense widens the matrix into a new float32 Dense (stride = cols); see ToNM.
func (m *NMLP) ToDense() *Dense { return m.ToNM().ToDense() }

// NMLPFromNM converts w's values to dtype t, on request only, with DenseLPFromDense's
// rules: bf16 and f16 round to nearest even (f16 overflows to ±Inf, NaN stays NaN); int8
// takes Scale[i] = max|v|/127 over row i's slots and q = v/Scale rounded to nearest even,
// and a NaN or ±Inf value is an error, never a silent change. The positions are copied;
// spare slots stay zero.
func NMLPFromNM(w *NM, t DType) (*NMLP, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	d := &NMLP{Rows: w.Rows, Cols: w.Cols, Keep: w.Keep, Group: w.Group, Pos: append([]uint8(nil), w.Pos...), DType: t}
	switch t {
	case BF16, F16:
		d.Bits = make([]uint16, len(w.Val))
		round16(t, w.Val, d.Bits)
	case I8:
		spr := w.SlotsPerRow()
		d.I8, d.Scale = make([]int8, len(w.Val)), make([]float32, w.Rows)
		for i := 0; i < w.Rows; i++ {
			s, bad := quantizeI8(w.Val[i*spr:(i+1)*spr], d.I8[i*spr:(i+1)*spr])
			if bad >= 0 {
				return nil, invalid("nm i8", fmt.Sprintf("row %d, slot %d", i, bad), "%v cannot be quantised to int8", w.Val[i*spr+bad])
			}
			d.Scale[i] = s
		}
	default:
		return nil, fmt.Errorf("formats: cannot convert to %v", t)
	}
	return d, d.Validate()
}
