package neon

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Machine implements vm.Machine (and vm.NMMachine) for arm64 ASIMD: 4 float32 lanes, 32 V
// registers. It records each function as a list of vector-machine operations on virtual
// registers, allocates physical registers by liveness (a graph colouring over the
// function's control-flow graph), then lowers every operation through the Emitter.
//
// Reserved registers: R16 (address and constant temporary), R17, R15, R14, R13 (a
// four-entry cache of base+index·scale addresses, so the U loads of one X row share one ADD
// even with four rows interleaved), V30 and V31 (the loaded operand of FMAMem/VAddMem and
// broadcast weights of FMABcast). The allocator uses R0–R12, R19–R25 (see Reg.Reserved)
// and V0–V29.
//
// Lowering choices (NEON has no memory operands, no base+index+displacement addressing and
// no masked loads):
//   - FMAs whose factor is a broadcast (Load1/ParamF32) use FMLA by element on its lane 0,
//     and a broadcast whose every use is such a factor loads lane 0 only (one LDR s,
//     register-offset where possible); other Load1s are LD1R (see lanePlan);
//   - LoadV/StoreV are LDR/STR q with an immediate offset; FMAMem is LDR q + FMLA;
//   - tails (TailMask, 1 ≤ n ≤ 4) are halving passes: 4 lanes (q), 2 lanes (d) and a third
//     lane (LD1/ST1 to lane 2), or 1 lane (s); masked-off lanes read as 0 and are never
//     touched in memory.
type Machine struct {
	funcs []*Func
	stubs []stub
	cur   *record
	err   error
}

type stub struct {
	name, doc string
	params    []vm.Param
}

// NewMachine returns an empty NEON machine.
func NewMachine() *Machine { return &Machine{} }

var (
	_ vm.Machine       = (*Machine)(nil)
	_ vm.NMMachine     = (*Machine)(nil)
	_ vm.GatherMachine = (*Machine)(nil)
)

const (
	regTmp   = Reg(16)
	vTmp0    = VReg(30)
	vTmp1    = VReg(31)
	vTmpNM   = VReg(29) // scratch of the N:M integer-vector operations (see nmOp)
	vWeights = VReg(28) // a group of 2 or 4 weights loaded together (see groupWeights)
)

var addrCacheRegs = [4]Reg{17, 15, 14, 13}

// gpPool and vecPool are the registers the allocator assigns.
var gpPool, vecPool = func() ([]Reg, []VReg) {
	var g []Reg
	for _, r := range Usable() {
		cache := false
		for _, c := range addrCacheRegs {
			cache = cache || r == c
		}
		if r != regTmp && !cache {
			g = append(g, r)
		}
	}
	var v []VReg
	for i := VReg(0); i < 30; i++ {
		v = append(v, i)
	}
	return g, v
}()

func (m *Machine) ISA() string  { return "neon" }
func (m *Machine) Lanes() int   { return 4 }
func (m *Machine) VecRegs() int { return 32 }

type opKind uint8

const (
	oComment opKind = iota
	oRet
	oParam
	oMovImm
	oMov
	oAdd
	oAddImm
	oSub
	oShl
	oMin
	oMul
	oLea
	oLoad
	oStore
	oBind
	oJmp
	oBr
	oBrImm
	oBrBits
	oZero
	oLoad1
	oParamF32
	oLoadV
	oStoreV
	oTailMask
	oLoadVMask
	oStoreVMask
	oFMA
	oFMAMem
	oFMABcast
	oVAdd
	oVMax
	oVMin
	oVAddMem
	oVShrVar
	oVAndOr
	oPermute2
	oSelectBit
	oLoadIdx
	oLoadWiden     // n = vm.Elem (widen.go)
	oLoadWidenMask // n = vm.Elem, r[0] the mask's lane count (widen.go)
	oLoad1Widen    // n = vm.Elem (widen.go)
	oGather
	oReduceAdd
	oStoreLane0
	oLoadW // n consecutive float32 at mem into lanes 0..n−1 of vWeights
	oNop   // a Load1 absorbed by a weight group
	oTranspose
)

type op struct {
	k     opKind
	r     []vm.Reg
	v     []vm.Vec
	mem   vm.Mem
	imm   int64
	n     int
	cond  vm.Cond
	set   bool
	label vm.Label
	text  string
}

type record struct {
	name, doc string
	params    []vm.Param
	argOff    map[string]int
	argKind   map[string]vm.Kind
	argsSize  int
	ops       []op
	ngp, nvec int
	masks     []vm.Reg // mask → the hidden register holding its lane count
	labels    map[string]int
}

func (m *Machine) rec() *record {
	vm.Check(m.cur != nil, "neon: operation outside a function")
	return m.cur
}

func (m *Machine) add(o op) { r := m.rec(); r.ops = append(r.ops, o) }

// Func starts a function; the previous one is allocated and lowered.
func (m *Machine) Func(name, doc string, params []vm.Param) {
	m.finish()
	r := &record{name: name, doc: doc, params: params, argOff: map[string]int{}, argKind: map[string]vm.Kind{}, labels: map[string]int{}}
	off := 0
	for _, p := range params {
		size := 8
		if p.Kind == vm.F32 {
			size = 4
		}
		off = (off + size - 1) / size * size
		r.argOff[p.Name] = off
		r.argKind[p.Name] = p.Kind
		off += size
	}
	r.argsSize = (off + 7) / 8 * 8
	m.cur = r
	m.stubs = append(m.stubs, stub{name, doc, params})
}

func (m *Machine) Comment(format string, args ...any) {
	m.add(op{k: oComment, text: fmt.Sprintf(format, args...)})
}

func (m *Machine) Ret() { m.add(op{k: oRet}) }

func (m *Machine) GP() vm.Reg { r := m.rec(); r.ngp++; return vm.Reg(r.ngp - 1) }

func (m *Machine) Param(name string) vm.Reg {
	r := m.rec()
	k, ok := r.argKind[name]
	vm.Check(ok && k != vm.F32, "neon: %s has no integer or pointer param %q", r.name, name)
	d := m.GP()
	m.add(op{k: oParam, r: []vm.Reg{d}, text: name})
	return d
}

