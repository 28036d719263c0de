package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/internal/timing"
)

// Protocol and DefaultProtocol are the shared timing protocol (internal/timing).
type Protocol = timing.Protocol

// DefaultProtocol fits the default suite in a few minutes on two cores.
var DefaultProtocol = timing.DefaultProtocol

// TimeInterleaved times candidates interleaved (see internal/timing).
var TimeInterleaved = timing.TimeInterleaved

// L3Bytes reads the last-level cache size of CPU 0 from sysfs, or returns 32 MiB.
func L3Bytes() int64 {
	const fallback = 32 << 20
	best := int64(0)
	for i := 0; i < 8; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu0/cache/index%d/size", i))
		if err != nil {
			break
		}
		s := strings.TrimSpace(string(b))
		mul := int64(1)
		switch {
		case strings.HasSuffix(s, "K"):
			mul, s = 1<<10, strings.TrimSuffix(s, "K")
		case strings.HasSuffix(s, "M"):
			mul, s = 1<<20, strings.TrimSuffix(s, "M")
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err == nil && v*mul > best {
			best = v * mul
		}
	}
	if best == 0 {
		return fallback
	}
	return best
}
