// Package asm holds sparsegen's kernels: generated assembly (from gen/), their Go
// declarations, plan-time packing, and pure-Go generic kernels on the same packed layouts.
//
// Each kernel family registers itself (Register, in an init function of its own file) with
// its descriptor (Desc: name, symbols, description, ISA, the exact CPU features it uses,
// tile and parameters); the generated families' descriptors are generated with their
// assembly (manifest.go, DESIGN §5.8). dispatch chooses among the
// registered families; nothing outside this package needs editing when a family is added.
//
// Safety contract (DESIGN §6): Pack validates the canonical format; Kernel.Run re-checks
// its slice operands against the packed shape in O(1) before any assembly runs, so no
// kernel reads or writes outside the caller's slices.
package asm

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// ISA is an instruction set a kernel is lowered to.
type ISA uint8

const (
	Generic ISA = iota // pure Go
	AVX2               // amd64, ymm, FMA3
	AVX512             // amd64, zmm, opmask tails
	NEON               // arm64 ASIMD
)

var isaNames = [...]string{"generic", "avx2", "avx512", "neon"}

func (i ISA) String() string {
	if int(i) < len(isaNames) {
		return isaNames[i]
	}
	return fmt.Sprintf("ISA(%d)", i)
}

// ParseISA reads "generic", "avx2", "avx512" or "neon".
func ParseISA(s string) (ISA, error) {
	for i, n := range isaNames {
		if n == s {
			return ISA(i), nil
		}
	}
	return 0, fmt.Errorf("unknown ISA %q (want generic, avx2, avx512 or neon)", s)
}

// Feature is one CPU feature a kernel may use; dispatch maps each to golang.org/x/sys/cpu.
type Feature uint32

const (
	FeatAVX2 Feature = 1 << iota
	FeatFMA
	FeatAVX512F
	FeatAVX512VL
	FeatAVX512BW
	FeatAVX512DQ
	FeatASIMD
	FeatF16C // VCVTPH2PS/VCVTPS2PH on ymm (the fp16 GEMV's AVX2 kernels)
	// FeatPOPCNT: POPCNT (the bitmap SpMV's value-stream advance).
	FeatPOPCNT
)

var featNames = []string{"AVX2", "FMA", "AVX512F", "AVX512VL", "AVX512BW", "AVX512DQ", "ASIMD", "F16C", "POPCNT"}

