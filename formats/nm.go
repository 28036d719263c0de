package formats

import "fmt"

// NM is N:M structured sparsity along K ("Keep of every Group consecutive weights"; the
// names avoid clashing with the batch N). Row i is split into G = ⌈K/Group⌉ groups; a full
// group has Keep slots, a last partial group of r < Group columns has min(Keep, r) slots.
// Each slot holds a value and its position inside the group (0 ≤ Pos < group width, strictly
// increasing within the group). A group with fewer nonzeros than slots stores zero values
// in its spare slots, at unused positions, so every row has exactly SlotsPerRow slots.
//
// Val and Pos are row-major: slot s of row i is at i·SlotsPerRow()+s.
type NM struct {
	Rows, Cols  int
	Keep, Group int
	Val         []float32
	Pos         []uint8
}

// MaxGroup bounds Group (positions then fit 4 bits).
const MaxGroup = 16

// NewNM validates and wraps the arrays (no copy).
func NewNM(rows, cols, keep, group int, val []float32, pos []uint8) (*NM, error) {
	m := &NM{Rows: rows, Cols: cols, Keep: keep, Group: group, Val: val, Pos: pos}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Groups is ⌈K/Group⌉, the groups per row.
func (m *NM) Groups() int { return ceilDiv(m.Cols, m.Group) }

// GroupSlots returns the number of slots of group g and its width.
func (m *NM) GroupSlots(g int) (slots, width int) {
	width = min(m.Group, m.Cols-g*m.Group)
	return min(m.Keep, width), width
}

// SlotsPerRow is the number of stored slots in each row.
func (m *NM) SlotsPerRow() int {
	g := m.Groups()
	if g == 0 {
		return 0
	}
	last, _ := m.GroupSlots(g - 1)
	return (g-1)*m.Keep + last
}

// PosBits is ⌈log2 Group⌉, the bits a packed position needs.
func (m *NM) PosBits() int {
	b := 0
	for (1 << b) < m.Group {
		b++
	}
	return b
}

// Validate proves the N:M invariants.
func (m *NM) Validate() error {
	if m == nil {
		return invalid("nm", "", "nil matrix")
	}
	return nmStructure("nm", m.Rows, m.Cols, m.Keep, m.Group, "len(Val)", len(m.Val), m.Pos)
}

// nmStructure proves the N:M invariants of a matrix of format f (NM and NMLP share them):
// the shape and pattern, nval values (called val in messages) and the positions.
func nmStructure(f string, rows, cols, keep, group int, val string, nval int, pos []uint8) error {
	if err := checkShape(f, rows, cols); err != nil {
		return err
	}
	if group < 1 || group > MaxGroup || keep < 1 || keep > group {
		return invalid(f, "", "pattern %d:%d needs 1 ≤ N ≤ M ≤ %d", keep, group, MaxGroup)
	}
	if cols > MaxInt32 {
		return invalid(f, "", "K = %d exceeds the int32 index range", cols)
	}
	m := &NM{Rows: rows, Cols: cols, Keep: keep, Group: group} // the geometry only
	spr := int64(m.SlotsPerRow())
	need, ok := MulChecked(int64(rows), spr)
	if !ok {
		return invalid(f, "", "slot count overflows")
	}
	if int64(nval) != need || int64(len(pos)) != need {
		return invalid(f, "", "%s = %d, len(Pos) = %d, want M·slots = %d", val, nval, len(pos), need)
	}
	g := m.Groups()
	for i := 0; i < rows; i++ {
		s := int64(i) * spr
		for gi := 0; gi < g; gi++ {
			slots, width := m.GroupSlots(gi)
			prev := -1
			for k := 0; k < slots; k++ {
				p := int(pos[s])
				if p >= width {
					return invalid(f, fmt.Sprintf("row %d, group %d, slot %d", i, gi, k), "position %d outside group width %d", p, width)
				}
				if p <= prev {
					return invalid(f, fmt.Sprintf("row %d, group %d, slot %d", i, gi, k), "position %d not strictly after %d", p, prev)
				}
				prev = p
				s++
			}
		}
	}
	return nil
}

// Shape returns (M, K).
func (m *NM) Shape() (int, int) { return m.Rows, m.Cols }

// Stored is the number of slots, zero-valued spare slots included.
func (m *NM) Stored() int64 { return int64(len(m.Val)) }

// NNZ counts the stored values that are not zero.
func (m *NM) NNZ() int64 { return countNonzero(m.Val) }

// ToDense expands m.
func (m *NM) ToDense() *Dense {
	d := &Dense{Rows: m.Rows, Cols: m.Cols, Stride: m.Cols, Data: make([]float32, m.Rows*m.Cols)}
	spr := m.SlotsPerRow()
	for i := 0; i < m.Rows; i++ {
		s := i * spr
		row := d.Data[i*m.Cols:]
		for g := 0; g < m.Groups(); g++ {
			slots, _ := m.GroupSlots(g)
			for k := 0; k < slots; k++ {
				row[g*m.Group+int(m.Pos[s])] += m.Val[s]
				s++
			}
		}
	}
	return d
}

// NMFromDense stores d as keep:group when every group of d already has at most keep
// nonzeros (use prune.NM to make it so); otherwise it returns an error naming the first
// group that breaks the pattern.
func NMFromDense(d *Dense, keep, group int) (*NM, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	m := &NM{Rows: d.Rows, Cols: d.Cols, Keep: keep, Group: group}
	if group < 1 || group > MaxGroup || keep < 1 || keep > group {
		return nil, invalid("nm", "", "pattern %d:%d needs 1 ≤ N ≤ M ≤ %d", keep, group, MaxGroup)
	}
	spr := m.SlotsPerRow()
	m.Val = make([]float32, d.Rows*spr)
	m.Pos = make([]uint8, d.Rows*spr)
	for i := 0; i < d.Rows; i++ {
		row := d.Row(i)
		s := i * spr
		for g := 0; g < m.Groups(); g++ {
			slots, width := m.GroupSlots(g)
			seg := row[g*group : g*group+width]
			nz := 0
			for _, v := range seg {
				if v != 0 {
					nz++
				}
			}
			if nz > slots {
				return nil, invalid("nm", fmt.Sprintf("row %d, group %d", i, g), "%d nonzeros, %d:%d allows %d", nz, keep, group, slots)
			}
			// Kept positions are the nonzeros; spare slots take the lowest unused positions.
			// Both lists are merged in increasing position order.
			spare := slots - nz
			k := 0
			for p, v := range seg {
				if v != 0 || spare > 0 {
					if v == 0 {
						spare--
					}
					m.Val[s+k] = v
					m.Pos[s+k] = uint8(p)
					k++
				}
			}
			s += slots
		}
	}
	return m, m.Validate()
}

// ToCSR converts m to CSR with its true nonzeros.
func (m *NM) ToCSR() *CSR {
	c, _ := CSRFromDense(m.ToDense())
	return c
}
