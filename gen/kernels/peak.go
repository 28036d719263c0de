package kernels

import (
	"fmt"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// PeakChains is the number of independent FMA accumulators of the peak loop: more than
// latency (4) × pipes (2), so the loop is bound by FMA throughput alone.
const PeakChains = 12

// Peak is the FMA-throughput loop: PeakChains independent accumulators, no memory
// operands. One iteration is PeakChains·Lanes·2 flops.
var Peak = Family{
	File: "peak",
	Gen: func(m vm.Machine) {
		name := "peak" + ident(m.ISA())
		m.Func(name, fmt.Sprintf("%s runs iters iterations of %d independent %d-lane FMAs.", name, PeakChains, m.Lanes()),
			[]vm.Param{{Name: "iters", Kind: vm.Int}})
		n := m.Param("iters")
		a, b := m.Vec(), m.Vec()
		m.Zero(a)
		m.Zero(b)
		acc := make([]vm.Vec, PeakChains)
		for i := range acc {
			acc[i] = m.Vec()
			m.Zero(acc[i])
		}
		done := m.NewLabel("done")
		loop := m.NewLabel("loop")
		m.BrImm(n, vm.LE, 0, done)
		m.Bind(loop)
		for i := range acc {
			m.FMA(acc[i], a, b)
		}
		m.AddImm(n, -1)
		m.BrImm(n, vm.GT, 0, loop)
		m.Bind(done)
		m.Ret()
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		return fmt.Sprintf("// peak%[1]sFeatures are the CPU features peak%[1]s uses.\nconst peak%[1]sFeatures = %[2]s\n\n"+
			"// peak%[1]sFlopsPerIter is the work of one iteration of peak%[1]s.\nconst peak%[1]sFlopsPerIter = %[3]d\n",
			id, features, PeakChains*2*lanesOf(isa))
	},
}

func lanesOf(isa string) int {
	switch isa {
	case "avx512":
		return 16
	case "avx2":
		return 8
	case "neon":
		return 4
	}
	panic("unknown ISA " + isa)
}
