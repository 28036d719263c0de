// Package bench is sparsegen's benchmark harness: the shape corpus of DESIGN §9, weight
// patterns, the timing protocol (warm-up, repetitions, median), hot and cold (W streamed
// from memory) runs, and reports as tables, CSV and plots. `sparsegen bench` and the Go
// benchmarks in this package both use it.
package bench

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
)

// Shape is one layer shape: W is M×K, X is K×N.
type Shape struct {
	Name    string
	M, K, N int
}

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.M, s.K, s.N) }

// MaxDim bounds every dimension a benchmark or tuning run takes from the command line (M,
// K and N); the memory a configuration needs is checked too (Run).
const MaxDim = 1 << 20

// ParseN reads one N: an integer in 1…MaxDim.
func ParseN(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > MaxDim {
		return 0, fmt.Errorf("N = %q is not an integer in 1…%d", s, MaxDim)
	}
	return v, nil
}

// ParseShape reads "MxKxN" (an optional "name=" prefix names it).
func ParseShape(s string) (Shape, error) {
	name := ""
	if i := strings.IndexByte(s, '='); i >= 0 {
		name, s = s[:i], s[i+1:]
	}
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) != 3 {
		return Shape{}, fmt.Errorf("shape %q: want MxKxN, e.g. 768x768x128", s)
	}
	var d [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 || v > MaxDim {
			return Shape{}, fmt.Errorf("shape %q: %q is not a dimension in 1…%d", s, p, MaxDim)
		}
		d[i] = v
	}
	if int64(d[0])*int64(d[1]) > 1<<30 {
		return Shape{}, fmt.Errorf("shape %q: W of %d×%d is over 2³⁰ weights", s, d[0], d[1])
	}
	sh := Shape{Name: name, M: d[0], K: d[1], N: d[2]}
	if sh.Name == "" {
		sh.Name = sh.String()
	}
	return sh, nil
}

// Corpus is DESIGN §9's shape list.
var Corpus = []Shape{
	{"bert-qkv", 768, 768, 128},
	{"bert-ffn1", 3072, 768, 128},
	{"bert-ffn2", 768, 3072, 128},
	{"resnet-conv2", 256, 64, 3136},
	{"resnet-conv5", 2048, 512, 49},
	{"mlp-prefill", 11008, 4096, 16},
	{"mlp-decode", 11008, 4096, 1},
}

// PatternKind names how a weight is pruned.
type PatternKind string

const (
	Dense        PatternKind = "dense"
	Unstructured PatternKind = "unstructured"
	NM           PatternKind = "nm"
	Block        PatternKind = "block"
	// Model is a model's own weights (Config.Weights), used as given.
	Model PatternKind = "model"
)

// Pattern is a pruning pattern: dense, unstructured at a sparsity, N:M, or R×C blocks at a
// sparsity.
type Pattern struct {
	Kind        PatternKind
	Sparsity    float64 // fraction of zeros for unstructured and block
	Keep, Group int     // N:M
	R, C        int     // block
	// Structure is, for Model, the structure measured in the weights: "unstructured",
	// "dense", "nmK:G" or "bsrRxC" (dispatch.PatternOf), followed by ":bf16", ":f16" or
	// ":i8" for weights stored in that dtype.
	Structure string
	// DType stores W in bf16, fp16 or int8 (formats.DenseLP, CSRLP, NMLP or BSRLP, converted
	// from the float32 weights with DenseLPFromDense or, after pruning, CSRLPFromCSR,
	// NMLPFromNM or BSRLPFromBSR); 0 is float32.
	DType formats.DType
}

// String is the flag syntax: "dense", "unstructured:0.9", "nm:2:4", "block:4x4:0.9"; a
// model's weights read "model:" and their measured structure ("model:unstructured").
func (p Pattern) String() string {
	switch p.Kind {
	case Unstructured:
		if p.DType != 0 {
			return fmt.Sprintf("unstructured:%g:%s", p.Sparsity, p.DType)
		}
		return fmt.Sprintf("unstructured:%g", p.Sparsity)
	case NM:
		if p.DType != 0 {
			return fmt.Sprintf("nm:%d:%d:%s", p.Keep, p.Group, p.DType)
		}
		return fmt.Sprintf("nm:%d:%d", p.Keep, p.Group)
	case Block:
		if p.DType != 0 {
			return fmt.Sprintf("block:%dx%d:%g:%s", p.R, p.C, p.Sparsity, p.DType)
		}
		return fmt.Sprintf("block:%dx%d:%g", p.R, p.C, p.Sparsity)
	case Model:
		if p.Structure == "" {
			return "model"
		}
		return "model:" + p.Structure
	}
	if p.DType != 0 {
		return "dense:" + p.DType.String()
	}
	return "dense"
}

// NominalSparsity is the fraction of zeros the pattern aims at.
func (p Pattern) NominalSparsity() float64 {
	switch p.Kind {
	case NM:
		return 1 - float64(p.Keep)/float64(p.Group)
	case Unstructured, Block:
		return p.Sparsity
	}
	return 0
}

