// Package sysmem tells how much memory this machine has, to size defaults and refuse
// requests that cannot fit (an allocation larger than memory kills a Go program with a
// fatal "out of memory" that no recover can catch, so it must be refused before it is made).
package sysmem

import (
	"fmt"
	"sync"
)

// fallback is assumed when the platform does not say (16 GiB).
const fallback = 16 << 30

// Total is the memory available to this process in bytes: physical memory, or a smaller
// cgroup limit where one is set (Linux), or 16 GiB where neither can be read.
var Total = sync.OnceValue(func() int64 {
	if b := total(); b > 0 {
		return b
	}
	return fallback
})

// Fits reports whether bytes (≥ 0) can be allocated at all: at most Total.
func Fits(bytes int64) bool { return bytes >= 0 && bytes <= Total() }

// CheckOperands returns an error when one M×K weight with a K×N X and an M×N Y (float32,
// plus a dense copy of W, as benchmarks and tuning hold them) would need more than half of
// Total: such a run is refused up front with a clear message instead of being stopped by
// the runtime mid-way.
func CheckOperands(m, k, n int) error {
	if m < 0 || k < 0 || n < 0 {
		return fmt.Errorf("negative shape %d×%d, N = %d", m, k, n)
	}
	elems := float64(m)*float64(k) + float64(k)*float64(n) + float64(m)*float64(n)
	if need, have := 4*elems, float64(Total())/2; need > have {
		return fmt.Errorf("%d×%d with N = %d needs %.1f GiB for W, X and Y, over half of this machine's %.1f GiB: use a smaller N",
			m, k, n, need/(1<<30), float64(Total())/(1<<30))
	}
	return nil
}
