// Package sysmem tells how much memory this machine has, to size defaults and refuse
// requests that cannot fit (an allocation larger than memory kills a Go program with a
// fatal "out of memory" that no recover can catch, so it must be refused before it is made).
package sysmem

import "sync"

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