func (m *Machine) MovImm(dst vm.Reg, v int64) { m.add(op{k: oMovImm, r: []vm.Reg{dst}, imm: v}) }
func (m *Machine) Mov(dst, src vm.Reg)        { m.add(op{k: oMov, r: []vm.Reg{dst, src}}) }
func (m *Machine) Add(dst, src vm.Reg)        { m.add(op{k: oAdd, r: []vm.Reg{dst, src}}) }
func (m *Machine) AddImm(dst vm.Reg, v int64) { m.add(op{k: oAddImm, r: []vm.Reg{dst}, imm: v}) }
func (m *Machine) Sub(dst, src vm.Reg)        { m.add(op{k: oSub, r: []vm.Reg{dst, src}}) }
func (m *Machine) Shl(dst vm.Reg, s int) {
	vm.Check(s >= 0 && s < 64, "neon: Shl %d", s)
	m.add(op{k: oShl, r: []vm.Reg{dst}, n: s})
}
func (m *Machine) Min(dst, src vm.Reg)      { m.add(op{k: oMin, r: []vm.Reg{dst, src}}) }
func (m *Machine) Mul(dst, src vm.Reg)      { m.add(op{k: oMul, r: []vm.Reg{dst, src}}) }
func (m *Machine) Lea(dst vm.Reg, a vm.Mem) { m.add(op{k: oLea, r: []vm.Reg{dst}, mem: a}) }
func (m *Machine) Load(dst vm.Reg, a vm.Mem, bytes int) {
	vm.Check(bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8, "neon: load of %d bytes", bytes)
	m.add(op{k: oLoad, r: []vm.Reg{dst}, mem: a, n: bytes})
}
func (m *Machine) Store(a vm.Mem, src vm.Reg, bytes int) {
	vm.Check(bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8, "neon: store of %d bytes", bytes)
	m.add(op{k: oStore, r: []vm.Reg{src}, mem: a, n: bytes})
}

func (m *Machine) NewLabel(prefix string) vm.Label {
	r := m.rec()
	r.labels[prefix]++
	return vm.Label(fmt.Sprintf("%s%d", prefix, r.labels[prefix]))
}

func (m *Machine) Bind(l vm.Label) { m.add(op{k: oBind, label: l}) }
func (m *Machine) Jmp(l vm.Label)  { m.add(op{k: oJmp, label: l}) }
func (m *Machine) Br(a vm.Reg, c vm.Cond, b vm.Reg, l vm.Label) {
	m.add(op{k: oBr, r: []vm.Reg{a, b}, cond: c, label: l})
}
func (m *Machine) BrImm(a vm.Reg, c vm.Cond, v int64, l vm.Label) {
	m.add(op{k: oBrImm, r: []vm.Reg{a}, cond: c, imm: v, label: l})
}
func (m *Machine) BrBits(a vm.Reg, bits int64, set bool, l vm.Label) {
	vm.Check(bits > 0, "neon: BrBits %#x", bits)
	m.add(op{k: oBrBits, r: []vm.Reg{a}, imm: bits, set: set, label: l})
}

func (m *Machine) Vec() vm.Vec   { r := m.rec(); r.nvec++; return vm.Vec(r.nvec - 1) }
func (m *Machine) Zero(v vm.Vec) { m.add(op{k: oZero, v: []vm.Vec{v}}) }
func (m *Machine) Load1(v vm.Vec, a vm.Mem) {
	m.add(op{k: oLoad1, v: []vm.Vec{v}, mem: a})
}
func (m *Machine) ParamF32(v vm.Vec, name string) {
	r := m.rec()
	k, ok := r.argKind[name]
	vm.Check(ok && k == vm.F32, "neon: %s has no float32 param %q", r.name, name)
	m.add(op{k: oParamF32, v: []vm.Vec{v}, text: name})
}
func (m *Machine) LoadV(v vm.Vec, a vm.Mem)  { m.add(op{k: oLoadV, v: []vm.Vec{v}, mem: a}) }
func (m *Machine) StoreV(a vm.Mem, v vm.Vec) { m.add(op{k: oStoreV, v: []vm.Vec{v}, mem: a}) }

func (m *Machine) TailMask(n vm.Reg) vm.Mask {
	r := m.rec()
	h := m.GP()
	m.add(op{k: oTailMask, r: []vm.Reg{h, n}})
	r.masks = append(r.masks, h)
	return vm.Mask(len(r.masks) - 1)
}

func (m *Machine) maskReg(k vm.Mask) vm.Reg {
	r := m.rec()
	vm.Check(int(k) >= 0 && int(k) < len(r.masks), "neon: unknown mask %d", k)
	return r.masks[k]
}

func (m *Machine) LoadVMask(v vm.Vec, a vm.Mem, k vm.Mask) {
	m.add(op{k: oLoadVMask, v: []vm.Vec{v}, r: []vm.Reg{m.maskReg(k)}, mem: a})
}
func (m *Machine) StoreVMask(a vm.Mem, v vm.Vec, k vm.Mask) {
	m.add(op{k: oStoreVMask, v: []vm.Vec{v}, r: []vm.Reg{m.maskReg(k)}, mem: a})
}
func (m *Machine) FMA(acc, a, b vm.Vec) { m.add(op{k: oFMA, v: []vm.Vec{acc, a, b}}) }
func (m *Machine) FMAMem(acc, a vm.Vec, mm vm.Mem) {
	m.add(op{k: oFMAMem, v: []vm.Vec{acc, a}, mem: mm})
}

// FMABcast is acc += a·broadcast(float32 at mm) (the optional interface of the GEMM family):
// one LDR s into a scratch register and FMLA by element.
func (m *Machine) FMABcast(acc, a vm.Vec, mm vm.Mem) {
	m.add(op{k: oFMABcast, v: []vm.Vec{acc, a}, mem: mm})
}
func (m *Machine) VAdd(dst, a vm.Vec)           { m.add(op{k: oVAdd, v: []vm.Vec{dst, a}}) }
func (m *Machine) VMax(dst, bound vm.Vec)       { m.add(op{k: oVMax, v: []vm.Vec{dst, bound}}) }
func (m *Machine) VMin(dst, bound vm.Vec)       { m.add(op{k: oVMin, v: []vm.Vec{dst, bound}}) }
func (m *Machine) VAddMem(dst vm.Vec, a vm.Mem) { m.add(op{k: oVAddMem, v: []vm.Vec{dst}, mem: a}) }

func (m *Machine) VShrVar(dst, src, sh vm.Vec) {
	m.add(op{k: oVShrVar, v: []vm.Vec{dst, src, sh}})
}
func (m *Machine) VAndOr(dst, and, or vm.Vec) { m.add(op{k: oVAndOr, v: []vm.Vec{dst, and, or}}) }
func (m *Machine) Permute2(dst, idx, a, b vm.Vec) {
	m.add(op{k: oPermute2, v: []vm.Vec{dst, idx, a, b}})
}
func (m *Machine) SelectBit(dst, idx vm.Vec, bit int, a, b vm.Vec) {
	vm.Check(bit >= 0 && bit < 32, "neon: SelectBit bit %d", bit)
	m.add(op{k: oSelectBit, v: []vm.Vec{dst, idx, a, b}, n: bit})
}

// LoadIdx zero-extends 4 indices of 2 or 4 bytes into int32 lanes: LDR d + UXTL, or LDR q.
// It reads the whole vector even under a mask: the SpMV plan pads its index stream.
func (m *Machine) LoadIdx(v vm.Vec, a vm.Mem, bytes int, k *vm.Mask) {
	vm.Check(bytes == 2 || bytes == 4, "neon: LoadIdx of %d-byte indices", bytes)
	m.add(op{k: oLoadIdx, v: []vm.Vec{v}, mem: a, n: bytes})
}

