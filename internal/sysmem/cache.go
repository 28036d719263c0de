package sysmem

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// CPU0Caches is Linux's sysfs cache directory of CPU 0.
const CPU0Caches = "/sys/devices/system/cpu/cpu0/cache"

// CacheSizes reads the data or unified cache sizes of one CPU from its sysfs cache
// directory: element i is the largest at level i (index 0 unused), and the last element is
// the largest cache of all (0 where nothing could be read).
func CacheSizes(dir string) [5]int64 {
	var out [5]int64
	idx, _ := filepath.Glob(filepath.Join(dir, "index*"))
	for _, d := range idx {
		read := func(f string) string {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		if t := read("type"); t != "Data" && t != "Unified" {
			continue
		}
		lvl, err := strconv.Atoi(read("level"))
		if err != nil || lvl < 1 || lvl > 3 {
			continue
		}
		size := ParseCacheSize(read("size"))
		out[lvl] = max(out[lvl], size)
		out[4] = max(out[4], size)
	}
	return out
}

// ParseCacheSize reads sysfs's "48K", "1024K", "32M" (0 if malformed).
func ParseCacheSize(s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n * mult
}

// L2 is the level-2 cache of CPU 0 in bytes (sysfs), else 1 MiB (Zen 4/5's; Zen 3 and many
// Intel cores have less, the Xeons with AMX 2 MiB): the budget of code meant to stay near
// the core (baked kernels, DESIGN §5.12).
var L2 = sync.OnceValue(func() int64 {
	if l2 := CacheSizes(CPU0Caches)[2]; l2 > 0 {
		return l2
	}
	return 1 << 20
})
