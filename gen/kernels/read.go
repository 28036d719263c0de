package kernels

import (
	"fmt"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// ReadChains is the number of vectors (and independent add chains) per block of the read
// loop: enough to cover the add latency at two loads per cycle, and 8 (AVX-512), 4 (AVX2)
// or 2 (NEON) cache lines per block.
const ReadChains = 8

// ReadStreams is the number of address streams the read loop interleaves, each
// ReadChains/ReadStreams vectors per block. Zen 5, one core, 256 MiB from DRAM, best of 25
// interleaved passes, two runs: AVX-512 1 stream 27.6 and 28.0 GB/s, 2 streams 36.4 and
// 34.4, 4 streams 37.5 and 41.9, 8 streams 37.3 and 32.9 (medians 19.1/16.8, 23.3/22.7,
// 23.7/23.3, 23.5/21.3 on a loaded machine); the dense GEMV, four rows at once, had beaten
// the single stream. Several streams keep more misses in flight than one prefetched stream.
const ReadStreams = 4

// Read is the read-bandwidth loop: ReadStreams streams stride bytes apart, blocks blocks of
// ReadChains vectors in all (each stream advances ReadChains/ReadStreams vectors per block),
// every vector added into its own accumulator from memory (no other work); the lane sums of
// all accumulators are stored at out (Lanes() floats), so no load can be dropped.
var Read = Family{
	File: "read",
	Gen: func(m vm.Machine) {
		name := "read" + ident(m.ISA())
		per := ReadChains / ReadStreams
		m.Func(name, fmt.Sprintf("%s sums blocks·%d vectors, %d from each of %d streams stride bytes apart per block, and stores the lane sums at out.",
			name, ReadChains, per, ReadStreams),
			[]vm.Param{{Name: "p", Kind: vm.PtrF32}, {Name: "stride", Kind: vm.Int}, {Name: "blocks", Kind: vm.Int}, {Name: "out", Kind: vm.PtrF32}})
		ps := []vm.Reg{m.Param("p")}
		st := m.Param("stride")
		for s := 1; s < ReadStreams; s++ {
			r := m.GP()
			m.Mov(r, ps[s-1])
			m.Add(r, st)
			ps = append(ps, r)
		}
		n := m.Param("blocks")
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
		for j := range per {
			for s := range ReadStreams {
				m.VAddMem(acc[s*per+j], vm.At(ps[s], j*step))
			}
		}
		for s := range ReadStreams {
			m.AddImm(ps[s], int64(per*step))
		}
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
			"// read%[1]sBlockBytes is the bytes one block of read%[1]s reads (all streams).\nconst read%[1]sBlockBytes = %[3]d\n\n"+
			"// read%[1]sStreams is the number of streams read%[1]s reads.\nconst read%[1]sStreams = %[4]d\n",
			id, features, ReadChains*4*lanesOf(isa), ReadStreams)
	},
}

func init() { Register(Read) }