// Gather loads lane by lane (NEON has no gather): UMOV the index, ADD, LD1 to the lane, into
// a scratch register then moved to dst, so dst may share idx's register. Under a mask,
// lanes ≥ n are zero and never loaded.
func (m *Machine) Gather(dst vm.Vec, base vm.Reg, idx vm.Vec, scale int, k *vm.Mask) {
	o := op{k: oGather, v: []vm.Vec{dst, idx}, r: []vm.Reg{base}, n: scale}
	if k != nil {
		o.r = append(o.r, m.maskReg(*k))
	}
	m.add(o)
}

// ReduceAdd sums the lanes into lane 0 as halves then quarters: (v0+v2) + (v1+v3).
func (m *Machine) ReduceAdd(v vm.Vec) { m.add(op{k: oReduceAdd, v: []vm.Vec{v}}) }

// StoreLane0 stores lane 0 of v (STR s).
func (m *Machine) StoreLane0(a vm.Mem, v vm.Vec) { m.add(op{k: oStoreLane0, v: []vm.Vec{v}, mem: a}) }

// defs and uses of an operation, as virtual register numbers.
func (o *op) gp() (defs, uses []vm.Reg) {
	mem := func() []vm.Reg {
		u := []vm.Reg{o.mem.Base}
		if o.mem.Index >= 0 {
			u = append(u, o.mem.Index)
		}
		return u
	}
	switch o.k {
	case oParam, oMovImm:
		return o.r[:1], nil
	case oMov:
		return o.r[:1], o.r[1:2]
	case oAdd, oSub, oMin, oMul:
		return o.r[:1], o.r[:2]
	case oAddImm, oShl:
		return o.r[:1], o.r[:1]
	case oLea, oLoad:
		return o.r[:1], mem()
	case oStore:
		return nil, append(mem(), o.r[0])
	case oBr:
		return nil, o.r[:2]
	case oBrImm, oBrBits:
		return nil, o.r[:1]
	case oTailMask:
		return o.r[:1], o.r[1:2]
	case oLoad1, oLoadV, oStoreV, oFMAMem, oFMABcast, oVAddMem:
		return nil, mem()
	case oLoadVMask, oStoreVMask, oLoadWidenMask:
		return nil, append(mem(), o.r[0])
	case oLoadIdx, oLoadWiden, oLoad1Widen, oStoreLane0, oLoadW:
		return nil, mem()
	case oGather:
		return nil, o.r
	}
	return nil, nil
}

func (o *op) vec() (defs, uses []vm.Vec) {
	defs, uses = o.vecRaw()
	return dropNeg(defs), dropNeg(uses)
}

// dropNeg removes the operands that name the weight-group register (vWeights, -1).
func dropNeg(vs []vm.Vec) []vm.Vec {
	for _, v := range vs {
		if v < 0 {
			out := make([]vm.Vec, 0, len(vs))
			for _, w := range vs {
				if w >= 0 {
					out = append(out, w)
				}
			}
			return out
		}
	}
	return vs
}

func (o *op) vecRaw() (defs, uses []vm.Vec) {
	switch o.k {
	case oZero, oLoad1, oParamF32, oLoadV, oLoadVMask, oLoadIdx, oLoadWiden, oLoadWidenMask, oLoad1Widen:
		return o.v[:1], nil
	case oStoreV, oStoreVMask, oStoreLane0:
		return nil, o.v[:1]
	case oGather:
		return o.v[:1], o.v[1:2]
	case oReduceAdd:
		return o.v[:1], o.v[:1]
	case oFMA, oVAdd, oVMax, oVMin, oFMAMem, oFMABcast, oVAddMem, oVAndOr:
		return o.v[:1], o.v
	case oVShrVar, oPermute2, oSelectBit:
		return o.v[:1], o.v[1:]
	case oTranspose:
		return o.v, o.v
	}
	return nil, nil
}

// bitset over virtual registers.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) clear(i int)    { b[i/64] &^= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) or(c bitset) (ch bool) {
	for i := range b {
		n := b[i] | c[i]
		if n != b[i] {
			b[i], ch = n, true
		}
	}
	return ch
}

// allocate assigns physical registers to n virtual registers by liveness over the ops'
// control-flow graph; defs/uses give each op's registers.
func allocate[P comparable](r *record, n int, pool []P, du func(o *op) (defs, uses []int), what string) []P {
	ops := r.ops
	if n == 0 {
		return nil
	}
	succ := cfg(r)
	defs := make([][]int, len(ops))
	uses := make([][]int, len(ops))
	for i := range ops {
		defs[i], uses[i] = du(&ops[i])
	}
	in := make([]bitset, len(ops))
	out := make([]bitset, len(ops))
	for i := range ops {
		in[i], out[i] = newBitset(n), newBitset(n)
	}
	for changed := true; changed; {
		changed = false
		for i := len(ops) - 1; i >= 0; i-- {
			for _, s := range succ[i] {
				if out[i].or(in[s]) {
					changed = true
				}
			}
			nin := newBitset(n)
			copy(nin, out[i])
			for _, d := range defs[i] {
				nin.clear(d)
			}
			for _, u := range uses[i] {
				nin.set(u)
			}
			if in[i].or(nin) {
				changed = true
			}
		}
	}
	adj := make([]map[int]bool, n)
	for i := range adj {
		adj[i] = map[int]bool{}
	}
	seen := make([]bool, n)
	var order []int
	note := func(v int) {
		if !seen[v] {
			seen[v] = true
			order = append(order, v)
		}
	}
	for v := 0; v < n; v++ {
		if in[0].has(v) {
			note(v) // used before any definition on some path: live from entry
		}
	}
	for i := range ops {
		for _, u := range uses[i] {
			note(u)
		}
		for _, d := range defs[i] {
			note(d)
			for w := 0; w < n; w++ {
				if w != d && out[i].has(w) {
					adj[d][w], adj[w][d] = true, true
				}
			}
		}
	}
	// Registers live together at entry interfere too.
	var live0 []int
	for v := 0; v < n; v++ {
		if in[0].has(v) {
			live0 = append(live0, v)
		}
	}
	for _, a := range live0 {
		for _, b := range live0 {
			if a != b {
				adj[a][b] = true
			}
		}
	}
	phys := make([]P, n)
	color := make([]int, n)
	for i := range color {
		color[i] = -1
	}
	for _, v := range order {
		used := make([]bool, len(pool))
		for w := range adj[v] {
			if color[w] >= 0 {
				used[color[w]] = true
			}
		}
		c := -1
		for i := range pool {
			if !used[i] {
				c = i
				break
			}
		}
		vm.Check(c >= 0, "neon: %s: out of %s registers (%d available)", r.name, what, len(pool))
		color[v] = c
		phys[v] = pool[c]
	}
	return phys
}