func (f Feature) String() string {
	s := ""
	for i, n := range featNames {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "+"
			}
			s += n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Kernel is a weight matrix packed for one kernel family on one ISA, ready to run.
// Work is split in units (a row, or a block of rows); dispatch balances units across
// threads with UnitCost and may also split N. Run is safe for concurrent use on disjoint
// output rows or columns.
type Kernel interface {
	// Name is the name of the family that packed it (Desc.Name), e.g. "spmm_csr_t64_avx512".
	Name() string
	ISA() ISA
	// Shape is (M, K) of the weight.
	Shape() (m, k int)
	// Units is the number of work units; UnitRows maps a unit to its output rows [r0, r1).
	Units() int
	UnitRows(u int) (r0, r1 int)
	// UnitCost returns prefix sums of the work per unit (len Units()+1), for balancing.
	UnitCost() []int64
	// Run computes output rows of units [u0, u1), columns [0, n): Y = epi(W·X).
	// X is K×n with stride ldx, Y is M×n with stride ldy, both full-size slices.
	Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error
	// PackedBytes is the memory the packed weight holds.
	PackedBytes() int64
}

// PanelKernel is a Kernel whose Run first copies X into a panel of its own layout (the CSR
// kernels: X[:, tile] per K block, at the tile's stride). Such a kernel reads token-major X
// into that panel just as cheaply, transposing on the way (RunTokens), so token-major calls
// need no separate transpose of X. (A panel packed once per call and shared by the threads
// was tried and removed: on 2 threads it ran 1.2–2× slower than each chunk packing its own,
// every line of a shared panel crossing between cores.)
type PanelKernel interface {
	Kernel
	// RunTokens is Run with X token-major (n×K, stride ldx ≥ K), packed block by block
	// as Run packs channel-major X; Y is M×n as for Run.
	RunTokens(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error
}

// Desc describes one kernel family: what it is called, which code it runs and what it
// takes, as typed fields. The generated kernels' descriptors are generated with their
// assembly (the <file><ISA>Manifest tables in the generated .go files, from
// gen/kernels/manifest.go); the pure-Go families spell theirs where they register.
// Dispatch, the policy, records and tests read these fields and never parse a name.
type Desc struct {
	// Name is the one spelling of the family (DESIGN §5.8), e.g. "spmm_csr_t64_avx512",
	// "nm2of4_gemv_avx2": the registry key, Kernel.Name() of what it packs, and the key of
	// the policy table, calibration files and tuning records. Unique.
	Name string
	// Symbols are the generated functions the family calls (none for pure Go).
	Symbols []string
	// Source is the description that produced the code: "gen/kernels/<file>.go <func>",
	// or the Go file of a pure-Go family.
	Source   string
	Format   string  // the canonical format it packs: "dense", "csr", "bsr", "nm"
	ISA      ISA     // the ISA it is lowered to
	Features Feature // every CPU feature the code uses
	DType    string  // value type of the packed weights: "float32"
	Lanes    int     // float32 lanes per vector (0: pure Go)
	Tile     int     // columns of X per tile (GEMM NR); 0: row-oriented, or chosen per matrix
	Rows     int     // rows per work unit: GEMM MR, CSR group R, BSR height H, N:M UH; 0: per matrix
	// BlockR×BlockC is the BSR block shape the family takes; 0×0: any.
	BlockR, BlockC int
	// Keep:Group is the N:M pattern the family takes; 0:0: any.
	Keep, Group int
	IndexBits   int  // CSR SpMV column-index width: 16 or 32
	Bcast       bool // CSR SpMV without gathers
	MinN        int  // intended N range (dispatch hint); MaxN = 0 means unbounded
	MaxN        int
	// ExactN says the kernel computes exactly N columns (row-oriented dot products, as the
	// GEMV families): dispatch's cost model does not round N up to a vector width for it.
	ExactN bool
	// Bitmap: a CSR SpMV over a Lanes-bit mask per chunk of Lanes columns and the chunk's
	// values packed (spmv_bitmap_<isa>, asm/spmvbitmap.go); IndexBits is 0.
	Bitmap bool
	// Delta: a CSR SpMV over 8-bit column deltas, zero-valued padding entries bridging
	// gaps over 255 (spmv_csr_d8_<isa>, asm/spmvdelta.go); IndexBits is 8.
	Delta bool
	// Pattern is set on a kernel baked for one sparsity pattern (DESIGN §5.12): the
	// formats.PatternHash of the only matrices it takes. "" for every other kernel.
	Pattern string
	// PatternRows×PatternCols is the shape of that pattern's matrices (baked kernels only):
	// dispatch hashes a W for the pattern only when its shape is one a baked kernel takes.
	PatternRows, PatternCols int
	// CodeBytes is the machine code a baked kernel runs per tile of X (the generator's
	// estimate): code past the L2 streams like a weight, and dispatch prices it so.
	CodeBytes int64
}

// Family is one kernel family instance: its descriptor and how to pack W for it. The
// descriptor is held by pointer (its fields are promoted: f.Name, f.Tile, …) so that a
// Family stays small to copy: dispatch copies families many times per Compile.
type Family struct {
	*Desc
	// Pack builds the kernel from a validated canonical matrix, or returns an error
	// wrapping ErrNotApplicable when the family does not take this matrix.
	Pack func(w formats.Matrix) (Kernel, error)
	// Layout (optional) names the layout of the bulk of what Pack builds from w: families
	// that give the same name for the same w store the same values and structure, and
	// differ only in what Derive rebuilds. "" means no sharing.
	Layout func(w formats.Matrix) string
	// Derive (optional) builds this family's kernel from from, a kernel that a family of
	// the same Layout packed from the same matrix: the result shares from's bulk arrays
	// (read-only) and added is the memory it holds on its own. It returns an error wrapping
	// ErrNotApplicable when from does not fit.
	Derive func(from Kernel) (k Kernel, added int64, err error)
}

// ErrNotApplicable says a family does not take a given matrix (wrong format or shape).
var ErrNotApplicable = fmt.Errorf("kernel family not applicable")

var (
	regMu    sync.RWMutex
	registry = map[string]Family{}
)

// Register adds a family; it panics on a duplicate name (a programming error, at init).
// The returned func removes it again, for a test that adds a family for its own run.
func Register(f Family) (unregister func()) {
	if f.Desc == nil {
		panic("asm: kernel family without a descriptor")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[f.Name]; dup {
		panic("asm: duplicate kernel family " + f.Name)
	}
	registry[f.Name] = f
	return func() {
		regMu.Lock()
		defer regMu.Unlock()
		delete(registry, f.Name)
	}
}

// Families returns every registered family, sorted by name.
func Families() []Family {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Family, 0, len(registry))
	for _, f := range registry {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds a family by name.
func Lookup(name string) (Family, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[name]
	return f, ok
}

// CheckRun validates Run's arguments against an M×K kernel with the given number of units.
func CheckRun(k Kernel, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if u0 < 0 || u1 < u0 || u1 > k.Units() {
		return fmt.Errorf("%w: units [%d, %d) outside [0, %d)", ref.ErrShape, u0, u1, k.Units())
	}
	m, kk := k.Shape()
	if err := epi.Check(m); err != nil {
		return err
	}
	return ref.CheckOperands(m, kk, n, x, ldx, y, ldy)
}

// epiArgs is an epilogue as the generated kernels take it: start from Y (loadY), add the
// bias, clamp to [lo, hi] (ReLU is [0, +Inf); the MAXPS/MINPS order keeps NaN), and post,
// GELU or SiLU, which the Go driver applies to the finished tile.
type epiArgs struct {
	loadY, bias, clamp bool
	lo, hi             float32
	post               ref.Activation
}

// activateTile applies act, the epilogue's GELU or SiLU (epiArgs.post), to rows [r0, r1),
// columns [c0, c1) of y (stride ldy), right after the call that wrote their final values:
// every driver of a generated kernel finishes a tile with it. ActNone does nothing.
func activateTile(act ref.Activation, y []float32, ldy, r0, r1, c0, c1 int) {
	if act == ref.ActNone {
		return
	}
	for r := r0; r < r1; r++ {
		row := y[r*ldy+c0 : r*ldy+c1]
		for j, v := range row {
			row[j] = ref.Activate(act, v, 0, 0)
		}
	}
}

func lowerEpilogue(epi *ref.Epilogue) (a epiArgs) {
	if epi == nil {
		return a
	}
	a.loadY, a.bias = epi.Accumulate, epi.Bias != nil
	switch epi.Act {
	case ref.ActReLU:
		a.clamp, a.lo, a.hi = true, 0, float32(math.Inf(1))
	case ref.ActClamp:
		a.clamp, a.lo, a.hi = true, epi.Lo, epi.Hi
	case ref.ActGELU, ref.ActSiLU:
		a.post = epi.Act
	}
	return a
}
