package bench

import (
	"github.com/sparsegen/sparsegen/internal/sysmem"
	"github.com/sparsegen/sparsegen/internal/timing"
)

// Protocol and DefaultProtocol are the shared timing protocol (internal/timing).
type Protocol = timing.Protocol

// DefaultProtocol fits the default suite in a few minutes on two cores.
var DefaultProtocol = timing.DefaultProtocol

// TimeInterleaved times candidates interleaved (see internal/timing).
var TimeInterleaved = timing.TimeInterleaved

// L3Bytes is the largest cache of CPU 0 (sysfs), or 32 MiB where unknown.
func L3Bytes() int64 {
	if c := sysmem.CacheSizes(sysmem.CPU0Caches)[4]; c > 0 {
		return c
	}
	return 32 << 20
}