// cfg returns each operation's successors.
func cfg(r *record) [][]int {
	ops := r.ops
	at := map[vm.Label]int{}
	for i, o := range ops {
		if o.k == oBind {
			at[o.label] = i
		}
	}
	succ := make([][]int, len(ops))
	for i, o := range ops {
		switch o.k {
		case oRet:
		case oJmp:
			t, ok := at[o.label]
			vm.Check(ok, "neon: %s: jump to unbound label %s", r.name, o.label)
			succ[i] = []int{t}
		case oBr, oBrImm, oBrBits:
			t, ok := at[o.label]
			vm.Check(ok, "neon: %s: branch to unbound label %s", r.name, o.label)
			succ[i] = []int{t}
			if i+1 < len(ops) {
				succ[i] = append(succ[i], i+1)
			}
		default:
			if i+1 < len(ops) {
				succ[i] = []int{i + 1}
			}
		}
	}
	return succ
}

// lanePlan decides where broadcasts stay scalars (FMLA by element; README.md, "Broadcasts as
// lanes"):
//   - elem[i] is the operand (1 or 2) of FMA/FMAMem op i used as lane 0 by FMLA by element,
//     or 0: an operand qualifies when every definition reaching it is a Load1 or ParamF32
//     (a broadcast, or a scalar in lane 0: lane 0 holds the value either way);
//   - scalar[i] says Load1/ParamF32 op i may load only lane 0 (LDR s, no DUP): every use it
//     reaches is such a lane-0 operand.
//
// Decisions are per definition (reaching definitions over the control-flow graph), so a
// register reused for a bias broadcast after a loop keeps its scalar form inside the loop.
func lanePlan(r *record, succ [][]int) (elem []int, scalar []bool, reach [][]int) {
	ops := r.ops
	elem = make([]int, len(ops))
	scalar = make([]bool, len(ops))
	reach = make([][]int, len(ops)) // Load1/ParamF32 op → the FMAs using it as their lane
	// Definition ids: one per (op, vector defined).
	type def struct{ op, v int }
	var defs []def
	defsOf := map[int][]int{} // vreg → def ids
	opDef := make([][]int, len(ops))
	for i := range ops {
		d, _ := ops[i].vec()
		for _, v := range d {
			id := len(defs)
			defs = append(defs, def{i, int(v)})
			defsOf[int(v)] = append(defsOf[int(v)], id)
			opDef[i] = append(opDef[i], id)
		}
	}
	if len(defs) == 0 {
		return
	}
	pred := make([][]int, len(ops))
	for i, ss := range succ {
		for _, s := range ss {
			pred[s] = append(pred[s], i)
		}
	}
	in := make([]bitset, len(ops))
	out := make([]bitset, len(ops))
	for i := range ops {
		in[i], out[i] = newBitset(len(defs)), newBitset(len(defs))
	}
	for changed := true; changed; {
		changed = false
		for i := range ops {
			for _, p := range pred[i] {
				if in[i].or(out[p]) {
					changed = true
				}
			}
			o := newBitset(len(defs))
			copy(o, in[i])
			for _, id := range opDef[i] {
				for _, other := range defsOf[defs[id].v] {
					o.clear(other)
				}
			}
			for _, id := range opDef[i] {
				o.set(id)
			}
			if out[i].or(o) {
				changed = true
			}
		}
	}
	isBcast := func(k opKind) bool { return k == oLoad1 || k == oParamF32 }
	// reaching returns the defs of v reaching op i, and whether all are broadcasts.
	reaching := func(i int, v vm.Vec) (ids []int, bcast bool) {
		bcast = true
		for _, id := range defsOf[int(v)] {
			if in[i].has(id) {
				ids = append(ids, id)
				if !isBcast(ops[defs[id].op].k) {
					bcast = false
				}
			}
		}
		return ids, bcast && len(ids) > 0
	}
	full := make([]bool, len(defs)) // the def must fill every lane
	for i := range ops {
		o := &ops[i]
		lane := 0
		if o.k == oFMA {
			if _, ok := reaching(i, o.v[2]); ok {
				lane = 2
			} else if _, ok := reaching(i, o.v[1]); ok {
				lane = 1
			}
		}
		if o.k == oFMAMem {
			if _, ok := reaching(i, o.v[1]); ok {
				lane = 1
			}
		}
		elem[i] = lane
		if lane != 0 {
			ids, _ := reaching(i, o.v[lane])
			for _, id := range ids {
				reach[defs[id].op] = append(reach[defs[id].op], i)
			}
		}
		_, uses := o.vec()
		for j, v := range uses {
			if lane != 0 && j == lane && v != o.v[0] {
				continue // the lane-0 operand
			}
			ids, _ := reaching(i, v)
			for _, id := range ids {
				full[id] = true
			}
		}
	}
	for id, d := range defs {
		if isBcast(ops[d.op].k) && !full[id] {
			scalar[d.op] = true
		}
	}
	return elem, scalar, reach
}

// finish allocates and lowers the function being recorded.
func (m *Machine) finish() {
	r := m.cur
	if r == nil {
		return
	}
	m.cur = nil
	defer func() {
		if p := recover(); p != nil {
			if m.err == nil {
				m.err = fmt.Errorf("%v", p)
			}
		}
	}()
	elem, scalar, reach := lanePlan(r, cfg(r))
	wlane, grouped := groupWeights(r, elem, scalar, reach)
	gp := allocate(r, r.ngp, gpPool, func(o *op) (d, u []int) {
		dd, uu := o.gp()
		return ints(dd), ints(uu)
	}, "general")
	pool := vecPool
	if grouped {
		pool = vecPool[:vWeights]
	}
	for _, o := range r.ops {
		switch o.k {
		case oVShrVar, oVAndOr, oPermute2, oSelectBit:
			pool = vecPool[:min(len(pool), int(vTmpNM))]
		}
	}
	vec := allocate(r, r.nvec, pool, func(o *op) (d, u []int) {
		dd, uu := o.vec()
		return ints(dd), ints(uu)
	}, "vector")
	l := &lower{r: r, gp: gp, vec: vec, elem: elem, scalar: scalar, wlane: wlane, f: NewFunc(r.name, r.argsSize)}
	if r.doc != "" {
		l.f.Doc = strings.Split(r.doc, "\n")
	}
	l.planFolds()
	for i := 0; i < len(r.ops); i++ {
		l.cur = i
		if l.skip[i] {
			continue
		}
		if i+1 < len(r.ops) && l.fuseCount(&r.ops[i], &r.ops[i+1]) {
			i++
			continue
		}
		l.op(&r.ops[i])
	}
	if err := l.f.Err(); err != nil && m.err == nil {
		m.err = err
	}
	m.funcs = append(m.funcs, l.f)
}

func ints[T ~int](xs []T) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

// Funcs finishes the last function and returns every lowered function, or the first error.
func (m *Machine) Funcs() ([]*Func, error) {
	m.finish()
	return m.funcs, m.err
}

