package kernels

import (
	"fmt"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// ReadChains is the number of vectors (and independent add chains) per block of the read
// loop: enough to cover the add latency at two loads per cycle, and a block of 8 (AVX-512),
// 4 (AVX2) or 2 (NEON) cache lines per iteration.
const ReadChains = 8

// Read is the read-bandwidth loop: sum blocks·ReadChains vectors from p into ReadChains
// accumulators (one add per loaded vector, no other work), then store their sum (Lanes()
// floats) at out, so the loads cannot be dropped. One block is ReadChains·Lanes·4 bytes.
var Read = Family{
	File: "read",
	Gen: func(m vm.Machine) {
		name := "read" + ident(m.ISA())
		m.Func(name, fmt.Sprintf("%s sums blocks·%d vectors from p (%d bytes per block) and stores the lane sums at out.",
			name, ReadChains, ReadChains*m.Lanes()*4),
			[]vm.Param{{Name: "p", Kind: vm.PtrF32}, {Name: "blocks", Kind: vm.Int}, {Name: "out", Kind: vm.PtrF32}})
		p, n := m.Param("p"), m.Param("blocks")
		acc := make([]vm.Vec, ReadChains)
		for i := range acc {
			acc[i] = m.Vec()
			m.Zero(acc[i])
		}
		step := m.Lanes() * 4
		done := m.NewLabel("done")
		loop := m.NewLabel("loop")
		m.BrImm(n, vm.LE, 0, done)
		m.Bind(loop)
		for i := range acc {
			m.VAddMem(acc[i], vm.At(p, i*step))
		}
		m.AddImm(p, int64(ReadChains*step))
		m.AddImm(n, -1)
		m.BrImm(n, vm.GT, 0, loop)
		m.Bind(done)
		for w := ReadChains / 2; w >= 1; w /= 2 {
			for i := range w {
				m.VAdd(acc[i], acc[i+w])
			}
		}
		out := m.Param("out")
		m.StoreV(vm.At(out, 0), acc[0])
		m.Ret()
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		return fmt.Sprintf("// read%[1]sFeatures are the CPU features read%[1]s uses.\nconst read%[1]sFeatures = %[2]s\n\n"+
			"// read%[1]sBlockBytes is the bytes one block of read%[1]s reads.\nconst read%[1]sBlockBytes = %[3]d\n",
			id, features, ReadChains*4*lanesOf(isa))
	},
}

func init() { Register(Read) }
