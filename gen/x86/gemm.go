package x86

import "github.com/sparsegen/sparsegen/gen/vm"

// FMABcast is acc += a·broadcast(float32 at mm): on AVX-512 one FMA with an embedded
// broadcast memory operand ({1to16}), which saves the separate broadcast µop that limits
// tiles with many rows; on AVX2 a broadcast into a scratch register and an FMA. The dense
// GEMM family (gen/kernels/gemm.go) uses it through an optional interface, so vm.Machine
// is unchanged and other backends fall back to Load1 + FMA.
func (m *Machine) FMABcast(acc, a vm.Vec, mm vm.Mem) {
	if m.level == AVX512 {
		m.Ctx.VFMADD231PS_BCST(m.mem(mm), m.v(a), m.v(acc))
		return
	}
	s := m.Ctx.YMM()
	m.Ctx.VBROADCASTSS(m.mem(mm), s)
	m.Ctx.VFMADD231PS(s, m.v(a), m.v(acc))
}

// Prefetch hints the cache line at mm into all cache levels (PREFETCHT0); it never faults.
// The dense GEMM family uses it through kernels.Prefetcher.
func (m *Machine) Prefetch(mm vm.Mem) { m.Ctx.PREFETCHT0(m.mem(mm)) }

// PrefetchNTA hints the cache line at mm non-temporally (PREFETCHNTA); it never faults.
// The GEMV family uses it through kernels.PrefetcherNTA.
func (m *Machine) PrefetchNTA(mm vm.Mem) { m.Ctx.PREFETCHNTA(m.mem(mm)) }