// Asm renders the assembly file (build tag !purego) with generator's header.
func (m *Machine) Asm(generator string) ([]byte, error) {
	fs, err := m.Funcs()
	if err != nil {
		return nil, err
	}
	return (&File{Generator: generator, BuildTags: "!purego", Funcs: fs}).Bytes()
}

// Stubs renders the Go declarations of the functions (package asm, build tag !purego),
// unformatted; table is appended.
func (m *Machine) Stubs(generator, table string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "// Code generated by %s. DO NOT EDIT.\n\n//go:build !purego\n\npackage asm\n", generator)
	for _, s := range m.stubs {
		b.WriteString("\n")
		for _, line := range strings.Split(s.doc, "\n") {
			fmt.Fprintf(&b, "// %s\n", line)
		}
		fmt.Fprintf(&b, "//\n//go:noescape\nfunc %s%s\n", s.name, strings.TrimPrefix(vm.Signature(s.params), "func"))
	}
	b.WriteString("\n")
	b.WriteString(table)
	return []byte(b.String())
}

// lower emits one function's operations with physical registers.
type lower struct {
	r      *record
	gp     []Reg
	vec    []VReg
	elem   []int  // per op: the FMA operand used as lane 0 (FMLA by element), or 0
	scalar []bool // per op: a Load1/ParamF32 that loads lane 0 only
	wlane  []int  // per FMA op whose lane operand is -1: the lane of vWeights (groupWeights)
	post   []int  // per op: a load lowered post-indexed by this increment (see planFolds)
	skip   []bool // per op: an AddImm folded into an earlier load
	adj    []int  // per op: displacement added to its memory operand (after a fold)
	cur    int    // index of the op being lowered
	f      *Func
	cache  [len(addrCacheRegs)]addrEntry // base+index·scale held in addrCacheRegs
	lru    int                           // the entry to replace next (round robin)
	nlab   int
	vtog   int
}

type addrEntry struct {
	valid       bool
	base, index Reg
	shift       int
}

func (l *lower) g(r vm.Reg) Reg   { return l.gp[r] }
func (l *lower) v(v vm.Vec) VReg  { return l.vec[v] }
func (l *lower) label() string    { l.nlab++; return fmt.Sprintf("neon_%d", l.nlab) }
func (l *lower) invalidate()      { l.cache = [len(addrCacheRegs)]addrEntry{} }
func (l *lower) scratchVec() VReg { l.vtog ^= 1; return [2]VReg{vTmp0, vTmp1}[l.vtog] }

// clobber forgets cached addresses that depend on register p.
func (l *lower) clobber(p Reg) {
	for i := range l.cache {
		if l.cache[i].valid && (l.cache[i].base == p || l.cache[i].index == p) {
			l.cache[i].valid = false
		}
	}
}

func log2(scale int) int {
	vm.Check(scale == 1 || scale == 2 || scale == 4 || scale == 8, "neon: scale %d", scale)
	return bits.TrailingZeros(uint(scale))
}

// addImm emits dst = src + v for any v.
func (l *lower) addImm(dst, src Reg, v int64) {
	e := l.f.Emitter
	switch {
	case v == 0:
		if dst != src {
			e.MOVD(src, dst)
		}
	case v > 0 && v <= 4095:
		e.ADDImm(int(v), src, dst)
	case v < 0 && v >= -4095:
		e.SUBImm(int(-v), src, dst)
	default:
		vm.Check(src != regTmp, "neon: addImm through the temporary")
		e.MOVDConst(v, regTmp)
		e.ADD(regTmp, src, dst)
	}
}

// addr returns a register and an offset with reg+off = the address of a, where ok(off)
// says which offsets the instruction encodes. base+index·scale goes through the address
// cache when cached is set.
func (l *lower) addr(a vm.Mem, ok func(int) bool, cached bool) (Reg, int) {
	e := l.f.Emitter
	base := l.g(a.Base)
	if a.Index >= 0 {
		idx, sh := l.g(a.Index), log2(a.Scale)
		var r Reg
		if cached {
			hit := -1
			for i, c := range l.cache {
				if c.valid && c.base == base && c.index == idx && c.shift == sh {
					hit = i
				}
			}
			if hit < 0 {
				hit = l.lru
				l.lru = (l.lru + 1) % len(addrCacheRegs)
				e.ADDShift(idx, sh, base, addrCacheRegs[hit])
				l.cache[hit] = addrEntry{true, base, idx, sh}
			}
			r = addrCacheRegs[hit]
		} else {
			e.ADDShift(idx, sh, base, regTmp)
			r = regTmp
		}
		base = r
	}
	if ok(a.Disp) {
		return base, a.Disp
	}
	l.addImm(regTmp, base, int64(a.Disp))
	return regTmp, 0
}

// scaled accepts the offsets a load or store of size bytes encodes in one instruction: the
// scaled unsigned form, or the unscaled −256..255 (LDUR/STUR).
func scaled(size int) func(int) bool {
	return func(off int) bool { return off >= -256 && off <= 255 || off >= 0 && off%size == 0 && off <= 4095*size }
}

func zeroOff(off int) bool { return off == 0 }

var condMap = map[vm.Cond]Cond{vm.LT: LT, vm.LE: LE, vm.GT: GT, vm.GE: GE, vm.EQ: EQ, vm.NE: NE}