// ParsePattern reads the flag syntax of Pattern.String.
func ParsePattern(s string) (Pattern, error) {
	f := strings.Split(strings.ToLower(strings.TrimSpace(s)), ":")
	bad := func(why string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("pattern %q: %s (want dense, unstructured:S, nm:N:M or block:RxC:S, with 0 ≤ S < 1)", s, why)
	}
	sparsity := func(v string) (float64, error) {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x >= 0 && x < 1) {
			return 0, fmt.Errorf("sparsity %q not in [0, 1)", v)
		}
		return x, nil
	}
	switch PatternKind(f[0]) {
	case Dense:
		switch {
		case len(f) == 2 && f[1] == "f32":
			return Pattern{Kind: Dense}, nil
		case len(f) == 2:
			t, err := formats.ParseDType(f[1])
			if err != nil {
				return bad("dense takes an optional dtype: f32, bf16, f16 or i8")
			}
			return Pattern{Kind: Dense, DType: t}, nil
		case len(f) != 1:
			return bad("dense takes no parameters but an optional dtype (dense:bf16)")
		}
		return Pattern{Kind: Dense}, nil
	case Unstructured:
		if len(f) != 2 && len(f) != 3 {
			return bad("unstructured takes a sparsity and an optional dtype (unstructured:0.9:bf16)")
		}
		x, err := sparsity(f[1])
		if err != nil {
			return bad(err.Error())
		}
		p := Pattern{Kind: Unstructured, Sparsity: x}
		if len(f) == 3 && f[2] != "f32" {
			if p.DType, err = formats.ParseDType(f[2]); err != nil {
				return bad("the dtype is f32, bf16, f16 or i8")
			}
		}
		return p, nil
	case NM:
		if len(f) != 3 && len(f) != 4 {
			return bad("nm takes N, M and an optional dtype (nm:2:4:bf16)")
		}
		n, err1 := strconv.Atoi(f[1])
		m, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || n < 1 || n > m || m > 16 {
			return bad("needs 1 ≤ N ≤ M ≤ 16")
		}
		p := Pattern{Kind: NM, Keep: n, Group: m}
		if len(f) == 4 && f[3] != "f32" {
			var err error
			if p.DType, err = formats.ParseDType(f[3]); err != nil {
				return bad("the dtype is f32, bf16, f16 or i8")
			}
		}
		return p, nil
	case Block:
		if len(f) != 3 && len(f) != 4 {
			return bad("block takes RxC, a sparsity and an optional dtype (block:4x4:0.9:bf16)")
		}
		rc := strings.Split(f[1], "x")
		if len(rc) != 2 {
			return bad("block size must be RxC")
		}
		r, err1 := strconv.Atoi(rc[0])
		c, err2 := strconv.Atoi(rc[1])
		if err1 != nil || err2 != nil || r < 1 || c < 1 || r > 64 || c > 64 {
			return bad("block dimensions must be in 1…64")
		}
		x, err := sparsity(f[2])
		if err != nil {
			return bad(err.Error())
		}
		p := Pattern{Kind: Block, R: r, C: c, Sparsity: x}
		if len(f) == 4 && f[3] != "f32" {
			if p.DType, err = formats.ParseDType(f[3]); err != nil {
				return bad("the dtype is f32, bf16, f16 or i8")
			}
		}
		return p, nil
	}
	return bad("unknown kind " + strconv.Quote(f[0]))
}

// ParseList splits a comma-separated flag value and parses each item.
func ParseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		v, err := parse(item)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list %q", s)
	}
	return out, nil
}

// DefaultPatterns is the pattern set of DESIGN §9.
func DefaultPatterns() []Pattern {
	ps := []Pattern{{Kind: Dense}}
	for _, s := range []float64{0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98} {
		ps = append(ps, Pattern{Kind: Unstructured, Sparsity: s})
	}
	ps = append(ps, Pattern{Kind: NM, Keep: 2, Group: 4}, Pattern{Kind: NM, Keep: 1, Group: 4}, Pattern{Kind: NM, Keep: 2, Group: 8})
	for _, s := range []float64{0.8, 0.9} {
		ps = append(ps, Pattern{Kind: Block, R: 4, C: 1, Sparsity: s}, Pattern{Kind: Block, R: 4, C: 4, Sparsity: s})
	}
	return ps
}

// Extra is a pattern run only on the shapes of one N (Config.Extras).
type Extra struct {
	Pattern Pattern
	N       int
}

// DefaultExtras adds to the default suite dense weights stored in bf16 (formats.DenseLP, 2
// bytes per weight) at N = 1 and N = 16, the two N where the low-precision GEMV is meant to
// run (decode and small batches; DESIGN §5.10).
func DefaultExtras() []Extra {
	bf16 := Pattern{Kind: Dense, DType: formats.BF16}
	return []Extra{{bf16, 1}, {bf16, 16}}
}
