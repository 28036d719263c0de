package dispatch

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// TestPackFallback: a family the policy prefers but whose Pack refuses W gives way, at
// first use, to the next candidate. The family it adds is removed when it ends.
func TestPackFallback(t *testing.T) {
	defer asm.Register(asm.Family{Desc: &asm.Desc{Name: "zz_refuses_csr_generic", Format: "csr", ISA: asm.Generic},
		Pack: func(formats.Matrix) (asm.Kernel, error) { return nil, asm.ErrNotApplicable }})()
	tab := append([]policyEntry(nil), policyTable...)
	for _, n := range policyPoints {
		tab = append(tab, policyEntry{Family: "zz_refuses_csr_generic", Target: "csr", N: n, PerMAC: 1e-9})
	}
	defer usePolicyTable(tab)()
	rng := rand.New(rand.NewPCG(41, 42))
	d := randDense(rng, 50, 40, 0.1)
	w, _ := formats.CSRFromDense(d)
	p, err := Compile(w, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if fam, _ := p.KernelFor(20); fam != "zz_refuses_csr_generic" {
		t.Fatalf("policy did not pick the preferred family: %s", fam)
	}
	n := 20
	x := randX(rng, 40*n)
	y := make([]float32, 50*n)
	if err := p.Mul(y, n, x, n, n); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "fallback", y, oracle(t, w, x, n, make([]float32, 50*n), n, n, nil), w, x, n, n, n)
	if fam, _ := p.KernelFor(n); fam == "zz_refuses_csr_generic" || !strings.Contains(p.Describe(), "did not take W") {
		t.Fatalf("no fallback recorded: %s\n%s", fam, p.Describe())
	}
	// Prepare at several threads takes the same fallback in every range it serves.
	p, err = Compile(w, Options{Threads: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	if fam, _ := p.KernelFor(n); fam == "zz_refuses_csr_generic" || strings.Contains(p.Describe(), "packed on first use") {
		t.Fatalf("Prepare: no fallback, or a range left unpacked: %s\n%s", fam, p.Describe())
	}
	// Forced, it has no other candidate: the first call fails cleanly.
	p, err = Compile(w, Options{Kernel: "zz_refuses_csr_generic"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Mul(y, n, x, n, n); err == nil {
		t.Fatal("forced refusing family ran")
	}
}

// TestBorrowedCoefPerCall: a family with no table entry borrows the best coefficients of its
// format and ISA at the same cost per call: an ExactN family like a vector-wide one is
// estimated what that one costs at N = 1, not 1/width of it.
func TestBorrowedCoefPerCall(t *testing.T) {
	wide := asm.Family{Desc: &asm.Desc{Name: "zz_wide_avx2", Format: "dense", ISA: asm.AVX2}}
	defer asm.Register(wide)()
	exact := asm.Family{Desc: &asm.Desc{Name: "zz_exact_avx2", Format: "dense", ISA: asm.AVX2, MaxN: 4, ExactN: true}}
	defer asm.Register(exact)()
	pol := newPolicy("test", []policyEntry{{Family: wide.Name, Target: "dense", N: 1, PerMAC: 0.01, PerOut: 0.5, PerIn: 0.25}})
	tg := target{format: "dense", stored: 100 * 200}
	ew, _ := pol.estimateNs(wide, tg, 100, 200, 1)
	ee, src := pol.estimateNs(exact, tg, 100, 200, 1)
	if ew != ee || !strings.Contains(src, "like "+wide.Name) {
		t.Fatalf("borrowed estimate %g (%s), want %g like %s", ee, src, ew, wide.Name)
	}
}