func (l *lower) op(o *op) {
	e := l.f.Emitter
	if l.adj[l.cur] != 0 {
		oc := *o
		oc.mem.Disp += l.adj[l.cur]
		o = &oc
	}
	if l.post[l.cur] != 0 {
		l.postLoad(o, l.post[l.cur])
		return
	}
	switch o.k {
	case oBind, oJmp, oBr, oBrImm, oBrBits, oRet:
		l.invalidate()
	}
	switch o.k {
	case oComment:
		e.Comment("%s", o.text)
	case oRet:
		e.RET()
	case oParam:
		e.LoadArg(o.text, l.r.argOff[o.text], l.g(o.r[0]))
	case oMovImm:
		e.MOVDConst(o.imm, l.g(o.r[0]))
	case oMov:
		if l.g(o.r[0]) != l.g(o.r[1]) {
			e.MOVD(l.g(o.r[1]), l.g(o.r[0]))
		}
	case oAdd:
		e.ADD(l.g(o.r[1]), l.g(o.r[0]), l.g(o.r[0]))
	case oSub:
		e.SUB(l.g(o.r[1]), l.g(o.r[0]), l.g(o.r[0]))
	case oMul:
		e.MUL(l.g(o.r[1]), l.g(o.r[0]), l.g(o.r[0]))
	case oAddImm:
		l.addImm(l.g(o.r[0]), l.g(o.r[0]), o.imm)
	case oShl:
		if o.n > 0 {
			e.LSL(o.n, l.g(o.r[0]), l.g(o.r[0]))
		}
	case oMin:
		d, s := l.g(o.r[0]), l.g(o.r[1])
		e.CMP(s, d)
		e.CSEL(LT, d, s, d)
	case oLea:
		if o.mem.Index >= 0 && o.mem.Disp == 0 {
			e.ADDShift(l.g(o.mem.Index), log2(o.mem.Scale), l.g(o.mem.Base), l.g(o.r[0]))
			break
		}
		r, off := l.addr(o.mem, zeroOff, false)
		l.addImm(l.g(o.r[0]), r, int64(off))
	case oLoad:
		kind := map[int]LoadKind{1: LoadBU, 2: LoadHU, 4: LoadWU, 8: LoadD}[o.n]
		if o.mem.Index >= 0 && o.mem.Scale == o.n && o.mem.Disp == 0 {
			e.LoadIdx(kind, l.g(o.mem.Base), l.g(o.mem.Index), l.g(o.r[0]))
		} else {
			r, off := l.addr(o.mem, scaled(o.n), false)
			e.Load(kind, M(r, off), l.g(o.r[0]))
		}
	case oStore:
		kind := map[int]StoreKind{1: StoreB, 2: StoreH, 4: StoreW, 8: StoreD}[o.n]
		if o.mem.Index >= 0 && o.mem.Scale == o.n && o.mem.Disp == 0 {
			e.StoreIdx(kind, l.g(o.r[0]), l.g(o.mem.Base), l.g(o.mem.Index))
		} else {
			r, off := l.addr(o.mem, scaled(o.n), false)
			e.Store(kind, l.g(o.r[0]), M(r, off))
		}
	case oBind:
		e.Label(string(o.label))
	case oJmp:
		e.B(string(o.label))
	case oBr:
		e.CMP(l.g(o.r[1]), l.g(o.r[0]))
		e.Bcond(condMap[o.cond], string(o.label))
	case oBrImm:
		a, v := l.g(o.r[0]), o.imm
		switch {
		case v == 0 && o.cond == vm.EQ:
			e.CBZ(a, string(o.label))
			return
		case v == 0 && o.cond == vm.NE:
			e.CBNZ(a, string(o.label))
			return
		case v >= 0 && v <= 4095:
			e.CMPImm(int(v), a)
		case v < 0 && v >= -4095:
			e.CMNImm(int(-v), a)
		default:
			e.MOVDConst(v, regTmp)
			e.CMP(regTmp, a)
		}
		e.Bcond(condMap[o.cond], string(o.label))
	case oBrBits:
		a := l.g(o.r[0])
		if bits.OnesCount64(uint64(o.imm)) == 1 {
			b := bits.TrailingZeros64(uint64(o.imm))
			if o.set {
				e.TBNZ(b, a, string(o.label))
			} else {
				e.TBZ(b, a, string(o.label))
			}
			return
		}
		e.MOVDConst(o.imm, regTmp)
		e.TST(regTmp, a)
		if o.set {
			e.Bcond(NE, string(o.label))
		} else {
			e.Bcond(EQ, string(o.label))
		}
	case oZero:
		e.VZero(l.v(o.v[0]))
	case oLoad1:
		d := l.v(o.v[0])
		if l.scalar[l.cur] {
			if o.mem.Index >= 0 && o.mem.Scale == 4 && o.mem.Disp == 0 {
				e.FMOVSLoadIdx(l.g(o.mem.Base), l.g(o.mem.Index), d)
			} else {
				r, off := l.addr(o.mem, scaled(4), false)
				e.FMOVSLoad(M(r, off), d)
			}
			break
		}
		r, _ := l.addr(o.mem, zeroOff, false)
		e.VLD1R(r, d.S4())
	case oParamF32:
		d := l.v(o.v[0])
		e.LoadArgF32(o.text, l.r.argOff[o.text], d)
		if !l.scalar[l.cur] {
			e.VDUPLane(d.S(0), d.S4())
		}
	case oLoadV:
		r, off := l.addr(o.mem, scaled(16), true)
		e.FMOVQLoad(M(r, off), l.v(o.v[0]))
	case oStoreV:
		r, off := l.addr(o.mem, scaled(16), true)
		e.FMOVQStore(l.v(o.v[0]), M(r, off))
	case oTailMask:
		if l.g(o.r[0]) != l.g(o.r[1]) {
			e.MOVD(l.g(o.r[1]), l.g(o.r[0]))
		}
	case oLoadVMask, oStoreVMask:
		l.masked(o)
	case oNop:
	case oLoadW:
		if o.n == 4 {
			r, off := l.addr(o.mem, scaled(16), false)
			e.FMOVQLoad(M(r, off), vWeights)
		} else {
			r, off := l.addr(o.mem, scaled(8), false)
			e.FMOVDLoad(M(r, off), vWeights)
		}
	case oFMA:
		if o.v[1] < 0 || o.v[2] < 0 {
			other := o.v[1]
			if other < 0 {
				other = o.v[2]
			}
			e.FMLAElem(vWeights.S(l.wlane[l.cur]), l.v(other).S4(), l.v(o.v[0]).S4())
			break
		}
		acc, a, b := l.v(o.v[0]), l.v(o.v[1]), l.v(o.v[2])
		switch {
		case l.elem[l.cur] == 2:
			e.FMLAElem(b.S(0), a.S4(), acc.S4())
		case l.elem[l.cur] == 1:
			e.FMLAElem(a.S(0), b.S4(), acc.S4())
		default:
			e.VFMLA(b.S4(), a.S4(), acc.S4())
		}
	case oFMAMem:
		r, off := l.addr(o.mem, scaled(16), true)
		s := l.scratchVec()
		e.FMOVQLoad(M(r, off), s)
		acc := l.v(o.v[0])
		if o.v[1] < 0 {
			e.FMLAElem(vWeights.S(l.wlane[l.cur]), s.S4(), acc.S4())
			break
		}
		a := l.v(o.v[1])
		if l.elem[l.cur] == 1 {
			e.FMLAElem(a.S(0), s.S4(), acc.S4())
		} else {
			e.VFMLA(s.S4(), a.S4(), acc.S4())
		}
	case oFMABcast:
		s := l.scratchVec()
		if o.mem.Index >= 0 && o.mem.Scale == 4 && o.mem.Disp == 0 {
			e.FMOVSLoadIdx(l.g(o.mem.Base), l.g(o.mem.Index), s)
		} else {
			r, off := l.addr(o.mem, scaled(4), false)
			e.FMOVSLoad(M(r, off), s)
		}
		e.FMLAElem(s.S(0), l.v(o.v[1]).S4(), l.v(o.v[0]).S4())
	case oVAdd:
		d := l.v(o.v[0])
		e.FADD(l.v(o.v[1]).S4(), d.S4(), d.S4())
	case oVMax:
		d := l.v(o.v[0])
		e.FMAX(l.v(o.v[1]).S4(), d.S4(), d.S4())
	case oVMin:
		d := l.v(o.v[0])
		e.FMIN(l.v(o.v[1]).S4(), d.S4(), d.S4())
	case oVAddMem:
		r, off := l.addr(o.mem, scaled(16), true)
		s := l.scratchVec()
		e.FMOVQLoad(M(r, off), s)
		d := l.v(o.v[0])
		e.FADD(s.S4(), d.S4(), d.S4())
	case oLoadWiden, oLoadWidenMask:
		l.lowerWiden(o)
	case oLoad1Widen:
		l.lowerWiden1(o)
	case oLoadIdx:
		d := l.v(o.v[0])
		if o.n == 2 {
			r, off := l.addr(o.mem, scaled(8), true)
			e.FMOVDLoad(M(r, off), d)
			e.VUXTL(d.H4(), d.S4())
		} else {
			r, off := l.addr(o.mem, scaled(16), true)
			e.FMOVQLoad(M(r, off), d)
		}
	case oGather:
		l.gather(o)
	case oReduceAdd:
		v := l.v(o.v[0])
		e.VEXT(8, v.B16(), v.B16(), vTmp0.B16())
		e.FADD(vTmp0.S2(), v.S2(), v.S2())
		e.FADDPScalar(v.S2(), v)
	case oStoreLane0:
		r, off := l.addr(o.mem, scaled(4), false)
		e.FMOVSStore(l.v(o.v[0]), M(r, off))
	case oVShrVar, oVAndOr, oPermute2, oSelectBit:
		l.nmOp(o)
	case oTranspose:
		l.transpose(o)
	default:
		vm.Check(false, "neon: unknown op %d", o.k)
	}
	// A definition of a general register invalidates cached addresses built from it.
	d, _ := o.gp()
	for _, r := range d {
		l.clobber(l.g(r))
	}
}

