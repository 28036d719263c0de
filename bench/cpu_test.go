package bench

import (
	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
)

// cpuHas reports whether this CPU has (and enables) every feature in f.
func cpuHas(f asm.Feature) bool { return dispatch.Host().Features&f == f }