// groupWeights loads 2 or 4 broadcast weights with one instruction: lane-0 Load1s (see
// lanePlan) of consecutive float32 at one base in one basic block become a single LDR d/q
// into vWeights (V28), and the FMAs they feed use its lanes 1..3 too (FMLA by element, lane
// r). Groups do not overlap: a group's last FMA precedes the next group's load. It rewrites
// r.ops in place (absorbed loads become oNop, their FMA operands −1) and returns the lane
// per FMA and whether any group formed (then V28 is not allocated).
func groupWeights(r *record, elem []int, scalar []bool, reach [][]int) ([]int, bool) {
	ops := r.ops
	wlane := make([]int, len(ops))
	block := make([]int, len(ops))
	b := 0
	for i, o := range ops {
		if o.k == oBind && i > 0 {
			b++
		}
		block[i] = b
		switch o.k {
		case oJmp, oBr, oBrImm, oBrBits, oRet:
			b++
		}
	}
	cand := func(i int) bool {
		o := &ops[i]
		return o.k == oLoad1 && scalar[i] && o.mem.Index < 0 && len(reach[i]) > 0
	}
	defines := func(i int, g vm.Reg) bool {
		d, _ := ops[i].gp()
		for _, x := range d {
			if x == g {
				return true
			}
		}
		return false
	}
	grouped := false
	busy := -1 // last FMA of the current group
	for i := range ops {
		if i <= busy || !cand(i) {
			continue
		}
		base, d0 := ops[i].mem.Base, ops[i].mem.Disp
		members := []int{i}
		for j := i + 1; j < len(ops) && block[j] == block[i] && len(members) < 4; j++ {
			if defines(j, base) {
				break
			}
			if cand(j) && ops[j].mem.Base == base && ops[j].mem.Disp == d0+4*len(members) {
				members = append(members, j)
			}
		}
		n := len(members)
		if n == 3 {
			n = 2
		}
		if n < 2 {
			continue
		}
		members = members[:n]
		// Every FMA fed by a member is in this block, after the leader; no member's
		// vector is read elsewhere (lanePlan: scalar loads feed only lane operands).
		last, ok := i, true
		for _, m := range members {
			for _, k := range reach[m] {
				if block[k] != block[i] || k < m {
					ok = false
				}
				last = max(last, k)
			}
		}
		if !ok {
			continue
		}
		for r, m := range members {
			for _, k := range reach[m] {
				ops[k].v[elem[k]] = -1
				wlane[k] = r
			}
			if r > 0 {
				ops[m] = op{k: oNop}
			}
		}
		ops[i] = op{k: oLoadW, mem: ops[i].mem, n: n}
		busy, grouped = last, true
	}
	return wlane, grouped
}

// planFolds folds pointer increments into post-indexed loads: for "AddImm(p, v)" (|v| ≤ 255)
// whose basic block, since p was last defined, first uses p as the base of a load at
// displacement 0 (an integer load, a lane-0 Load1 or a LoadV), that load becomes
// post-indexed by v and the AddImm disappears; the uses of p in between (memory bases only)
// get their displacement reduced by v (an unscaled LDUR/STUR where negative). So "load
// vals[0], vals[1]; vals += 8" is "LDR s, [x0], #8; LDUR s, [x0, #-4]": no ADD.
func (l *lower) planFolds() {
	ops := l.r.ops
	l.post = make([]int, len(ops))
	l.skip = make([]bool, len(ops))
	l.adj = make([]int, len(ops))
	for i := range ops {
		o := &ops[i]
		if o.k != oAddImm || o.imm == 0 || o.imm < -256 || o.imm > 255 {
			continue
		}
		if i+1 < len(ops) && ops[i+1].k == oBrImm && ops[i+1].r[0] == o.r[0] && ops[i+1].imm == 0 {
			continue // a loop counter: fuseCount makes it ADDS/SUBS
		}
		p := o.r[0]
		var uses []int // ops using p since its definition, latest first
		ok := true
	scan:
		for k := i - 1; k >= 0; k-- {
			q := &ops[k]
			switch q.k {
			case oBind, oJmp, oBr, oBrImm, oBrBits, oRet:
				break scan
			}
			d, u := q.gp()
			for _, r := range d {
				if r == p {
					break scan
				}
			}
			n := 0
			for _, r := range u {
				if r == p {
					n++
				}
			}
			if n == 0 {
				continue
			}
			if n != 1 || !memOp(q.k) || q.mem.Base != p || l.post[k] != 0 || l.adj[k] != 0 {
				ok = false
				break
			}
			uses = append(uses, k)
		}
		if !ok || len(uses) == 0 {
			continue
		}
		j := uses[len(uses)-1]
		if !l.postable(j) {
			continue
		}
		l.post[j] = int(o.imm)
		l.skip[i] = true
		for _, k := range uses[:len(uses)-1] {
			l.adj[k] = -int(o.imm)
		}
	}
}

// memOp reports whether an operation's only use of a register can be its memory base.
func memOp(k opKind) bool {
	switch k {
	case oLea, oLoad, oStore, oLoad1, oLoadV, oStoreV, oFMAMem, oFMABcast, oVAddMem,
		oLoadVMask, oStoreVMask, oLoadIdx, oLoadWiden, oLoadWidenMask, oLoad1Widen, oStoreLane0, oLoadW:
		return true
	}
	return false
}

// postable reports whether op j can take a post-index: a load at displacement 0.
func (l *lower) postable(j int) bool {
	o := &l.r.ops[j]
	if o.mem.Index >= 0 || o.mem.Disp != 0 {
		return false
	}
	switch o.k {
	case oLoad:
		return l.g(o.r[0]) != l.g(o.mem.Base)
	case oLoad1:
		return l.scalar[j]
	case oLoadV, oLoadW:
		return true
	}
	return false
}

// postLoad lowers a load planned by planFolds: post-indexed by inc.
func (l *lower) postLoad(o *op, inc int) {
	e := l.f.Emitter
	base := l.g(o.mem.Base)
	switch o.k {
	case oLoad:
		kind := map[int]LoadKind{1: LoadBU, 2: LoadHU, 4: LoadWU, 8: LoadD}[o.n]
		e.LoadPost(kind, base, inc, l.g(o.r[0]))
	case oLoad1:
		e.FMOVSLoadPost(base, inc, l.v(o.v[0]))
	case oLoadV:
		e.FMOVQLoadPost(base, inc, l.v(o.v[0]))
	case oLoadW:
		if o.n == 4 {
			e.FMOVQLoadPost(base, inc, vWeights)
		} else {
			e.FMOVDLoadPost(base, inc, vWeights)
		}
	}
	l.clobber(base) // cached addresses built on the base are stale from here
	d, _ := o.gp()
	for _, r := range d {
		l.clobber(l.g(r))
	}
}

// fuseCount lowers "AddImm(c, v); BrImm(c, cond, 0, l)" (a loop counter) as ADDS/SUBS and
// B.cond on its flags. The flags of ADDS/SUBS equal those of comparing the result with 0
// except on signed overflow (V), which a counter never reaches.
func (l *lower) fuseCount(a, b *op) bool {
	if a.k != oAddImm || b.k != oBrImm || a.r[0] != b.r[0] || b.imm != 0 || a.imm == 0 || a.imm < -4095 || a.imm > 4095 {
		return false
	}
	e := l.f.Emitter
	r := l.g(a.r[0])
	if a.imm > 0 {
		e.ADDSImm(int(a.imm), r, r)
	} else {
		e.SUBSImm(int(-a.imm), r, r)
	}
	l.clobber(r)
	l.invalidate() // the branch
	e.Bcond(condMap[b.cond], string(b.label))
	return true
}

// masked lowers LoadVMask/StoreVMask by halving passes on the lane count n (1..4) held in
// the mask's register: 4 lanes as q; else 2 lanes as d, then lane 2 when n = 3; or lane 0.
// Loads zero the lanes they do not fill (LDR d/s clear the rest of the register).
func (l *lower) masked(o *op) {
	e := l.f.Emitter
	load := o.k == oLoadVMask
	n := l.g(o.r[0])
	v := l.v(o.v[0])
	r, off := l.addr(o.mem, zeroOff, false)
	if r != regTmp {
		e.MOVD(r, regTmp)
	}
	_ = off
	small, one, done := l.label(), l.label(), l.label()
	e.TBZ(2, n, small)
	if load {
		e.FMOVQLoad(M(regTmp, 0), v)
	} else {
		e.FMOVQStore(v, M(regTmp, 0))
	}
	e.B(done)
	e.Label(small)
	e.TBZ(1, n, one)
	if load {
		e.FMOVDLoad(M(regTmp, 0), v)
	} else {
		e.FMOVDStore(v, M(regTmp, 0))
	}
	e.TBZ(0, n, done)
	e.ADDImm(8, regTmp, regTmp)
	if load {
		e.VLD1Lane(regTmp, v.S(2))
	} else {
		e.VST1Lane(v.S(2), regTmp)
	}
	e.B(done)
	e.Label(one)
	if load {
		e.FMOVSLoad(M(regTmp, 0), v)
	} else {
		e.FMOVSStore(v, M(regTmp, 0))
	}
	e.Label(done) // the paths inside join here; the address cache (R15, R17) is untouched
}

// gather lowers Gather lane by lane into V30, then moves it to dst.
func (l *lower) gather(o *op) {
	e := l.f.Emitter
	dst, idx := l.v(o.v[0]), l.v(o.v[1])
	base := l.g(o.r[0])
	sh := log2(o.n)
	masked := len(o.r) > 1
	done := l.label()
	if masked {
		e.VZero(vTmp0)
	}
	for i := 0; i < 4; i++ {
		if masked && i > 0 {
			e.CMPImm(i, l.g(o.r[1]))
			e.Bcond(LE, done)
		}
		e.VMOVFromLane(idx.S(i), regTmp)
		e.ADDShift(regTmp, sh, base, regTmp)
		e.VLD1Lane(regTmp, vTmp0.S(i))
	}
	if masked {
		e.Label(done)
	}
	e.VMOV(vTmp0.B16(), dst.B16())
}

// nmOp lowers the integer-vector operations of the N:M kernels (vm.NMMachine). V29 is
// their scratch (functions using them allocate V0–V28 only), V30–V31 hold Permute2's table.
func (l *lower) nmOp(o *op) {
	e := l.f.Emitter
	v := func(i int) VReg { return l.v(o.v[i]) }
	splat := func(c int64) { // V29 = c in every 32-bit lane
		e.MOVDConst(c, regTmp)
		e.VDUPGen(regTmp, vTmpNM.S4())
	}
	switch o.k {
	case oVShrVar: // dst = src >> sh: USHL by −sh
		e.NEG(v(2).S4(), vTmpNM.S4())
		e.USHL(vTmpNM.S4(), v(1).S4(), v(0).S4())
	case oVAndOr: // dst = dst&and | or
		d, and, or := v(0), v(1), v(2)
		if o.v[2] == o.v[0] {
			return // (d & a) | d = d
		}
		if o.v[1] != o.v[0] {
			e.VAND(and.B16(), d.B16(), d.B16())
		}
		e.VORR(or.B16(), d.B16(), d.B16())
	case oPermute2: // dst[i] = (a ‖ b)[idx[i] mod 8]: TBL on bytes 4j..4j+3 of lane j
		d, idx, a, b := v(0), v(1), v(2), v(3)
		e.VMOV(a.B16(), vTmp0.B16())
		e.VMOV(b.B16(), vTmp1.B16())
		splat(7)
		e.VAND(vTmpNM.B16(), idx.B16(), d.B16())
		e.VSHL(2, d.S4(), d.S4())
		splat(0x01010101)
		e.MULV(vTmpNM.S4(), d.S4(), d.S4())
		splat(0x03020100)
		e.VADD(vTmpNM.S4(), d.S4(), d.S4())
		e.VTBL2(d.B16(), vTmp0.B16(), vTmp1.B16(), d.B16())
	case oSelectBit: // dst = idx bit set ? b : a
		d, idx, a, b := v(0), v(1), v(2), v(3)
		splat(1 << o.n)
		e.VCMTST(vTmpNM.S4(), idx.S4(), vTmpNM.S4())
		e.VBSL(a.B16(), b.B16(), vTmpNM.B16())
		e.VMOV(vTmpNM.B16(), d.B16())
	}
}
